"""Stripe webhooks through the local stack: the Stripe double signs and POSTs them to
`/v1/webhooks/stripe`, the webhook function verifies them, reads the invoice back from the double and
records `provider_status`, which the sync and invoice APIs show.

- each hand action (`downbeat stripe pay|fail-payment|void|uncollectible`) ends in its status;
- a bad signature, a stale one (> 300 s) and a missing header are 400 and change nothing (the same
  event, signed properly afterwards, is still handled in full);
- the same event twice: the second is a duplicate that costs no Stripe call;
- events out of order end in Stripe's real final state, whatever the event's own copy says;
- an event for a Stripe invoice without our metadata, or one carrying our metadata that is not
  the invoice we recorded, is 200 and ignored.
"""

from __future__ import annotations

import contextlib
import io
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from local.cli import main, request_json
from local.stack import LocalStack
from local.stripe_double import StripeDouble
from shared.adapters.dynamodb import DynamoDBStore
from shared.domain.sync import SyncRecord
from tests.e2e.helpers import poll_until, sample_event, write_event

WEBHOOK = "/v1/webhooks/stripe"


def double_of(stack: LocalStack) -> StripeDouble:
    assert stack.stripe is not None
    return stack.stripe


def synced_invoice(stack: LocalStack, store: DynamoDBStore, tmp_path: Path) -> tuple[str, str]:
    """A fresh invoice of the demo customer, synced to the Stripe double: (downbeat id, Stripe id)."""
    event = sample_event()
    invoice_id = event["detail"]["id"]
    assert main(["send-event", "--api", stack.url, write_event(tmp_path, event)]) == 0

    def stripe_id() -> str | None:
        record = store.get_sync(invoice_id)
        return str(record.provider_ids["stripe_invoice_id"]) if record and record.status == "synced" else None

    return invoice_id, poll_until(stripe_id, timeout=60, what="the invoice to sync to Stripe")


def api_get(stack: LocalStack, path: str) -> dict[str, Any]:
    data: dict[str, Any] = request_json(stack.url, "GET", path, token=stack.api_token)["data"]
    return data


def sync_status(stack: LocalStack, invoice_id: str) -> dict[str, Any]:
    return api_get(stack, f"/v1/invoices/{invoice_id}/sync")


def stripe_cli(stack: LocalStack, action: str, invoice: str) -> tuple[int, dict[str, Any] | None, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["stripe", action, invoice, "--api", stack.url])
    printed = out.getvalue()
    start = printed.find("{\n")
    return code, json.loads(printed[start:]) if start >= 0 else None, err.getvalue()


def retrieves(double: StripeDouble, stripe_id: str) -> int:
    return len(double.calls("GET", rf"/v1/invoices/{stripe_id}"))


def unchanged(store: DynamoDBStore, invoice_id: str, before: SyncRecord | None) -> None:
    after = store.get_sync(invoice_id)
    assert after is not None
    assert before is not None
    assert (after.provider_status, after.provider_status_at) == (before.provider_status, before.provider_status_at)


@pytest.mark.parametrize(
    ("action", "stripe_status", "provider_status"),
    [
        ("pay", "paid", "paid"),
        ("fail-payment", "open", "payment_failed"),
        ("void", "void", "void"),
        ("uncollectible", "uncollectible", "uncollectible"),
    ],
)
def test_each_event_type_records_the_invoice_s_status_as_stripe_reads_it_back(
    local_stack: LocalStack, store: DynamoDBStore, tmp_path: Path, action: str, stripe_status: str, provider_status: str
) -> None:
    invoice_id, stripe_id = synced_invoice(local_stack, store, tmp_path)
    assert sync_status(local_stack, invoice_id)["provider_status"] is None  # null until Stripe reports

    code, answer, _ = stripe_cli(local_stack, action, invoice_id)  # named by our id: the CLI finds it
    assert code == 0
    assert answer is not None
    assert (answer["stripe_invoice_id"], answer["status"]) == (stripe_id, stripe_status)
    assert answer["webhook"]["status"] == 200
    assert answer["webhook"]["response"]["data"]["outcome"] == "applied"

    assert answer["webhook"]["response"]["data"]["invoice_id"] == invoice_id
    shown = sync_status(local_stack, invoice_id)
    assert shown["provider_status"] == provider_status
    sent = double_of(local_stack).webhooks.deliveries[-1].event
    assert shown["provider_status_at"] == _rfc3339(sent["created"])
    assert shown["status"] == "synced"  # the sync status itself never follows provider_status
    customer = sync_customer(store, invoice_id)
    invoice = api_get(local_stack, f"/v1/customers/{customer}/invoices/{invoice_id}")
    assert (invoice["provider_status"], invoice["provider_status_at"]) == (provider_status, shown["provider_status_at"])


