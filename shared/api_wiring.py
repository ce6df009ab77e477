"""Pieces of the API's dependencies that shared/bootstrap.py (the composition root) builds: each
made on first use, so a request that never needs one pays nothing for it at cold start. The
router shares the alert evaluation requests (`invoice_alert_requests`)."""

# ruff: noqa: PLC0415 - imports inside the functions are the point (cold start, see above)

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

import boto3

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient

    from shared.adapters.aws_fulfillment import AwsMarketplaceFulfillment
    from shared.ports.marketplace_listing import ResolvedAwsCustomer
    from shared.ports.queues import MessageQueue
    from shared.ports.store import AlertCounts
    from shared.services.api_dependencies import MarketplaceListing
    from shared.services.invoice_alert_requests import InvoiceAlertRequests


def alert_evaluation_requests(
    queue_url: str | None, client: SQSClient | None = None
) -> Callable[[str, str], None] | None:
    """Asks the alert evaluator for one customer's evaluation (its queue's client, unless given, made
    on first use: a cold start that writes no ledger never creates it). A failure to ask is logged
    and counted, never the write's: the evaluator's next scheduled run sees the change all the same."""
    if not queue_url:
        return None

    @functools.cache
    def queue() -> MessageQueue:
        from shared.adapters.sqs_queue import SqsQueue

        return SqsQueue(client or boto3.client("sqs"), queue_url)

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


def invoice_alert_requests(queue_url: str | None, client: SQSClient, store: AlertCounts) -> InvoiceAlertRequests | None:
    """The router's: asks for an invoice's customer when an alert can apply to it. A count of the
    alerts for every customer that cannot be read is logged and counted, and taken as some."""
    ask = alert_evaluation_requests(queue_url, client)
    if ask is None:
        return None
    from shared.clock import utc_now
    from shared.services.invoice_alert_requests import EveryCustomerAlerts, InvoiceAlertRequests

    def every_customer_count() -> int | None:
        from shared.observability import count, logger
        from shared.ports.errors import PermanentError, RetryableError

        try:
            return store.count_alerts_for_every_customer()
        except (RetryableError, PermanentError) as error:
            count("AlertCountReadsFailed")
            logger.warning(
                "could not read how many alerts apply to every customer; asking for evaluations meanwhile",
                extra={"error": str(error)[:300]},
            )
            return None

    return InvoiceAlertRequests(ask, EveryCustomerAlerts(every_customer_count, utc_now))


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
