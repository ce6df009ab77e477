"""Alert webhook delivery as documented (docs/webhooks.md): the signature and `Date`, the retry
schedule computed and applied, the DLQ after 72 hours, the body untouched on every attempt."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
import time_machine
from hypothesis import given
from hypothesis import strategies as st

from shared.clock import utc_now
from shared.domain.webhook_delivery import (
    MAX_RETRY_SECONDS,
    RETRY_WINDOW,
    SIGNATURE_HEADER,
    GiveUp,
    Retry,
    UnreadableNotification,
    after_failure,
    imf_fixdate,
    read_notification,
    retry_delay,
    retry_schedule,
    signature,
)
from shared.ports.errors import RetryableError
from shared.services.webhook_sender import DeliveryResult, QueuedNotification, WebhookSenderDependencies, deliver
from tests.notifications import spend_alert_body

SECRET = "whsec-unit-0123456789abcdef"
START = datetime(2025, 11, 25, 14, 0, 0, tzinfo=UTC)


# -- the rules --------------------------------------------------------------------------------------


def test_date_is_an_imf_fixdate_in_gmt_with_whole_seconds() -> None:
    assert imf_fixdate(datetime(2025, 11, 25, 14, 0, 0, 999_999, tzinfo=UTC)) == "Tue, 25 Nov 2025 14:00:00 GMT"
    paris = datetime(2025, 3, 2, 1, 5, 9, tzinfo=UTC).astimezone()
    assert imf_fixdate(paris) == "Sun, 02 Mar 2025 01:05:09 GMT"


def test_signature_is_lowercase_hex_hmac_sha256_of_date_newline_body_keyed_with_utf8_secret() -> None:
    body = spend_alert_body().encode()
    date = "Tue, 25 Nov 2025 14:00:00 GMT"
    expected = hmac.new("clé-€".encode(), date.encode() + b"\n" + body, hashlib.sha256).hexdigest()
    assert signature("clé-€", date, body) == expected
    assert signature("clé-€", date, body) == signature("clé-€", date, body).lower()
    assert len(expected) == 64
    # A fixed vector, so the format cannot drift with the code that computes it.
    assert signature("secret", "Tue, 25 Nov 2025 14:00:00 GMT", b'{"id":"1"}') == (
        "e87e80f5cf0052eee771dd635b466e026ac0a968ba987a6df033ae8fc03b40dc"
    )
    assert signature("secret", "Tue, 25 Nov 2025 14:00:00 GMT", b'{"id":"1"}') != signature(
        "secret", "Tue, 25 Nov 2025 14:00:01 GMT", b'{"id":"1"}'
    )


def test_retry_schedule_doubles_from_60_seconds_and_is_capped_at_an_hour() -> None:
    assert retry_schedule(9) == [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]


def test_attempts_on_schedule_until_72_hours_then_the_dlq() -> None:
    now, waits = START, []
    while True:
        decision = after_failure(START, now, "the endpoint answered 503")
        if isinstance(decision, GiveUp):
            break
        waits.append(decision.delay_seconds)
        now += timedelta(seconds=decision.delay_seconds)
    assert now - START == RETRY_WINDOW  # the last attempt is made at the 72-hour mark itself
    assert waits[:7] == [60, 120, 240, 480, 960, 1920, 3600]
    assert set(waits[6:-1]) == {3600}
    assert 0 < waits[-1] <= 3600
    assert len(waits) + 1 == 78  # attempts in all: far below the queue's maxReceiveCount (200)
    assert decision.reason == (
        "not delivered within 72 hours of the first attempt; last attempt: the endpoint answered 503"
    )


@given(st.integers(min_value=0, max_value=int(RETRY_WINDOW.total_seconds()) + 10_000))
def test_a_wait_is_one_second_to_an_hour_and_never_passes_the_window(elapsed: int) -> None:
    decision = after_failure(START, START + timedelta(seconds=elapsed), "x")
    if elapsed >= RETRY_WINDOW.total_seconds():
        assert isinstance(decision, GiveUp)
        return
    assert isinstance(decision, Retry)
    assert 1 <= decision.delay_seconds <= MAX_RETRY_SECONDS
    assert elapsed + decision.delay_seconds <= RETRY_WINDOW.total_seconds()
    left = RETRY_WINDOW.total_seconds() - elapsed
    assert decision.delay_seconds == min(retry_delay(timedelta(seconds=elapsed)), left)


def test_a_late_attempt_waits_by_the_time_since_the_first_not_by_the_receive_count() -> None:
    # A receive that made no attempt (an invocation that crashed) does not make the waits grow.
    assert after_failure(START, START + timedelta(seconds=61), "x") == Retry(121)
    assert after_failure(START, START - timedelta(seconds=5), "x") == Retry(60)  # clocks a little apart


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("not json", "body"),
        ("[1]", "body"),
        ('{"type": "alerts.x", "properties": {}}', "id"),
        ('{"id": "", "type": "alerts.x", "properties": {}}', "id"),
        ('{"id": 7, "type": "alerts.x", "properties": {}}', "id"),
        ('{"id": "' + "x" * 257 + '", "type": "alerts.x", "properties": {}}', "id"),
        ('{"id": "a\\nb", "type": "alerts.x", "properties": {}}', "id"),
        ('{"id": "n1", "properties": {}}', "type"),
        ('{"id": "n1", "type": "alerts.x", "properties": []}', "properties"),
    ],
)
def test_an_unreadable_body_names_its_field(body: str, field: str) -> None:
    with pytest.raises(UnreadableNotification) as error:
        read_notification(body)
    assert error.value.field == field
    assert str(error.value).startswith(f"{field}: ")


# -- the use case, attempt after attempt -------------------------------------------------------------


@dataclass
class Receiver:
    """The customer's endpoint: answers from `answers` in turn (an exception is raised), then 200."""

    answers: list[int | Exception] = field(default_factory=list)
    seen: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)

    def post(self, body: bytes, headers: Mapping[str, str]) -> int:
        self.seen.append((body, dict(headers)))
        answer = self.answers.pop(0) if self.answers else 200
        if isinstance(answer, Exception):
            raise answer
        return answer