def sync_customer(store: DynamoDBStore, invoice_id: str) -> str:
    invoice = store.get_invoice(invoice_id, buckets=False)
    assert invoice is not None
    return invoice.customer_id


@pytest.mark.parametrize("refusal", ["other_secret", "stale", "missing_header", "tampered_body"])
def test_a_bad_stale_or_missing_signature_is_400_and_changes_nothing(
    local_stack: LocalStack, store: DynamoDBStore, tmp_path: Path, refusal: str
) -> None:
    double = double_of(local_stack)
    invoice_id, stripe_id = synced_invoice(local_stack, store, tmp_path)
    with double._lock:
        paid = double.model.pay_by_hand(stripe_id)  # paid in Stripe; its event is sent below
    event = double.webhook_event("invoice.paid", paid)
    before = store.get_sync(invoice_id)
    calls = retrieves(double, stripe_id)

    if refusal == "other_secret":
        delivery = double.deliver_webhook(event, secret="whsec_not_the_endpoint_s")
    elif refusal == "stale":
        delivery = double.deliver_webhook(event, timestamp=int(double.clock()) - 301)
    elif refusal == "missing_header":
        delivery = double.deliver_webhook(event, signed=False)
    else:  # signed over other bytes than the ones sent
        signed_for = json.dumps({**event, "type": "invoice.created"}, indent=2)
        from local.stripe_double_webhooks import signature_header

        header = signature_header(signed_for, str(double.webhooks.secret), int(double.clock()))
        delivery = double.deliver_webhook(event, signature=header)

    assert delivery.status == 400
    assert delivery.body["field"] == "Stripe-Signature"
    unchanged(store, invoice_id, before)
    assert retrieves(double, stripe_id) == calls  # refused before any Stripe call
    # Nothing was remembered either: the same event, signed properly, is handled in full.
    assert double.deliver_webhook(event).body["data"]["outcome"] == "applied"
    assert sync_status(local_stack, invoice_id)["provider_status"] == "paid"


def test_the_same_event_twice_is_applied_once_and_the_duplicate_costs_no_stripe_call(
    local_stack: LocalStack, store: DynamoDBStore, tmp_path: Path
) -> None:
    double = double_of(local_stack)
    invoice_id, stripe_id = synced_invoice(local_stack, store, tmp_path)
    first = stripe_cli(local_stack, "pay", stripe_id)[1]
    assert first is not None
    event = double.webhooks.deliveries[-1].event
    assert event["id"] == first["webhook"]["event_id"]
    calls = retrieves(double, stripe_id)

    again = double.deliver_webhook(event)  # Stripe delivers at least once
    assert again.status == 200
    assert again.body["data"]["outcome"] == "duplicate"
    assert retrieves(double, stripe_id) == calls
    assert sync_status(local_stack, invoice_id)["provider_status"] == "paid"


