"""Event sources, emulated: SQS event source mappings, EventBridge → async invoke, schedules.

SQS (as Lambda's event source mapping does it): long-poll the queue for up to the template's
BatchSize messages, hand the handler the real SQS event shape, delete what succeeded, and leave
what failed for the queue to deliver again — all of the batch when the handler raises, only the
reported records with `ReportBatchItemFailures` (a malformed report fails the whole batch, as
Lambda does). SQS itself (moto) counts the receives and moves a message to the queue's DLQ on the
receive after `maxReceiveCount`. One local shortcut: a failed record would stay invisible for the
queue's VisibilityTimeout (minutes); the poller sets it to `retry_visibility_seconds` instead
(ChangeMessageVisibility), so retries and redrives take seconds locally — except for a handler
that sets its records' visibility itself (`retry_visibility_seconds=None`: the webhook sender's
backoff), whose failed records come back when the handler said, as in the cloud.

EventBridge: the function's rules target an internal SQS queue; one thread takes the events one
at a time, in arrival order, and invokes the handler as Lambda's asynchronous invocation would:
an exception is retried `MaximumRetryAttempts` times (after `async_retry_delay_seconds`, not
Lambda's minutes), then the invocation record goes to the OnFailure destination queue.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import traceback
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.domain.sync import reason_line

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

log = logging.getLogger("downbeat.local")

Invoke = Callable[[Any], Any]
ENVELOPE_KEYS = ("version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail")
ErrorRecorder = Callable[[str, str], None]  # (message id, error text)


# -- pure parts --------------------------------------------------------------------------------------


def sqs_lambda_event(messages: Sequence[MessageTypeDef], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda's SQS event source mapping passes for a batch of received messages."""
    records = []
    for message in messages:
        attributes = message.get("Attributes", {})
        message_attributes = {
            name: {
                "stringValue": value.get("StringValue"),
                "binaryValue": value.get("BinaryValue"),
                "stringListValues": list(value.get("StringListValues", [])),
                "binaryListValues": list(value.get("BinaryListValues", [])),
                "dataType": value["DataType"],
            }
            for name, value in message.get("MessageAttributes", {}).items()
        }
        for entry in message_attributes.values():
            if entry["binaryValue"] is None:
                del entry["binaryValue"]
            if entry["stringValue"] is None:
                del entry["stringValue"]
        records.append(
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": {
                    name: attributes[name]
                    for name in (
                        "ApproximateReceiveCount",
                        "SentTimestamp",
                        "SenderId",
                        "ApproximateFirstReceiveTimestamp",
                        "MessageGroupId",
                        "MessageDeduplicationId",
                        "SequenceNumber",
                    )
                    if name in attributes
                },
                "messageAttributes": message_attributes,
                "md5OfBody": message.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
        )
    return {"Records": records}


def failed_message_ids(response: Any, batch_ids: Sequence[str], report_batch_item_failures: bool) -> set[str]:
    """Which records of a batch to leave on the queue, given a successful handler's response.

    Without ReportBatchItemFailures a returned response means all succeeded. With it, an empty or
    missing `batchItemFailures` means all succeeded; an entry whose `itemIdentifier` is missing,
    empty or not in the batch makes Lambda treat the whole batch as failed.
    """
    if not report_batch_item_failures or not isinstance(response, Mapping):
        return set()
    failures = response.get("batchItemFailures")
    if not failures:
        return set()
    if not isinstance(failures, list):
        return set(batch_ids)
    failed: set[str] = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, Mapping) else None
        if not isinstance(identifier, str) or identifier not in batch_ids:
            return set(batch_ids)
        failed.add(identifier)
    return failed


def async_failure_record(
    event: Any, error: BaseException, *, function_arn: str, attempts: int, now: datetime
) -> dict[str, Any]:
    """The record Lambda sends to an asynchronous invocation's OnFailure destination."""
    return {
        "version": "1.0",
        "timestamp": now.isoformat().replace("+00:00", "Z"),
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": f"{function_arn}:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": attempts,
        },
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {
            "errorMessage": str(error),
            "errorType": type(error).__name__,
            "stackTrace": traceback.format_exception(error)[-3:],
        },
    }


_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def rate_seconds(expression: str) -> float | None:
    """`rate(3 minutes)` → 180.0; None for a cron() expression (not run on a timer locally)."""
    match = _RATE.match(expression.strip())
    if not match:
        return None
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2).rstrip("s")]


def scheduled_event(
    *, schedule_arn: str, region: str, account_id: str, now: datetime, input_text: str | None, scheduler: bool
) -> Any:
    """What a schedule hands its target: the configured Input, else a "Scheduled Event" envelope."""
    if input_text is not None:
        return json.loads(input_text)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.scheduler" if scheduler else "aws.events",
        "account": account_id,
        "time": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [schedule_arn],
        "detail": {},
    }


# -- threads -----------------------------------------------------------------------------------------


