"""stripe_sync: SQS `stripe-sync` records → one Stripe invoice per downbeat invoice, exactly once.

Each record is processed on its own (Powertools `BatchProcessor`): a retryable failure becomes a
batch item failure and only that record comes back; one customer's errors never block another's.
"""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared import bootstrap
from shared.domain.stripe_state import LEASE_KIND
from shared.observability import count, logger, metrics, tracer
from shared.ports.errors import RetryableError
from shared.services.stripe_sync import sync_stripe_invoice
from shared.services.stripe_sync_dependencies import StripeSyncDependencies, StripeSyncMessage

processor = BatchProcessor(event_type=EventType.SQS)


def sync_record(record: SQSRecord, deps: StripeSyncDependencies) -> None:
    message = StripeSyncMessage.model_validate_json(record.body)
    logger.append_keys(invoice_id=message.invoice_id, invoice_version=message.version)
    try:
        result = sync_stripe_invoice(message, deps)
    except RetryableError as error:
        count("StripeSyncRetried", dimension=("reason", error.code or "retryable"))
        logger.warning("Stripe sync handed back to the queue", extra={"reason": str(error)})
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
