"""send-event → local bus → router, as EventBridge and Lambda's async invocation would deliver it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from local.cli import main
from local.stack import LocalStack
from shared import bootstrap
from shared.adapters.dynamodb import DynamoDBStore
from tests.e2e.helpers import dead_letter_for, poll_until, sample_event, write_event


def send(stack: LocalStack, tmp_path: Path, event: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["send-event", "--api", stack.url, write_event(tmp_path, event)]) == 0
    event_id = capsys.readouterr().out.strip()
    assert event_id
    return event_id


def test_a_finalized_invoice_for_a_stripe_customer_is_queued_for_the_stripe_worker(
    local_stack: LocalStack, store: DynamoDBStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event = sample_event()
    send(local_stack, tmp_path, event, capsys)
    invoice_id = event["detail"]["id"]

    sync = poll_until(lambda: store.get_sync(invoice_id), what="the router's sync record")
    assert sync.provider == "stripe"
    assert store.get_invoice(invoice_id) is not None

    # The queue message reaches the Stripe worker, which settles it: synced by the real worker,
    # or (while functions/stripe_sync is a placeholder that raises) redriven to its DLQ.
    def settled() -> bool:
        record = store.get_sync(invoice_id)
        return bool(record and record.status != "pending") or dead_letter_for(local_stack.url, invoice_id) is not None

    poll_until(settled, what="the Stripe worker to settle the queued invoice")


def test_an_invalid_event_reaches_the_router_and_lands_in_the_router_dlq_naming_the_field(
    local_stack: LocalStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event = sample_event("invalid.json")
    send(local_stack, tmp_path, event, capsys)

    entry = poll_until(lambda: dead_letter_for(local_stack.url, event["detail"]["id"]), what="the DLQ entry")
    assert entry["queue"] == "RouterDLQ"
    assert "detail.currency" in entry["reason"]
    assert entry["field"] == "detail.currency"
    delivered = entry["body"]
    # The router got the event as EventBridge delivers it: the full envelope, without moto's extras.
    assert set(delivered) == {
        "version",
        "id",
        "detail-type",
        "source",
        "account",
        "time",
        "region",
        "resources",
        "detail",
    }
    assert delivered["detail"] == event["detail"]


def test_unknown_detail_type_is_dead_lettered(
    local_stack: LocalStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The bus rule takes every downbeat.billing event, so a renamed event reaches the router and
    # is noticed in the DLQ instead of matching no rule.
    event = {**sample_event(), "detail-type": "invoice.exploded"}
    send(local_stack, tmp_path, event, capsys)
    invoice_id = event["detail"]["id"]
    poll_until(lambda: dead_letter_for(local_stack.url, invoice_id), what="the DLQ entry")

    assert main(["dlq", "list", "--api", local_stack.url]) == 0
    # The stack runs in this process, so the router's JSON log lines may share this stdout.
    listed = [e for e in map(json.loads, capsys.readouterr().out.splitlines()) if "message_id" in e]
    [entry] = [e for e in listed if e["body"].get("detail", {}).get("id") == invoice_id]
    assert (entry["queue"], entry["field"]) == ("RouterDLQ", "detail-type")
    assert "unknown detail-type 'invoice.exploded'" in entry["reason"]
    assert "invoice.finalized, invoice.updated, invoice.voided" in entry["reason"]
    assert entry["body"]["detail-type"] == "invoice.exploded"
    assert entry["body"]["detail"] == event["detail"]


def test_events_reach_the_router_in_arrival_order(
    local_stack: LocalStack, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    invoke = local_stack.invoke

    def recording_invoke(name: str, event: Any) -> Any:
        if name == "InvoiceRouterFunction":
            seen.append(event["detail"]["id"])
        return invoke(name, event)

    monkeypatch.setattr(local_stack, "invoke", recording_invoke)
    events = [sample_event() for _ in range(6)]
    for event in events:
        send(local_stack, tmp_path, event, capsys)
    expected = [e["detail"]["id"] for e in events]

    poll_until(lambda: all(i in seen for i in expected), what="all six events")
    assert [i for i in seen if i in expected] == expected


def test_a_router_exception_is_retried_then_written_to_the_router_dlq_as_on_failure_destination(
    local_stack: LocalStack, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts: list[str] = []
    event = sample_event()
    invoice_id = event["detail"]["id"]

    def unreachable_store() -> Any:
        # An infrastructure error; earlier tests have waited for their events, so only this one fails.
        attempts.append(invoice_id)
        raise ConnectionError("DynamoDB unreachable (injected)")

    monkeypatch.setattr(bootstrap, "invoice_router", unreachable_store)
    send(local_stack, tmp_path, event, capsys)

    entry = poll_until(lambda: dead_letter_for(local_stack.url, invoice_id), what="the OnFailure record")
    assert entry["queue"] == "RouterDLQ"
    assert len(attempts) == 3  # the first try + MaximumRetryAttempts: 2
    assert entry["reason"] == "RetriesExhausted after 3 attempts: ConnectionError: DynamoDB unreachable (injected)"
    assert entry["body"]["requestPayload"]["detail"]["id"] == invoice_id
