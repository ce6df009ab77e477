"""Alert webhooks through the local stack: the sender driven by the stack's SQS poller, delivering to
the stack's receiver, which verifies with the receiver example the docs publish
(docs/examples/webhook_receiver.py). The clock is moved with time-machine, never waited for."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
import time_machine

from local.stack import LocalStack, StackOptions
from local.webhook_receiver import Delivery, LocalWebhookReceiver, receiver_example
from shared.domain.webhook_delivery import SIGNATURE_HEADER
from tests.e2e.helpers import poll_until
from tests.notifications import spend_alert_body

SECRET = "whsec-local-stack-5d0c9a1e7f3b"
example = receiver_example()


class Stack:
    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        assert stack.resources is not None
        self.queue_url = stack.resources.queues["NotificationsQueue"].url
        self._finished = 0
        self._lock = threading.Lock()
        invoke = stack.invoke

        def counting(name: str, event: Any) -> Any:  # the stack's poller calls this; count the returns
            try:
                return invoke(name, event)
            finally:
                if name == "WebhookSenderFunction":
                    with self._lock:
                        self._finished += 1

        stack.invoke = counting  # type: ignore[method-assign]

    @property
    def receiver(self) -> LocalWebhookReceiver:
        assert self.stack.webhook_receiver is not None
        return self.stack.webhook_receiver

    def send(self, body: str) -> None:
        self.stack.clients.sqs.send_message(QueueUrl=self.queue_url, MessageBody=body)

    @property
    def finished(self) -> int:
        """How many webhook_sender invocations have returned."""
        with self._lock:
            return self._finished

    def wait_for_invocations(self, count: int) -> None:
        poll_until(lambda: self.finished >= count, what=f"{count} webhook_sender invocations")

    def visible(self) -> int:
        attributes = self.stack.clients.sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"])


@pytest.fixture(scope="module")
def local() -> Iterator[Stack]:
    options = StackOptions(port=0, run_schedules=False, environ={"WEBHOOK_SECRET": SECRET})
    with LocalStack(options) as stack:
        yield Stack(stack)


def deliveries_of(receiver: LocalWebhookReceiver, notification_id: str) -> list[Delivery]:
    return [d for d in receiver.seen() if json.loads(d.body)["id"] == notification_id]


def test_the_receiver_example_accepts_a_real_delivery_and_rejects_tampering_wrong_secrets_stale_dates_replays(
    local: Stack,
) -> None:
    local.send(spend_alert_body("ntf_local_good"))
    (delivery,) = poll_until(lambda: deliveries_of(local.receiver, "ntf_local_good"), what="the delivery")
    assert (delivery.status, delivery.outcome) == (200, "accepted")  # the stack's receiver runs the example

    headers = {"Date": delivery.date, SIGNATURE_HEADER: delivery.headers[SIGNATURE_HEADER.lower()]}
    verifier = example.WebhookVerifier(SECRET)
    webhook = verifier.verify(headers, delivery.body)
    assert webhook["id"] == "ntf_local_good"
    assert webhook["properties"]["current_spend"] == "104.10"
    assert verifier.verify(headers, delivery.body) is None  # the same id again: not handled twice

    tampered = delivery.body.replace(b'"104.10"', b'"904.10"')
    with pytest.raises(example.Rejected, match="bad signature"):
        example.WebhookVerifier(SECRET).verify(headers, tampered)
    with pytest.raises(example.Rejected, match="bad signature"):
        example.WebhookVerifier(SECRET[::-1]).verify(headers, delivery.body)
    sent = parsedate_to_datetime(delivery.date).timestamp()
    with pytest.raises(example.Rejected, match="Date too far"):
        example.WebhookVerifier(SECRET, clock=lambda: sent + 301).verify(headers, delivery.body)
    assert example.WebhookVerifier(SECRET, clock=lambda: sent + 299).verify(headers, delivery.body)
    with pytest.raises(example.Rejected, match="missing"):
        example.WebhookVerifier(SECRET).verify({"Date": delivery.date}, delivery.body)


@contextmanager
def queued(local: Stack, notification_id: str, failures: int, status: int) -> Iterator[tuple[str, int, Any]]:
    """A notification on the queue for a receiver failing `failures` times; (its body, the sender's
    invocations so far, the clock: ticking, to be moved on)."""
    body = spend_alert_body(notification_id)
    local.receiver.fail_next(failures, status=status)
    before = local.finished
    with time_machine.travel(datetime.now().astimezone(), tick=True) as clock:
        local.send(body)
        yield body, before, clock


def test_a_failing_receiver_gets_growing_waits_then_the_same_bytes_freshly_signed(local: Stack) -> None:
    with queued(local, "ntf_local_retry", 3, 503) as (body, before, clock):
        waits = []
        for attempt in range(1, 4):
            local.wait_for_invocations(before + attempt)
            seen = deliveries_of(local.receiver, "ntf_local_retry")
            assert len(seen) == attempt
            first = parsedate_to_datetime(seen[0].date)
            wait = int((parsedate_to_datetime(seen[-1].date) - first).total_seconds()) + 60
            waits.append(wait)
            clock.shift(wait - 3)
            assert local.visible() == 0  # still waiting: the sender's visibility, not the poller's 2 s
            clock.shift(6)
        local.wait_for_invocations(before + 4)
    seen = deliveries_of(local.receiver, "ntf_local_retry")
    assert [d.outcome for d in seen] == ["failed on purpose"] * 3 + ["accepted"]
    assert waits[0] == 60
    assert waits[0] < waits[1] < waits[2]
    assert {d.body for d in seen} == {body.encode()}  # the same bytes, so the same id
    assert len({d.date for d in seen}) == 4
    assert len({d.headers[SIGNATURE_HEADER.lower()] for d in seen}) == 4
    dates = [parsedate_to_datetime(d.date) for d in seen]
    gaps = [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(dates)]
    assert all(wait <= gap <= wait + 10 for wait, gap in zip(waits, gaps, strict=True)), (waits, gaps)


def test_a_receiver_down_for_72_hours_sends_it_to_the_dlq_with_the_reason(local: Stack) -> None:
    with queued(local, "ntf_local_dead", 2, 500) as (body, before, clock):
        local.wait_for_invocations(before + 1)
        clock.shift(72 * 3600 + 5)
        local.wait_for_invocations(before + 2)
        dead = poll_until(
            lambda: [e for e in local.stack.dead_letters() if e["queue"] == "NotificationsDLQ"], what="the DLQ entry"
        )
    ((entry,),) = (dead,)
    assert entry["reason"] == (
        "not delivered within 72 hours of the first attempt; last attempt: the endpoint answered 500"
    )
    assert entry["body"] == json.loads(body)
    assert local.visible() == 0
