"""`downbeat dlq redrive`: dead-lettered messages back to where they came from, on the local stack.

Where a message goes is read from the queue and the message itself:

- a DLQ that is some queue's redrive target (StripeSyncDLQ for the Stripe queue): the message body
  and attributes go back to that queue;
- a Lambda on-failure record (`requestContext` + `requestPayload`, what the router's on-failure
  destination writes): its `requestPayload`, an EventBridge event, goes back on the bus;
- an EventBridge event as such (the router's own rejections, the bus rule's dead letters): back on
  the bus.

A message is sent again first and deleted from its DLQ only then, so a crash in between leaves a
copy in both places, never in neither — safe, because the router and the workers are idempotent on
invoice id and version. A message whose origin cannot be told stays where it is and is reported.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from local.resources import QueueInfo

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient
    from mypy_boto3_sqs.type_defs import MessageAttributeValueTypeDef, MessageTypeDef

BUS = "event bus"
VISIBILITY_SECONDS = 60


class RedriveError(LookupError):
    """The request names no DLQ of the stack, or an id no message has (the command exits 2)."""


class RedriveSource(Protocol):
    def dead_letter_queues(self) -> dict[str, QueueInfo]: ...
    def redrive_sources(self) -> dict[str, QueueInfo]:
        """DLQ logical id → the queue whose redrive policy targets it."""
        ...


@dataclass(frozen=True)
class Destination:
    queue: QueueInfo | None  # the source queue, or None: the bus
    body: str  # what is sent: the message body, or the event as JSON
    attributes: Mapping[str, MessageAttributeValueTypeDef]

    @property
    def to(self) -> str:
        return BUS if self.queue is None else self.queue.logical_id


def destination(message: MessageTypeDef, source_queue: QueueInfo | None) -> Destination | str:
    """Where `message` goes back to, or why it cannot be told."""
    if source_queue is not None:
        return Destination(source_queue, message["Body"], _attributes(message))
    try:
        body = json.loads(message["Body"])
    except ValueError:
        return "its body is not JSON: neither an event nor an on-failure record"
    if isinstance(body, dict) and isinstance(body.get("requestContext"), dict) and "requestPayload" in body:
        body = body["requestPayload"]
    if isinstance(body, dict) and "detail-type" in body and "source" in body:
        return Destination(None, json.dumps(body), {})
    return "it is neither an EventBridge event nor a Lambda on-failure record holding one"


def redrive(
    stack: RedriveSource,
    sqs: SQSClient,
    put_event: Callable[[Any], object],
    queue: str,
    *,
    message_id: str | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Move `queue`'s messages (or the one with `message_id`) back; the lines `dlq redrive` prints."""
    queues = stack.dead_letter_queues()
    if queue not in queues:
        raise RedriveError(f"no dead-letter queue {queue[:80]!r} in this stack; there are: {', '.join(sorted(queues))}")
    url, source = queues[queue].url, stack.redrive_sources().get(queue)
    moved: list[dict[str, str]] = []
    kept: list[dict[str, str]] = []
    handles: list[str] = []  # received and not moved: made visible again at the end
    try:
        for message in _receive_all(sqs, url):
            if message_id is not None and message["MessageId"] != message_id:
                handles.append(message["ReceiptHandle"])
                continue
            target = destination(message, source)
            if isinstance(target, str):
                kept.append({"queue": queue, "message_id": message["MessageId"], "kept": target})
                handles.append(message["ReceiptHandle"])
                continue
            line = {"queue": queue, "message_id": message["MessageId"], "to": target.to}
            if dry_run:
                handles.append(message["ReceiptHandle"])
            else:
                if target.queue is None:
                    put_event(json.loads(target.body))
                else:
                    sqs.send_message(
                        QueueUrl=target.queue.url, MessageBody=target.body, MessageAttributes=dict(target.attributes)
                    )
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            moved.append(line)
    finally:
        for start in range(0, len(handles), 10):
            chunk = handles[start : start + 10]
            sqs.change_message_visibility_batch(
                QueueUrl=url,
                Entries=[{"Id": str(n), "ReceiptHandle": h, "VisibilityTimeout": 0} for n, h in enumerate(chunk)],
            )
    if message_id is not None and not moved and not kept:
        raise RedriveError(f"no message {message_id[:80]!r} in {queue}")
    return {"moved": moved, "kept": kept, "count": len(moved), "dry_run": dry_run}


def _attributes(message: MessageTypeDef) -> dict[str, MessageAttributeValueTypeDef]:
    """The message's attributes as a send takes them (a receive adds list fields a send refuses)."""
    attributes: dict[str, MessageAttributeValueTypeDef] = {}
    for name, value in message.get("MessageAttributes", {}).items():
        sent: MessageAttributeValueTypeDef = {"DataType": value["DataType"]}
        if "StringValue" in value:
            sent["StringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            sent["BinaryValue"] = value["BinaryValue"]
        attributes[name] = sent
    return attributes


def _receive_all(sqs: SQSClient, url: str) -> list[MessageTypeDef]:
    """Every message now in the queue, each received once (hidden until moved or released)."""
    seen: dict[str, MessageTypeDef] = {}
    while True:
        page = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=VISIBILITY_SECONDS,
            WaitTimeSeconds=0,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not page:
            return list(seen.values())
        for message in page:
            seen.setdefault(message["MessageId"], message)
