"""stripe_sync: SQS `stripe-sync` records → one Stripe invoice per downbeat invoice, exactly once.

Each record is processed on its own (Powertools `BatchProcessor`): a retryable failure becomes a
batch item failure and only that record comes back; one customer's errors never block another's.
A batch whose every record failed is reported the same way, record by record, instead of raising
one error that strings all their tracebacks together: the tracebacks go to the log, one per
record, and the sync status and `dlq list` keep one line each.
"""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions import imports_done
from shared import bootstrap
from shared.domain.stripe_state import LEASE_KIND
from shared.domain.sync import reason_line
from shared.observability import count, logger, metrics, tracer
from shared.ports.errors import RetryableError
from shared.services.stripe_sync import sync_stripe_invoice
from shared.services.stripe_sync_dependencies import Delivery, StripeSyncDependencies, StripeSyncMessage

imports_done()

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def delivery_of(record: SQSRecord, deps: StripeSyncDependencies) -> Delivery:
    """Which receive this is (SQS counts them; the queue dead-letters after `deps.max_receives`)."""
    try:
        received = int(record.attributes.approximate_receive_count)
    except (TypeError, ValueError):
        received = 1
    return Delivery(receive_count=received, max_receives=deps.max_receives)


def sync_record(record: SQSRecord, deps: StripeSyncDependencies) -> None:
    delivery = delivery_of(record, deps)
    try:
        message = StripeSyncMessage.model_validate_json(record.body)
    except ValueError as error:  # no invoice to record a status for: the log and the DLQ say it
        logger.error(
            "Stripe sync message unreadable",
            extra={"reason": reason_line(str(error)), "receive_count": delivery.receive_count},
        )
        raise
    logger.append_keys(invoice_id=message.invoice_id, invoice_version=message.version)
    try:
        result = sync_stripe_invoice(message, deps, delivery)
    except RetryableError as error:
        count("StripeSyncRetried", dimension=("reason", error.code or "retryable"))
        _log_hand_back(error, delivery)
        raise
    except Exception as error:
        count("StripeSyncErrors", dimension=("error", type(error).__name__))
        _log_hand_back(error, delivery)
        raise
    if result.status == "failed":
        count("StripeSyncFailed", dimension=("reason", result.failure_code or "unknown"))
        logger.error("Stripe sync failed", extra={"reason": result.reason})
    elif result.status in ("synced", "draft"):
        count("StripeInvoicesSynced", dimension=("status", result.status))
        logger.info("Stripe sync done", extra={"stripe_invoice_id": result.stripe_invoice_id, "reason": result.reason})
    else:
        count("StripeSyncSettled", dimension=("status", result.status))
        logger.info("Stripe sync settled", extra={"status": result.status, "reason": result.reason})
    metrics.add_metric(name="StripeCallsPerInvoice", unit=MetricUnit.Count, value=result.total_calls)


def _log_hand_back(error: Exception, delivery: Delivery) -> None:
    """One log line per failed record, with its traceback (the status keeps the one-line reason)."""
    extra = {"reason": reason_line(str(error)), "receive_count": delivery.receive_count}
    if delivery.is_last:
        count("StripeSyncDeadLettered")
        logger.error("Stripe sync gave up; the message goes to the DLQ", extra=extra, exc_info=error)
    elif isinstance(error, RetryableError):
        logger.warning("Stripe sync handed back to the queue", extra=extra, exc_info=error)
    else:
        logger.error("Stripe sync raised; the message returns to the queue", extra=extra, exc_info=error)


def report_oldest_unsynced(deps: StripeSyncDependencies) -> None:
    oldest = deps.store.oldest_unsettled(LEASE_KIND)
    age = 0.0 if oldest is None else max(0.0, (deps.clock() - oldest).total_seconds())
    metrics.add_metric(name="OldestUnsyncedStripeInvoiceAge", unit=MetricUnit.Seconds, value=age)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, deps: StripeSyncDependencies | None = None
) -> PartialItemFailureResponse:
    dependencies = deps or bootstrap.stripe_sync()
    response = process_partial_response(
        event=event,
        record_handler=functools.partial(sync_record, deps=dependencies),
        processor=processor,
        context=context,
    )
    report_oldest_unsynced(dependencies)
    return response
