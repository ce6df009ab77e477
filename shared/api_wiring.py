"""Pieces of the API's dependencies that shared/bootstrap.py (the composition root) builds: each
made on first use, so a request that never needs one pays nothing for it at cold start."""

# ruff: noqa: PLC0415 - imports inside the functions are the point (cold start, see above)

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

import boto3

if TYPE_CHECKING:
    from shared.adapters.aws_fulfillment import AwsMarketplaceFulfillment
    from shared.ports.marketplace_listing import ResolvedAwsCustomer
    from shared.ports.queues import MessageQueue
    from shared.services.api_dependencies import MarketplaceListing


def alert_evaluation_requests(queue_url: str | None) -> Callable[[str, str], None] | None:
    """Asks the alert evaluator for one customer's evaluation (its queue's client made on first use:
    a cold start that writes no ledger never creates it). A failure to ask is logged and counted,
    never the write's: the evaluator's next scheduled run sees the change all the same."""
    if not queue_url:
        return None

    @functools.cache
    def queue() -> MessageQueue:
        from shared.adapters.sqs_queue import SqsQueue

        return SqsQueue(boto3.client("sqs"), queue_url)

    def ask(customer_id: str, write_id: str) -> None:
        from shared.domain.alert_requests import customer_evaluation
        from shared.observability import count, logger
        from shared.ports.errors import PermanentError, RetryableError

        try:
            queue().send(customer_evaluation(customer_id, write_id))
        except (RetryableError, PermanentError) as error:
            count("AlertEvaluationRequestsFailed")
            logger.warning(
                "could not ask for the customer's alert evaluation; the next scheduled run evaluates it",
                extra={"customer_id": customer_id, "write_id": write_id, "error": str(error)[:300]},
            )

    return ask


def marketplace_listing() -> MarketplaceListing:
    """The landings' settings; the ResolveCustomer client is made on the first landing, so no other
    request's cold start pays for it."""
    from shared.config import MarketplaceListingSettings
    from shared.services.api_dependencies import MarketplaceListing

    settings = MarketplaceListingSettings.from_env()
    return MarketplaceListing(
        aws=_LazyAwsFulfillment(settings.aws_marketplace_region),
        aws_region=settings.aws_marketplace_region,
        signup_url=settings.marketplace_signup_url,
    )


class _LazyAwsFulfillment:
    """The ResolveCustomer adapter, imported and built on the first landing (then kept)."""

    def __init__(self, region: str) -> None:
        self._region = region
        self._adapter: AwsMarketplaceFulfillment | None = None

    def resolve_customer(self, token: str) -> ResolvedAwsCustomer:
        if self._adapter is None:
            from shared.adapters.aws_fulfillment import AwsMarketplaceFulfillment

            self._adapter = AwsMarketplaceFulfillment(self._region)
        return self._adapter.resolve_customer(token)