@dataclass
class Queue:
    visibility: list[int] = field(default_factory=list)
    dead_letters: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def retry_in(self, receipt_handle: str, seconds: int) -> None:
        assert receipt_handle == "rh-1"
        self.visibility.append(seconds)

    def dead_letter(self, body: str, attributes: Mapping[str, str]) -> None:
        self.dead_letters.append((body, dict(attributes)))


@pytest.fixture
def clock() -> Iterator[Any]:
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


def run_until_settled(
    receiver: Receiver, queue: Queue, clock: Any, body: str, max_attempts: int = 200
) -> list[DeliveryResult]:
    """Deliver as SQS would: after each failure, move the clock to when the message is visible again."""
    deps = WebhookSenderDependencies(endpoint=receiver, secret=lambda: SECRET, queue=queue, clock=utc_now)
    first = utc_now()
    results = []
    for _ in range(max_attempts):
        results.append(deliver(QueuedNotification(body, "rh-1", first), deps))
        if results[-1].outcome != "retrying":
            return results
        clock.shift(queue.visibility[-1])
    raise AssertionError("never settled")


def test_a_receiver_down_for_72_hours_gets_every_scheduled_attempt_then_the_dlq(
    clock: Any,
) -> None:
    body = spend_alert_body("ntf_down")
    receiver, queue = Receiver(answers=[503] * 500), Queue()
    results = run_until_settled(receiver, queue, clock, body)

    assert queue.visibility[:8] == [60, 120, 240, 480, 960, 1920, 3600, 3600]  # applied, not only computed
    assert [r.outcome for r in results] == ["retrying"] * 77 + ["dead_lettered"]
    assert utc_now() - START == timedelta(hours=72)
    ((dead_body, attributes),) = queue.dead_letters
    assert dead_body == body  # kept whole, byte for byte
    assert attributes == {
        "source": "webhook_sender",
        "reason": "not delivered within 72 hours of the first attempt; last attempt: the endpoint answered 503",
        "notification_id": "ntf_down",
    }
    # Every attempt: the same bytes, its own Date (when it was made) and a signature made with it.
    assert {sent for sent, _ in receiver.seen} == {body.encode()}
    dates = [headers["Date"] for _, headers in receiver.seen]
    assert len(set(dates)) == len(dates) == 78
    elapsed = [(parsedate_to_datetime(d) - START).total_seconds() for d in dates]
    assert elapsed[:5] == [0, 60, 180, 420, 900]
    for sent, headers in receiver.seen:
        assert headers["Content-Type"] == "application/json"
        assert headers[SIGNATURE_HEADER] == signature(SECRET, headers["Date"], sent)


def test_a_2xx_after_failures_ends_it(clock: Any) -> None:
    timeout = RetryableError("no answer within the timeout (ReadTimeout)", code="timeout")
    refused = RetryableError("could not reach the endpoint (ConnectionError)", code="connection")
    receiver, queue = Receiver(answers=[500, timeout, refused, 404, 302, 204]), Queue()
    results = run_until_settled(receiver, queue, clock, spend_alert_body())

    assert [r.outcome for r in results] == ["retrying"] * 5 + ["delivered"]
    assert [r.failure for r in results[:5]] == [
        "the endpoint answered 500",
        "no answer within the timeout (ReadTimeout)",
        "could not reach the endpoint (ConnectionError)",
        "the endpoint answered 404",  # a 4xx is retried too: the receiver may be misconfigured for a while
        "the endpoint answered 302",  # redirects are not followed
    ]
    assert results[-1].status_code == 204
    assert queue.visibility == [60, 120, 240, 480, 960]
    assert not queue.dead_letters
    assert len(receiver.seen) == 6


def test_an_unset_url_or_an_unreadable_secret_is_a_failed_attempt_that_says_why(
    clock: Any,
) -> None:
    queue = Queue()
    unset = WebhookSenderDependencies(endpoint=None, secret=lambda: SECRET, queue=queue, clock=utc_now)
    result = deliver(QueuedNotification(spend_alert_body(), "rh-1", START), unset)
    assert (result.outcome, result.failure, result.retry_in_seconds) == ("retrying", "WEBHOOK_URL is not set", 60)

    def unreadable() -> str:
        raise RetryableError(f"Secrets Manager said no; it holds {SECRET}")

    receiver = Receiver()
    no_secret = WebhookSenderDependencies(endpoint=receiver, secret=unreadable, queue=queue, clock=utc_now)
    result = deliver(QueuedNotification(spend_alert_body(), "rh-1", START), no_secret)
    assert result.failure == "the signing secret could not be read (RetryableError)"  # never the error's text
    assert not receiver.seen


def test_an_unreadable_body_goes_to_the_dlq_at_once_naming_the_field(clock: Any) -> None:
    receiver, queue = Receiver(), Queue()
    deps = WebhookSenderDependencies(endpoint=receiver, secret=lambda: SECRET, queue=queue, clock=utc_now)
    result = deliver(QueuedNotification('{"type": "alerts.x"}', "rh-1", START), deps)
    assert (result.outcome, result.field) == ("dead_lettered", "id")
    reason = "unreadable notification: id: must be a non-empty string"
    attributes = {"source": "webhook_sender", "reason": reason, "field": "id"}
    assert queue.dead_letters == [('{"type": "alerts.x"}', attributes)]
    assert not receiver.seen
