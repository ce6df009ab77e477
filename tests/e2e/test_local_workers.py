"""SQS workers driven like Lambda's event source mapping: batches, partial failures, redrive.

A tiny test handler is wired through the stack's own poller (`add_sqs_worker`), on a queue with a
redrive policy to its own DLQ, so these tests do not depend on what functions/stripe_sync does.
"""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

from local.resources import QueueInfo
from local.stack import LocalStack
from tests.e2e.helpers import dead_letters, poll_until


def queues(stack: LocalStack, max_receive_count: int) -> tuple[QueueInfo, QueueInfo]:
    name = f"worker-{uuid.uuid4().hex[:8]}"
    dlq = stack.create_queue(f"{name}-dlq")
    return stack.create_queue(name, dead_letter_queue=dlq, max_receive_count=max_receive_count), dlq


def send_batch(stack: LocalStack, queue: QueueInfo, bodies: list[dict[str, Any]]) -> None:
    stack.clients.sqs.send_message_batch(
        QueueUrl=queue.url,
        Entries=[
            {
                "Id": str(i),
                "MessageBody": json.dumps(body),
                "MessageAttributes": {"invoice_id": {"DataType": "String", "StringValue": body["id"]}},
            }
            for i, body in enumerate(bodies)
        ],
    )


class RecordingHandler:
    """Reports records whose body says `"bad": true` as batch item failures (or raises, if asked)."""

    def __init__(self, *, raise_on_bad: bool = False) -> None:
        self.events: list[dict[str, Any]] = []
        self.raise_on_bad = raise_on_bad
        self.lock = threading.Lock()

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.events.append(event)
        bad = [r for r in event["Records"] if json.loads(r["body"]).get("bad")]
        if bad and self.raise_on_bad:
            raise RuntimeError("boom")
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in bad]}

    def deliveries(self, body_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for e in self.events for r in e["Records"] if json.loads(r["body"])["id"] == body_id]


def test_one_bad_record_fails_alone_and_is_redriven_after_max_receive_count(local_stack: LocalStack) -> None:
    queue, dlq = queues(local_stack, max_receive_count=3)
    bodies = [{"id": f"good-{i}"} for i in range(3)] + [{"id": "bad", "bad": True}]
    send_batch(local_stack, queue, bodies)  # queued before the worker starts: one batch of four
    handler = RecordingHandler()
    local_stack.add_sqs_worker("test-partial", queue, handler, batch_size=10, dead_letter_queue=dlq)

    entry = poll_until(
        lambda: next((e for e in dead_letters(local_stack.url) if e["queue"] == dlq.logical_id), None),
        what="the bad record in the DLQ",
    )
    assert entry["body"] == {"id": "bad", "bad": True}
    assert entry["reason"] == (
        f"maxReceiveCount exceeded on {queue.logical_id}; last error: reported as a batch item failure"
    )
    for good in ("good-0", "good-1", "good-2"):
        assert len(handler.deliveries(good)) == 1  # deleted after success, never redelivered
    receive_counts = [r["attributes"]["ApproximateReceiveCount"] for r in handler.deliveries("bad")]
    assert receive_counts == ["1", "2", "3"]

    first = handler.events[0]
    assert len(first["Records"]) == 4
    record = first["Records"][0]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == queue.arn
    assert record["awsRegion"] == "us-east-1"
    assert {"messageId", "receiptHandle", "body", "attributes", "messageAttributes", "md5OfBody"} <= set(record)
    assert {"ApproximateReceiveCount", "SentTimestamp", "ApproximateFirstReceiveTimestamp"} <= set(record["attributes"])
    assert record["messageAttributes"]["invoice_id"]["dataType"] == "String"
    assert record["messageAttributes"]["invoice_id"]["stringValue"] == "good-0"


def test_a_handler_exception_returns_the_whole_batch_and_the_last_error_names_it(local_stack: LocalStack) -> None:
    queue, dlq = queues(local_stack, max_receive_count=2)
    send_batch(local_stack, queue, [{"id": "poison", "bad": True}])
    handler = RecordingHandler(raise_on_bad=True)
    local_stack.add_sqs_worker("test-raise", queue, handler, batch_size=10, dead_letter_queue=dlq)

    entry = poll_until(
        lambda: next((e for e in dead_letters(local_stack.url) if e["queue"] == dlq.logical_id), None),
        what="the poison message in the DLQ",
    )
    assert entry["reason"] == f"maxReceiveCount exceeded on {queue.logical_id}; last error: RuntimeError: boom"
    assert len(handler.deliveries("poison")) == 2
