"""webhook_sender: NotificationsQueue records → signed POSTs to WEBHOOK_URL (docs/webhooks.md).

Each record on its own (Powertools `BatchProcessor`): a delivered or dead-lettered record is
deleted; one whose attempt failed has had its visibility set to the next wait and is reported as
a batch item failure, so it comes back then and no earlier.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions import imports_done
from shared import bootstrap
from shared.observability import count, logger, metrics, tracer
from shared.services.webhook_sender import QueuedNotification, WebhookSenderDependencies, deliver

imports_done()

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


class RetryScheduled(Exception):
    """The attempt failed and the message's visibility is set: report it as a batch item failure."""


def first_received(record: SQSRecord) -> datetime | None:
    try:
        millis = int(record.attributes.approximate_first_receive_timestamp)
    except (TypeError, ValueError):
        return None
    return datetime.fromtimestamp(millis / 1000, UTC)


def send_record(record: SQSRecord, deps: WebhookSenderDependencies) -> None:
    message = QueuedNotification(record.body, record.receipt_handle, first_received(record))
    result = deliver(message, deps)
    notification = result.notification
    extra = {
        "notification_id": notification.id if notification else None,
        "notification_type": notification.type if notification else None,
        "status_code": result.status_code,
        "reason": result.failure,
        "receive_count": record.attributes.approximate_receive_count,
    }
    count("WebhookDeliveries", dimension=("outcome", result.outcome))
    if result.outcome == "delivered":
        logger.info("webhook delivered", extra=extra)
    elif result.outcome == "retrying":
        logger.warning("webhook attempt failed; retrying", extra={**extra, "retry_in": result.retry_in_seconds})
        raise RetryScheduled(result.failure)
    else:
        logger.error("webhook dead-lettered", extra={**extra, "field": result.field})


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, deps: WebhookSenderDependencies | None = None
) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event,
        record_handler=functools.partial(send_record, deps=deps or bootstrap.webhook_sender()),
        processor=processor,
        context=context,
    )