class SqsEventSourcePoller(threading.Thread):
    """One SQS event source mapping: queue → handler, with partial batch responses."""

    def __init__(
        self,
        *,
        name: str,
        sqs: SQSClient,
        queue_url: str,
        queue_arn: str,
        region: str,
        invoke: Invoke,
        batch_size: int,
        report_batch_item_failures: bool,
        retry_visibility_seconds: int | None,
        poll_wait_seconds: int,
        record_error: ErrorRecorder | None = None,
    ) -> None:
        super().__init__(name=f"sqs-poller-{name}", daemon=True)
        self._sqs, self._queue_url, self._queue_arn, self._region = sqs, queue_url, queue_arn, region
        self._invoke = invoke
        self._batch_size = max(1, min(batch_size, 10))  # one ReceiveMessage returns at most 10
        self._report = report_batch_item_failures
        self._retry_visibility = retry_visibility_seconds
        self._poll_wait = poll_wait_seconds
        self._record_error = record_error or (lambda _id, _error: None)
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.poll_once()
            except Exception:
                if self.stopping.is_set():
                    return
                log.exception("%s: polling failed; retrying", self.name)
                self.stopping.wait(1)

    def poll_once(self) -> int:
        """Receive one batch and process it; returns how many messages were received."""
        messages = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=self._batch_size,
            WaitTimeSeconds=self._poll_wait,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        batch_ids = [m["MessageId"] for m in messages]
        event = sqs_lambda_event(messages, self._queue_arn, self._region)
        try:
            response = self._invoke(event)
        except Exception as error:  # the whole batch goes back, as when a Lambda invocation fails
            # The traceback goes to the log; what `dlq list` shows later is one line.
            log.warning("%s: handler raised; the batch returns to the queue", self.name, exc_info=error)
            failed = set(batch_ids)
            for message_id in batch_ids:
                self._record_error(message_id, f"{type(error).__name__}: {reason_line(str(error))}")
        else:
            failed = failed_message_ids(response, batch_ids, self._report)
            for message_id in failed:
                self._record_error(message_id, "reported as a batch item failure")
        self._settle(messages, failed)
        return len(messages)

    def _settle(self, messages: Sequence[MessageTypeDef], failed: set[str]) -> None:
        done = [m for m in messages if m["MessageId"] not in failed]
        retry = [m for m in messages if m["MessageId"] in failed]
        if done:
            self._sqs.delete_message_batch(
                QueueUrl=self._queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        if retry and self._retry_visibility is not None:
            self._sqs.change_message_visibility_batch(
                QueueUrl=self._queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": self._retry_visibility}
                    for i, m in enumerate(retry)
                ],
            )


class EventBridgeDelivery(threading.Thread):
    """A function's EventBridge rules → its handler, one event at a time, as async invocations."""

    def __init__(
        self,
        *,
        name: str,
        sqs: SQSClient,
        queue_url: str,
        invoke: Invoke,
        function_arn: str,
        max_retries: int,
        retry_delay_seconds: float,
        poll_wait_seconds: int,
        on_failure: Callable[[dict[str, Any]], None] | None,
        account_id: str,
    ) -> None:
        super().__init__(name=f"eventbridge-{name}", daemon=True)
        self._account_id = account_id
        self._sqs, self._queue_url, self._invoke = sqs, queue_url, invoke
        self._function_arn = function_arn
        self._attempts = 1 + max_retries
        self._retry_delay = retry_delay_seconds
        self._poll_wait = poll_wait_seconds
        self._on_failure = on_failure
        self.stopping = threading.Event()
        self.delivered = 0  # events taken off the bus and finished (handled or sent to OnFailure)

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.deliver_once()
            except Exception:
                if self.stopping.is_set():
                    return
                log.exception("%s: delivery failed; retrying", self.name)
                self.stopping.wait(1)

    def deliver_once(self) -> bool:
        messages = self._sqs.receive_message(
            QueueUrl=self._queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=self._poll_wait, VisibilityTimeout=3600
        ).get("Messages", [])
        if not messages:
            return False
        message = messages[0]
        self._invoke_with_retries(self._envelope(json.loads(message["Body"])))
        self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])
        self.delivered += 1
        return True

    def _envelope(self, delivered: dict[str, Any]) -> dict[str, Any]:
        """EventBridge's envelope, in its key order: moto's SQS target drops `account`."""
        envelope = {key: delivered.get(key) for key in ENVELOPE_KEYS}
        envelope["account"] = delivered.get("account") or self._account_id
        return envelope

    def _invoke_with_retries(self, event: Any) -> None:
        for attempt in range(1, self._attempts + 1):
            try:
                self._invoke(event)
                return
            except Exception as error:
                log.warning(
                    "%s: attempt %d/%d raised %s: %s", self.name, attempt, self._attempts, type(error).__name__, error
                )
                if attempt == self._attempts:
                    if self._on_failure is None:
                        log.error("%s: event %s dropped: no OnFailure destination", self.name, event.get("id"))
                        return
                    record = async_failure_record(
                        event, error, function_arn=self._function_arn, attempts=attempt, now=datetime.now(UTC)
                    )
                    self._on_failure(record)
                    return
                self.stopping.wait(self._retry_delay)


class ScheduleRunner(threading.Thread):
    """Runs a `rate(...)` schedule at its rate (the first run one interval after start)."""

    def __init__(self, *, name: str, interval_seconds: float, run_once: Callable[[], Any]) -> None:
        super().__init__(name=f"schedule-{name}", daemon=True)
        self._interval, self._run_once = interval_seconds, run_once
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self._interval):
            try:
                self._run_once()
            except Exception:
                log.exception("%s: scheduled run failed", self.name)
