"""The Stripe webhook's rules and its use case, on the in-memory store and a Stripe fake.

Signatures are made with the SDK's own helper and checked by the gateway's `verify_webhook` (the
SDK's `construct_event`), as in production.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
import stripe
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.adapters.stripe_gateway import verify_webhook
from shared.config import webhook_secrets
from shared.domain.stripe_webhooks import ReadBack, provider_status, relation_to_record, status_order
from shared.domain.sync import SyncAttempt
from shared.ports.errors import RetryableError
from shared.ports.stripe import StripeInvoiceView, WebhookSignatureInvalid
from shared.services.stripe_webhook import StripeWebhookDependencies, handle_stripe_webhook
from tests.fakes.memory_store import InMemoryStore

SECRET = "whsec_unit_current"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
OURS = "in_ours0001"


@dataclass
class FakeStripe:
    """The invoices Stripe holds now; each retrieve counted."""

    invoices: dict[str, StripeInvoiceView] = field(default_factory=dict)
    calls: int = 0
    fail: bool = False

    def retrieve_invoice(self, invoice_id: str) -> StripeInvoiceView | None:
        self.calls += 1
        if self.fail:
            raise RetryableError("Stripe retrieve invoice failed: api_error (HTTP 500)", code="api_error")
        return self.invoices.get(invoice_id)

    def hold(self, invoice_id: str, status: str, *, attempted: bool = False, remaining: int = 1200) -> None:
        self.invoices[invoice_id] = StripeInvoiceView(
            id=invoice_id,
            status=status,
            customer="cus_unit",
            currency="usd",
            total=1200,
            total_excluding_tax=1200,
            metadata={"downbeat_invoice_id": "inv_1"},
            attempted=attempted,
            amount_remaining=0 if status in ("paid", "void") else remaining,
        )


def make_deps(store: InMemoryStore, fake: FakeStripe, secrets: str = SECRET) -> StripeWebhookDependencies:
    def verify(payload: bytes, signature: str | None) -> None:
        verify_webhook(payload, signature, webhook_secrets(secrets), 300)

    return StripeWebhookDependencies(store=store, stripe=fake, verify=verify, clock=lambda: NOW)


def synced_store(stripe_invoice_id: str = OURS, provider: str = "stripe") -> InMemoryStore:
    store = InMemoryStore()
    store.record_sync(
        "inv_1",
        provider=provider,  # type: ignore[arg-type]
        status="synced",
        reason="synced",
        attempt=SyncAttempt(at=NOW, outcome="synced"),
        provider_ids={"stripe_invoice_id": stripe_invoice_id},
    )
    return store


_ids = itertools.count(1)


def event(
    kind: str = "invoice.paid",
    invoice_id: str = OURS,
    created: int = 1_772_000_000,
    metadata: dict[str, str] | None = None,
    **invoice: Any,
) -> dict[str, Any]:
    return {
        "id": f"evt_unit{next(_ids):06d}",
        "object": "event",
        "type": kind,
        "created": created,
        "data": {
            "object": {
                "id": invoice_id,
                "object": "invoice",
                "status": "open",
                "metadata": {"downbeat_invoice_id": "inv_1"} if metadata is None else metadata,
                **invoice,
            }
        },
    }


def signed(document: dict[str, Any], secret: str = SECRET, at: int | None = None) -> tuple[bytes, str]:
    payload = json.dumps(document)
    header = stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp=at or int(time.time()))
    return payload.encode(), header


def deliver(deps: StripeWebhookDependencies, document: dict[str, Any], **signing: Any) -> tuple[int, dict[str, Any]]:
    answer = handle_stripe_webhook(deps, *signed(document, **signing))
    return answer.status_code, answer.body()


# -- the rules ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("read", "expected"),
    [
        (ReadBack(exists=True, status="paid", attempted=True, amount_remaining=0), "paid"),
        (ReadBack(exists=True, status="open", attempted=False, amount_remaining=1200), "open"),
        (ReadBack(exists=True, status="open", attempted=True, amount_remaining=1200), "payment_failed"),
        (ReadBack(exists=True, status="open", attempted=True, amount_remaining=0), "open"),
        (ReadBack(exists=True, status="void"), "void"),
        (ReadBack(exists=True, status="uncollectible", attempted=True, amount_remaining=5), "uncollectible"),
        (ReadBack(exists=True, status="draft"), "draft"),
        (ReadBack(exists=False), "deleted"),
        (ReadBack(exists=True, status="something_new"), None),
    ],
)
def test_provider_status_is_stripe_s_status_read_back(read: ReadBack, expected: str | None) -> None:
    assert provider_status(read) == expected


def test_only_the_recorded_invoice_or_a_revision_of_it_may_update_the_record() -> None:
    assert relation_to_record("in_a", "in_a", None) == "ours"
    assert relation_to_record("in_a", "in_b", "in_a") == "revision"
    assert relation_to_record("in_a", "in_b", None) == "other"
    assert relation_to_record("in_a", "in_b", "in_c") == "other"
    assert relation_to_record(None, "in_b", None) == "other"


def test_a_later_event_orders_after_an_earlier_one_whatever_its_status() -> None:
    assert status_order(100, "paid") < status_order(101, "open")
    assert status_order(100, "open") < status_order(100, "paid")  # the same second: later in life wins
    assert status_order(9, "deleted") < status_order(10, "draft")  # text order is number order


# -- the use case ---------------------------------------------------------------------------------


def test_a_verified_event_records_the_read_back_status_and_the_event_s_time() -> None:
    store, fake = synced_store(), FakeStripe()
    fake.hold(OURS, "paid")
    status, body = deliver(make_deps(store, fake), event(created=1_772_000_000))
    assert status == 200
    assert body["data"]["outcome"] == "applied"
    record = store.get_sync("inv_1")
    assert record is not None
    assert record.provider_status == "paid"
    assert record.provider_status_at == datetime.fromtimestamp(1_772_000_000, UTC)
    assert record.status == "synced"
    assert fake.calls == 1


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("wrong_secret", "No signatures found matching the expected signature"),
        ("stale", "Timestamp outside the tolerance zone"),
        ("missing", "no Stripe-Signature header"),
        ("garbled", "Unable to extract timestamp and signatures from header"),
    ],
)
def test_an_unverified_event_is_400_naming_the_header_with_no_stripe_call(case: str, message: str) -> None:
    store, fake = synced_store(), FakeStripe()
    fake.hold(OURS, "paid")
    payload, header = signed(event(), secret="whsec_other" if case == "wrong_secret" else SECRET)
    if case == "stale":
        payload, header = signed(event(), at=int(time.time()) - 301)
    answer = handle_stripe_webhook(
        make_deps(store, fake), payload, None if case == "missing" else "t=x" if case == "garbled" else header
    )
    assert answer.status_code == 400
    assert answer.body()["field"] == "Stripe-Signature"
    assert message in answer.body()["message"]
    assert SECRET not in answer.body()["message"]
    assert (fake.calls, store.stripe_events) == (0, {})
    record = store.get_sync("inv_1")
    assert record is not None
    assert record.provider_status is None


def test_a_signature_by_either_secret_verifies_while_one_is_rotated() -> None:
    payload, header = signed(event(), secret="whsec_old")
    verify_webhook(payload, header, webhook_secrets("whsec_new, whsec_old"), 300)
    with pytest.raises(WebhookSignatureInvalid):
        verify_webhook(payload, header, webhook_secrets("whsec_new"), 300)
    with pytest.raises(WebhookSignatureInvalid, match="no webhook secret"):
        verify_webhook(payload, header, webhook_secrets(" , "), 300)


def test_a_body_that_is_not_utf8_is_refused_before_the_sdk_reads_it() -> None:
    with pytest.raises(WebhookSignatureInvalid, match="UTF-8"):
        verify_webhook(b"\xff\xfe", "t=1,v1=00", [SECRET], 300)


def test_other_event_types_and_invoices_without_our_metadata_are_ignored_without_a_call() -> None:
    store, fake = synced_store(), FakeStripe()
    deps = make_deps(store, fake)
    assert deliver(deps, event("customer.created"))[1]["data"]["outcome"] == "ignored"
    assert deliver(deps, event(metadata={}))[1]["data"]["outcome"] == "ignored"
    assert deliver(deps, event(metadata={"downbeat_invoice_id": "a\nb"}))[1]["data"]["outcome"] == "ignored"
    assert fake.calls == 0


def test_an_invoice_with_our_metadata_that_is_not_the_recorded_one_is_left_for_reconciliation() -> None:
    store, fake = synced_store(), FakeStripe()
    fake.hold("in_stranger", "paid")
    status, body = deliver(make_deps(store, fake), event(invoice_id="in_stranger"))
    assert (status, body["data"]["outcome"]) == (200, "ignored")
    assert "reconciliation" in body["data"]["message"]
    assert fake.calls == 0


def test_a_revision_of_ours_becomes_the_recorded_stripe_invoice() -> None:
    store, fake = synced_store(), FakeStripe()
    fake.hold("in_revised", "open")
    document = event("invoice.finalized", invoice_id="in_revised", from_invoice={"action": "revision", "invoice": OURS})
    assert deliver(make_deps(store, fake), document)[1]["data"]["outcome"] == "applied"
    record = store.get_sync("inv_1")
    assert record is not None
    assert (record.provider_status, record.provider_ids["stripe_invoice_id"]) == ("open", "in_revised")


def test_an_event_racing_the_worker_s_own_record_is_503_so_stripe_delivers_it_again() -> None:
    store, fake = InMemoryStore(), FakeStripe()
    store.record_sync(
        "inv_1", provider="stripe", status="pending", reason="queued", attempt=SyncAttempt(at=NOW, outcome="routed")
    )
    fake.hold(OURS, "open")
    document = event("invoice.finalized")
    status, body = deliver(make_deps(store, fake), document)
    assert (status, fake.calls) == (503, 0)
    assert "retry" in body["message"]
    store.record_sync(
        "inv_1",
        provider="stripe",
        status="synced",
        reason=None,
        attempt=SyncAttempt(at=NOW, outcome="synced"),
        provider_ids={"stripe_invoice_id": OURS},
    )
    assert deliver(make_deps(store, fake), document)[1]["data"]["provider_status"] == "open"


def test_no_stripe_sync_record_is_ignored() -> None:
    store, fake = synced_store(provider="aws_marketplace"), FakeStripe()
    assert deliver(make_deps(store, fake), event())[1]["data"]["outcome"] == "ignored"
    assert deliver(make_deps(InMemoryStore(), fake), event())[1]["data"]["outcome"] == "ignored"
    assert fake.calls == 0


def test_a_deleted_draft_reads_back_as_deleted() -> None:
    store, fake = synced_store(), FakeStripe()  # Stripe no longer has it: the retrieve is a 404
    assert deliver(make_deps(store, fake), event("invoice.deleted"))[1]["data"]["provider_status"] == "deleted"


def test_a_stripe_outage_is_503_and_remembers_nothing_so_the_redelivery_is_handled() -> None:
    store, fake = synced_store(), FakeStripe(fail=True)
    fake.hold(OURS, "paid")
    document = event()
    status, body = deliver(make_deps(store, fake), document)
    assert status == 503
    assert "retry" in body["message"]
    fake.fail = False
    assert deliver(make_deps(store, fake), document)[1]["data"]["outcome"] == "applied"


def test_a_signed_event_in_a_shape_we_cannot_read_is_400_naming_the_field() -> None:
    store, fake = synced_store(), FakeStripe()
    document = event()
    document["data"]["object"]["id"] = "not-an-invoice-id"
    status, body = deliver(make_deps(store, fake), document)
    assert (status, body["field"]) == (400, "data.object.id")
    status, body = deliver(make_deps(store, fake), {**event(), "created": -1})
    assert (status, body["field"]) == (400, "created")


FINAL_STATES = ["paid", "void", "uncollectible", "open"]


@settings(max_examples=60, deadline=None)
@given(
    final=st.sampled_from(FINAL_STATES),
    arrivals=st.lists(st.integers(min_value=0, max_value=3), min_size=1, max_size=10),
)
def test_any_arrival_order_with_repeats_ends_in_stripe_s_final_state(final: str, arrivals: list[int]) -> None:
    """Four events of one invoice's life (a minute apart), delivered in any order, some twice, some
    never: what is recorded is Stripe's state now, stamped with the newest event applied."""
    store, fake = synced_store(), FakeStripe()
    fake.hold(OURS, final, attempted=final == "open")
    kinds = ["invoice.finalized", "invoice.payment_failed", "invoice.marked_uncollectible", "invoice.paid"]
    events = [event(kind, created=1_772_000_000 + 60 * n) for n, kind in enumerate(kinds)]
    deps = make_deps(store, fake)
    for index in arrivals:
        assert deliver(deps, events[index])[0] == 200
    record = store.get_sync("inv_1")
    assert record is not None
    assert record.provider_status == ("payment_failed" if final == "open" else final)
    newest = max(events[index]["created"] for index in set(arrivals))
    assert record.provider_status_at == datetime.fromtimestamp(newest, UTC)
    assert fake.calls == len(set(arrivals))  # every repeat was a duplicate, costing no call