def test_events_out_of_order_end_in_stripe_s_real_final_state(
    local_stack: LocalStack, store: DynamoDBStore, tmp_path: Path
) -> None:
    double = double_of(local_stack)
    invoice_id, stripe_id = synced_invoice(local_stack, store, tmp_path)
    with double._lock:
        failed = double.model.fail_payment(stripe_id)
        uncollectible = double.model.mark_uncollectible(stripe_id)
        paid = double.model.pay_by_hand(stripe_id)
    events = [
        double.webhook_event("invoice.payment_failed", failed),
        double.webhook_event("invoice.marked_uncollectible", uncollectible),
        double.webhook_event("invoice.paid", paid),
    ]
    for seconds, event in enumerate(events):  # made a minute apart, in this order
        event["created"] += 60 * seconds
    failed_event, uncollectible_event, paid_event = events

    # The newest event first: its read-back is Stripe's final state.
    assert double.deliver_webhook(paid_event).body["data"]["outcome"] == "applied"
    # An older event arriving late says "payment failed" in its own copy; Stripe says paid, and the
    # status recorded for a newer event is kept.
    late = double.deliver_webhook(failed_event).body["data"]
    assert (late["outcome"], late["provider_status"]) == ("stale", "paid")
    late = double.deliver_webhook(uncollectible_event).body["data"]
    assert (late["outcome"], late["provider_status"]) == ("stale", "paid")
    shown = sync_status(local_stack, invoice_id)
    assert shown["provider_status"] == "paid"
    assert shown["provider_status_at"] == _rfc3339(paid_event["created"])


def test_an_old_event_after_a_change_it_does_not_describe_records_what_stripe_holds(
    local_stack: LocalStack, store: DynamoDBStore, tmp_path: Path
) -> None:
    """The event's copy of the invoice is never what is recorded: only the read-back is."""
    double = double_of(local_stack)
    invoice_id, stripe_id = synced_invoice(local_stack, store, tmp_path)
    with double._lock:
        failed = double.model.fail_payment(stripe_id)
        double.model.void_by_hand(stripe_id)  # voided since; that event has not arrived yet
    event = double.webhook_event("invoice.payment_failed", failed)
    assert event["data"]["object"]["status"] == "open"
    answer = double.deliver_webhook(event).body["data"]
    assert (answer["outcome"], answer["provider_status"]) == ("applied", "void")
    assert sync_status(local_stack, invoice_id)["provider_status"] == "void"


def test_an_invoice_without_our_metadata_or_not_the_recorded_one_is_200_and_ignored(
    local_stack: LocalStack, store: DynamoDBStore, tmp_path: Path
) -> None:
    double = double_of(local_stack)
    invoice_id, stripe_id = synced_invoice(local_stack, store, tmp_path)
    before = store.get_sync(invoice_id)
    calls = len(double.requests)

    foreign = _finalized_invoice(double, metadata={})  # someone else's invoice on the same account
    code, answer, _ = stripe_cli(local_stack, "pay", foreign)
    assert code == 0
    assert answer is not None
    assert answer["webhook"]["response"]["data"]["outcome"] == "ignored"
    assert "no downbeat_invoice_id" in answer["webhook"]["response"]["data"]["message"]

    # A second Stripe invoice naming our invoice (made outside downbeat): reconciliation's to report.
    impostor = _finalized_invoice(double, metadata={"downbeat_invoice_id": invoice_id})
    code, answer, _ = stripe_cli(local_stack, "pay", impostor)
    assert code == 0
    assert answer is not None
    assert answer["webhook"]["response"]["data"]["outcome"] == "ignored"
    unchanged(store, invoice_id, before)
    assert not [r for r in double.requests[calls:] if r.method == "GET"]  # neither was read back
    assert store.get_sync(invoice_id) == before
    assert stripe_id != impostor


def _finalized_invoice(double: StripeDouble, metadata: dict[str, str]) -> str:
    customer = double.add_customer(f"cus_hook_{uuid.uuid4().hex[:10]}")
    with double._lock:
        model = double.model
        created = model.handle("POST", "/v1/invoices", {"customer": customer, "currency": "usd", "metadata": metadata})
        model.handle(
            "POST",
            "/v1/invoiceitems",
            {"customer": customer, "invoice": created["id"], "amount": "1200", "currency": "usd"},
        )
        model.handle("POST", f"/v1/invoices/{created['id']}/finalize", {})
    return str(created["id"])


def _rfc3339(seconds: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
