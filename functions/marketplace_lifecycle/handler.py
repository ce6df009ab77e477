"""marketplace_lifecycle: AWS Marketplace agreement and licence events (EventBridge) and the legacy
SNS subscription actions (through an SQS queue) → the buyers' subscription state.

A malformed message goes to the function's DLQ with a reason naming the field and never fails its
batch; a message for no known buyer is kept as unmatched (a metric) and never fails it either.
Store errors fail only their record (SQS) or the event (EventBridge retries, then its DLQ).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions import imports_done
from shared import bootstrap
from shared.observability import count, logger, metrics, tracer
from shared.services.marketplace_lifecycle import Handled, LifecycleDependencies, handle_event, handle_sqs_body

imports_done()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, deps: LifecycleDependencies | None = None
) -> dict[str, Any]:
    deps = deps or bootstrap.marketplace_lifecycle()
    records = event.get("Records")
    if isinstance(records, list):
        failures = []
        for record in records:
            message_id = str(record.get("messageId", "")) if isinstance(record, Mapping) else ""
            try:
                body = record.get("body") if isinstance(record, Mapping) else None
                _report(*handle_sqs_body(deps, body if isinstance(body, str) else ""), "aws_sns")
            except Exception:
                count("MarketplaceLifecycleErrors")
                logger.exception("lifecycle message failed; SQS delivers it again", extra={"message_id": message_id})
                failures.append({"itemIdentifier": message_id})
        return {"batchItemFailures": failures}
    outcome, reason = handle_event(deps, event)
    _report(outcome, reason, "aws_event")
    return {"outcome": outcome, "reason": reason}


def _report(outcome: Handled, reason: str | None, source: str) -> None:
    count("MarketplaceLifecycleMessagesHandled")
    count("MarketplaceLifecycleMessages", dimension=("outcome", outcome))
    if outcome == "malformed":
        logger.warning("lifecycle message dead-lettered", extra={"reason": reason, "source": source})
    elif outcome == "unmatched":
        count("UnmatchedMarketplaceEvents")
        logger.warning(
            "lifecycle message not attributed to a known buyer; kept as unmatched",
            extra={"source": source, "reason": reason or "no configuration or registration matches it"},
        )
    else:
        logger.info("lifecycle message handled", extra={"outcome": outcome, "source": source})
