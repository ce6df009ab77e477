"""The Stripe worker never leaves a dead-lettered invoice `pending`: on its message's last allowed
receive a failing run records `failed`, `dead_letter_queue: StripeSyncDLQ` and a one-line reason.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from functions.stripe_sync.handler import lambda_handler
from local.lambda_context import LocalLambdaContext
from local.stack import dead_letter_entry
from shared.config import StripeSyncSettings
from shared.domain.stripe_state import LEASE_KIND
from shared.domain.sync import STRIPE_SYNC_DLQ
from shared.ports.errors import RetryableError
from shared.services.stripe_sync import sync_stripe_invoice
from shared.services.stripe_sync_dependencies import Delivery, StripeSyncMessage, SyncBusy
from tests.fakes.memory_store import InMemoryStore
from tests.integration.stripe_harness import CrashingStripe, Harness, harness

EVENTS = Path(__file__).resolve().parents[2] / "events" / "stripe_sync"
CONTEXT = LocalLambdaContext("stripe_sync")
MAX_RECEIVES = 5


@pytest.fixture
def h() -> Iterator[Harness]:
    with harness() as running:
        running.add_customer()
        running.deps.max_receives = MAX_RECEIVES
        yield running


def message(invoice_id: str = "inv_1") -> StripeSyncMessage:
    return StripeSyncMessage(invoice_id=invoice_id, version=7)


def assert_one_line(reason: str | None) -> str:
    assert reason is not None
    assert "\n" not in reason
    assert "Traceback" not in reason
    assert 'File "' not in reason
    return reason


def test_the_last_receive_records_failed_in_the_dlq_and_earlier_ones_pending(h: Harness) -> None:
    h.save_invoice()
    h.double.fail_before(method="POST", status=500, should_retry=False, times=None)
    for received in range(1, MAX_RECEIVES):
        with pytest.raises(RetryableError):
            sync_stripe_invoice(message(), h.deps, Delivery(received, MAX_RECEIVES))
        pending = h.store.get_sync("inv_1")
        assert pending is not None
        assert (pending.status, pending.dead_letter_queue) == ("pending", None)

    with pytest.raises(RetryableError):  # still raised: SQS moves the message to the DLQ
        sync_stripe_invoice(message(), h.deps, Delivery(MAX_RECEIVES, MAX_RECEIVES))

    failed = h.store.get_sync("inv_1")
    assert failed is not None
    assert (failed.status, failed.dead_letter_queue, failed.provider) == ("failed", STRIPE_SYNC_DLQ, "stripe")
    reason = assert_one_line(failed.reason)
    assert reason.startswith(f"invoice inv_1: Stripe sync gave up after {MAX_RECEIVES} deliveries")
    assert "api_error (HTTP 500)" in reason
    assert failed.attempts[-1].outcome == "dead_lettered"
    state = h.store.get_stripe_sync("inv_1")
    assert state is not None
    assert state.step != "failed"  # the work itself is not settled: a redrive resumes it

    h.double.clear_faults()  # the cause is fixed; the message is redriven
    redriven = sync_stripe_invoice(message(), h.deps, Delivery(1, MAX_RECEIVES))
    assert redriven.status == "synced"
    synced = h.store.get_sync("inv_1")
    assert synced is not None
    assert (synced.status, synced.dead_letter_queue) == ("synced", None)
    h.only_stripe_invoice("inv_1")


class BrokenStripe(CrashingStripe):
    """Stripe answers something the worker does not expect (a bug, not a Stripe error)."""

    def create_invoice(self, params: Mapping[str, Any], *, idempotency_key: str) -> Any:
        raise ValueError("unexpected reply from Stripe:\n  <html>gateway</html>")


def test_an_unexpected_error_on_the_last_receive_is_recorded_on_one_line(h: Harness) -> None:
    h.save_invoice()
    h.deps.stripe = BrokenStripe(h.gateway)
    with pytest.raises(ValueError, match="unexpected reply"):
        sync_stripe_invoice(message(), h.deps, Delivery(MAX_RECEIVES, MAX_RECEIVES))
    failed = h.store.get_sync("inv_1")
    assert failed is not None
    assert (failed.status, failed.dead_letter_queue) == ("failed", STRIPE_SYNC_DLQ)
    assert assert_one_line(failed.reason).endswith("unexpected reply from Stripe: <html>gateway</html>")


def test_a_rate_limited_invoice_on_its_last_receive_is_failed_too(h: Harness) -> None:
    h.save_invoice()
    h.double.rate_limited(times=None)
    with pytest.raises(RetryableError):
        sync_stripe_invoice(message(), h.deps, Delivery(MAX_RECEIVES, MAX_RECEIVES))
    failed = h.store.get_sync("inv_1")
    assert failed is not None
    assert (failed.status, failed.dead_letter_queue) == ("failed", STRIPE_SYNC_DLQ)
    assert "rate_limit" in assert_one_line(failed.reason)


def test_a_busy_invoice_is_left_to_the_run_that_holds_it(h: Harness) -> None:
    h.save_invoice()
    now = h.now()
    holder = h.store.claim(LEASE_KIND, "inv_1", now=now, until=now + timedelta(minutes=2))
    assert holder is not None
    with pytest.raises(SyncBusy):
        sync_stripe_invoice(message(), h.deps, Delivery(MAX_RECEIVES, MAX_RECEIVES))
    assert h.store.get_sync("inv_1") is None  # the holder records its own outcome


class UnreadableInvoices(InMemoryStore):
    def get_invoice(self, invoice_id: str, *, buckets: bool = True) -> Any:
        raise RetryableError("DynamoDB GetItem throttled\n(ProvisionedThroughputExceeded)")


def test_a_table_failure_before_the_run_is_recorded_when_the_table_lets_us(h: Harness) -> None:
    store = UnreadableInvoices()
    h.deps.store = store
    with pytest.raises(RetryableError):
        sync_stripe_invoice(message(), h.deps, Delivery(MAX_RECEIVES - 1, MAX_RECEIVES))
    assert store.get_sync("inv_1") is None  # not the last receive: nothing to say yet
    with pytest.raises(RetryableError):
        sync_stripe_invoice(message(), h.deps, Delivery(MAX_RECEIVES, MAX_RECEIVES))
    failed = store.get_sync("inv_1")
    assert failed is not None
    assert (failed.status, failed.dead_letter_queue) == ("failed", STRIPE_SYNC_DLQ)
    assert assert_one_line(failed.reason).endswith("DynamoDB GetItem throttled (ProvisionedThroughputExceeded)")


def test_without_a_known_max_receive_count_no_receive_is_the_last(h: Harness) -> None:
    h.save_invoice()
    h.double.fail_before(method="POST", status=500, should_retry=False, times=None)
    with pytest.raises(RetryableError):
        sync_stripe_invoice(message(), h.deps, Delivery(99, None))
    assert h.store.get_sync("inv_1").status == "pending"  # type: ignore[union-attr]


# -- the handler ------------------------------------------------------------------------------------


def sqs_event(receive_count: int, *invoice_ids: str) -> dict[str, Any]:
    template = json.loads((EVENTS / "sync.json").read_text())["Records"][0]
    records = []
    for number, invoice_id in enumerate(invoice_ids):
        record = copy.deepcopy(template)
        record["messageId"] = f"m{number}"
        record["body"] = json.dumps({"invoice_id": invoice_id, "version": 7, "action": "sync"})
        record["attributes"]["ApproximateReceiveCount"] = str(receive_count)
        records.append(record)
    return {"Records": records}


def test_the_handler_reads_the_receive_count_and_reports_a_wholly_failed_batch_per_record(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    h.save_invoice(id="inv_a")
    h.save_invoice(id="inv_b")
    h.double.fail_before(method="POST", status=500, should_retry=False, times=None)

    early = lambda_handler(sqs_event(2, "inv_a", "inv_b"), CONTEXT, deps=h.deps)
    assert early == {"batchItemFailures": [{"itemIdentifier": "m0"}, {"itemIdentifier": "m1"}]}
    assert {h.store.get_sync(i).status for i in ("inv_a", "inv_b")} == {"pending"}  # type: ignore[union-attr]
    caplog.clear()

    last = lambda_handler(sqs_event(MAX_RECEIVES, "inv_a", "inv_b"), CONTEXT, deps=h.deps)

    # every record failed, yet no BatchProcessingError stringing their tracebacks together
    assert last == {"batchItemFailures": [{"itemIdentifier": "m0"}, {"itemIdentifier": "m1"}]}
    for invoice_id in ("inv_a", "inv_b"):
        sync = h.store.get_sync(invoice_id)
        assert sync is not None
        assert (sync.status, sync.dead_letter_queue) == ("failed", STRIPE_SYNC_DLQ)
        assert_one_line(sync.reason)
    gave_up = [r for r in caplog.records if r.getMessage() == "Stripe sync gave up; the message goes to the DLQ"]
    assert len(gave_up) == 2
    for record in gave_up:
        assert record.exc_info is not None  # the traceback stays in the log line
        assert record.__dict__["receive_count"] == MAX_RECEIVES
        assert "\n" not in record.__dict__["reason"]


def test_an_unreadable_message_fails_alone_and_is_logged(h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    h.save_invoice(id="inv_ok")
    event = sqs_event(1, "inv_ok", "inv_x")
    event["Records"][1]["body"] = '{"invoice_id": 7}'
    assert lambda_handler(event, CONTEXT, deps=h.deps) == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert "Stripe sync message unreadable" in [record.getMessage() for record in caplog.records]


def test_max_receives_comes_from_the_environment() -> None:
    settings = StripeSyncSettings.from_env({"TABLE_NAME": "t", "STRIPE_SYNC_MAX_RECEIVES": "5"})
    assert settings.stripe_sync_max_receives == 5
    assert StripeSyncSettings.from_env({"TABLE_NAME": "t"}).stripe_sync_max_receives is None
    with pytest.raises(Exception, match="STRIPE_SYNC_MAX_RECEIVES"):
        StripeSyncSettings.from_env({"TABLE_NAME": "t", "STRIPE_SYNC_MAX_RECEIVES": "0"})


# -- `dlq list` lines -------------------------------------------------------------------------------


def sqs_message(body: dict[str, Any]) -> Any:
    return {"MessageId": "s1", "ReceiptHandle": "rh", "Body": json.dumps(body), "MessageAttributes": {}}


def test_a_dlq_line_gives_the_reason_the_worker_recorded_on_one_line() -> None:
    recorded = "invoice inv_1: Stripe sync gave up after 5 deliveries (the message is in StripeSyncDLQ): HTTP 500"
    line = dead_letter_entry(
        "StripeSyncDLQ", sqs_message({"invoice_id": "inv_1"}), "StripeSyncQueue", "reported as a batch item failure",
        recorded,
    )  # fmt: skip
    assert line["reason"] == f"maxReceiveCount exceeded on StripeSyncQueue: {recorded}"


def test_a_dlq_line_never_carries_a_traceback() -> None:
    traceback_text = 'BatchProcessingError: All records failed.\n\nTraceback (most recent call last):\n  File "x.py"'
    line = dead_letter_entry("StripeSyncDLQ", sqs_message({"invoice_id": "inv_1"}), "StripeSyncQueue", traceback_text)
    assert "\n" not in line["reason"]
    on_failure = {
        "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": 3},
        "requestPayload": {},
        "responsePayload": {"errorType": "RetryableError", "errorMessage": "DynamoDB throttled\nretry later"},
    }
    routed = dead_letter_entry("RouterDLQ", sqs_message(on_failure), None, None)
    assert routed["reason"] == "RetriesExhausted after 3 attempts: RetryableError: DynamoDB throttled retry later"


def test_the_poller_records_one_line_for_a_handler_that_raised(aws: None) -> None:
    import boto3

    from local.pollers import SqsEventSourcePoller

    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="poller-one-line")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="{}")
    errors: list[tuple[str, str]] = []

    def handler(event: Any) -> Any:
        raise RuntimeError("first line\nsecond line")

    poller = SqsEventSourcePoller(
        name="t", sqs=sqs, queue_url=url, queue_arn="arn:aws:sqs:us-east-1:123456789012:poller-one-line",
        region="us-east-1", invoke=handler, batch_size=10, report_batch_item_failures=True,
        retry_visibility_seconds=0, poll_wait_seconds=0, record_error=lambda m, e: errors.append((m, e)),
    )  # fmt: skip
    assert poller.poll_once() == 1
    assert [error for _, error in errors] == ["RuntimeError: first line second line"]
