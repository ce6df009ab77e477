"""The Stripe worker with the real SDK against the Stripe double (loopback only)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.domain.stripe_plan import METADATA_INVOICE_ID
from shared.ports.errors import RetryableError
from shared.ports.stripe import StripeInvoiceView
from tests.builders import configuration, customer
from tests.integration.stripe_harness import STRIPE_CUSTOMER, Harness, harness, lines

# tests.builders' invoice: USD, 1530.0045 of usage, 295.44 prepaid, total 1234.56, Feb 2025.
FEB_28_NOON_UTC = int(datetime(2025, 2, 28, 12, tzinfo=UTC).timestamp())


@pytest.fixture
def h() -> Iterator[Harness]:
    with harness() as running:
        running.add_customer()
        yield running


def test_finalized_invoice_becomes_one_open_stripe_invoice_in_three_calls(h: Harness) -> None:
    h.save_invoice()

    result = h.deliver("inv_1")

    stripe_invoice = h.only_stripe_invoice("inv_1")
    assert result.status == "synced"
    assert result.stripe_invoice_id == stripe_invoice["id"]
    assert stripe_invoice["status"] == "open"
    assert stripe_invoice["total"] == 123456
    assert stripe_invoice["auto_advance"] is True
    assert stripe_invoice["effective_at"] == FEB_28_NOON_UTC
    assert stripe_invoice["customer"] == STRIPE_CUSTOMER
    assert stripe_invoice["metadata"] == {METADATA_INVOICE_ID: "inv_1", "downbeat_invoice_version": "7"}
    amounts = [item["amount"] for item in h.double.invoice_items(invoice=stripe_invoice["id"])]
    assert amounts == [153000, -29544]
    assert [r.path.rsplit("/", 1)[-1] for r in h.double.requests] == ["invoices", "add_lines", "finalize"]
    assert result.calls == 3 == result.total_calls
    sync = h.store.get_sync("inv_1")
    assert sync is not None
    assert (sync.status, sync.provider, sync.provider_ids) == (
        "synced",
        "stripe",
        {"stripe_invoice_id": result.stripe_invoice_id},
    )
    assert "inv_1" in (sync.reason or "")


def test_stray_pending_items_are_never_attached(h: Harness) -> None:
    h.gateway.create_invoice_item({"customer": STRIPE_CUSTOMER, "currency": "usd", "amount": 999}, idempotency_key="x")
    h.save_invoice()
    h.deliver("inv_1")
    assert [item["amount"] for item in h.double.invoice_items(pending=True)] == [999]
    assert h.only_stripe_invoice("inv_1")["total"] == 123456


def test_redelivery_a_week_later_creates_nothing_new(h: Harness) -> None:
    h.save_invoice()
    first = h.deliver("inv_1")
    h.clock.advance(7 * 86_400)  # every idempotency key has expired

    again = h.deliver("inv_1")

    assert again.status == "synced"
    assert again.stripe_invoice_id == first.stripe_invoice_id
    assert len(h.stripe_invoices("inv_1")) == 1
    assert again.calls == 1  # one retrieve of the invoice we stored


def test_a_500_saved_under_the_key_is_not_retried_blindly(h: Harness) -> None:
    h.save_invoice()
    h.double.fail_after_apply(method="POST", path="/v1/invoices")  # created, but the reply is a 500

    result = h.deliver("inv_1")

    assert result.status == "synced"
    assert len(h.stripe_invoices("inv_1")) == 1
    creates = h.double.calls("POST", "/v1/invoices")
    assert len(creates) == 1  # found by listing, never created twice
    assert h.double.calls("GET", "/v1/invoices")  # after the failure the worker re-read Stripe


def test_our_draft_is_found_past_the_first_page_of_the_customers_invoices() -> None:
    with harness(max_network_retries=0) as h:
        h.add_customer()
        _found_past_the_first_page(h)


def _found_past_the_first_page(h: Harness) -> None:
    h.save_invoice()
    h.double.drop_after_apply(method="POST", path="/v1/invoices")  # created, but the reply never arrives
    h.deps.max_rounds = 1
    with pytest.raises(RetryableError):
        h.deliver("inv_1")
    h.deps.max_rounds = 3
    for number in range(150):  # newer invoices of the same customer push ours onto the second page
        h.gateway.create_invoice(
            {"customer": STRIPE_CUSTOMER, "currency": "usd", "metadata": {"other": str(number)}},
            idempotency_key=f"other-{number}",
        )
    h.clock.advance(600)

    result = h.deliver("inv_1")

    assert result.status == "synced"
    assert len(h.stripe_invoices("inv_1")) == 1
    pages = h.double.calls("GET", "/v1/invoices")
    assert any("starting_after" in page.params for page in pages)


def test_resume_adds_only_the_missing_items(h: Harness) -> None:
    h.add_customer()
    h.save_invoice(line_items=lines(3), subtotal="3.00", total="3.00", applied_credits=[])
    h.stripe.survive = 2  # create + add_lines… then the process dies before finalize
    with pytest.raises(BaseException, match="crash"):
        h.deliver("inv_1")
    h.stripe.survive = None
    h.clock.advance(600)  # the lease expires; SQS redelivers

    result = h.deliver("inv_1")

    assert result.status == "synced"
    invoice = h.only_stripe_invoice("inv_1")
    assert invoice["total"] == 300
    assert len(h.double.invoice_items(invoice=invoice["id"])) == 3
    assert len(h.double.calls("POST", r"/v1/invoices/.*/add_lines")) == 1


def test_leave_as_draft_then_a_higher_version_replaces_the_draft(h: Harness) -> None:
    h.add_customer(leave_as_draft=True)
    h.save_invoice()
    first = h.deliver("inv_1")
    assert first.status == "draft"
    draft = h.only_stripe_invoice("inv_1")
    assert (draft["status"], draft["auto_advance"]) == ("draft", False)

    h.save_invoice(version=8, line_items=lines(2), subtotal="2.00", total="2.00", applied_credits=[])
    second = h.deliver("inv_1")

    assert second.status == "draft"
    replaced = h.only_stripe_invoice("inv_1")
    assert replaced["total"] == 200
    assert replaced["metadata"]["downbeat_invoice_version"] == "8"


def test_a_higher_version_replaces_the_items_of_the_same_stripe_draft(h: Harness) -> None:
    h.add_customer(leave_as_draft=True)
    h.save_invoice()
    first = h.deliver("inv_1")
    h.gateway.create_invoice_item(  # someone adds a line to the draft by hand
        {"customer": STRIPE_CUSTOMER, "invoice": first.stripe_invoice_id, "amount": 5}, idempotency_key="by-hand"
    )

    h.save_invoice(version=8, line_items=lines(2), subtotal="2.00", total="2.00", applied_credits=[])
    second = h.deliver("inv_1")

    assert (second.status, second.stripe_invoice_id) == ("draft", first.stripe_invoice_id)  # the same draft
    draft = h.only_stripe_invoice("inv_1")
    assert (draft["id"], draft["total"]) == (first.stripe_invoice_id, 200)
    assert draft["metadata"]["downbeat_invoice_version"] == "8"
    items = h.double.invoice_items(invoice=draft["id"])
    assert sorted((i["amount"], i["metadata"]["downbeat_invoice_version"]) for i in items) == [(100, "8"), (100, "8")]
    assert [i["amount"] for i in h.double.invoice_items(pending=True)] == [5]  # not ours: unassigned, not deleted
    assert h.double.calls("DELETE") == []
    sync = h.store.get_sync("inv_1")
    assert sync is not None
    assert sync.provider_ids == {"stripe_invoice_id": first.stripe_invoice_id}


def test_a_crash_while_replacing_a_drafts_items_resumes_on_the_same_draft(h: Harness) -> None:
    h.add_customer(leave_as_draft=True)
    h.save_invoice()
    first = h.deliver("inv_1")
    h.save_invoice(version=8, line_items=lines(2), subtotal="2.00", total="2.00", applied_credits=[])
    h.stripe.survive = 4  # retrieve, list lines, update the draft, remove the old items; die before adding
    with pytest.raises(BaseException, match="crash"):
        h.deliver("inv_1")
    h.stripe.survive = None
    h.clock.advance(600)

    result = h.deliver("inv_1")

    assert (result.status, result.stripe_invoice_id) == ("draft", first.stripe_invoice_id)
    draft = h.only_stripe_invoice("inv_1")
    assert draft["total"] == 200
    assert len(h.double.invoice_items(invoice=draft["id"])) == 2


def test_send_invoice_sends_days_until_due(h: Harness) -> None:
    h.add_customer(stripe_collection_method="send_invoice", days_until_due=14)
    h.save_invoice()
    h.deliver("inv_1")
    create = h.double.calls("POST", "/v1/invoices")[0]
    assert create.params["collection_method"] == "send_invoice"
    assert create.params["days_until_due"] == "14"
    assert h.only_stripe_invoice("inv_1")["collection_method"] == "send_invoice"


def test_charge_automatically_never_sends_days_until_due(h: Harness) -> None:
    h.save_invoice()
    h.deliver("inv_1")
    assert "days_until_due" not in h.double.calls("POST", "/v1/invoices")[0].params


def test_automatic_tax_leaves_effective_at_unset_and_checks_total_excluding_tax(h: Harness) -> None:
    h.add_customer(automatic_tax=True)
    h.save_invoice()

    result = h.deliver("inv_1")

    invoice = h.only_stripe_invoice("inv_1")
    assert result.status == "synced"
    assert invoice["total_excluding_tax"] == 123456
    assert invoice["total"] > 123456  # the double adds tax
    assert invoice["effective_at"] != FEB_28_NOON_UTC  # Stripe's finalization time instead
    assert "tax" in result.reason
    assert all(item["amount"] >= 0 for item in h.double.invoice_items(invoice=invoice["id"]))


def test_a_missing_stripe_customer_fails_permanently_naming_invoice_and_code(h: Harness) -> None:
    h.add_customer()
    h.store.customers.pop("cust_acme")
    gone = configuration(
        {"billing_provider": "stripe", "configuration": {"stripe_customer_id": "cus_gone"}}, default=True
    )
    h.store.create_customer(customer("cust_acme", gone))
    h.save_invoice()

    result = h.deliver("inv_1")

    assert result.status == "failed"
    assert result.failure_code == "resource_missing"
    assert "inv_1" in result.reason
    assert "resource_missing" in result.reason
    sync = h.store.get_sync("inv_1")
    assert sync is not None
    assert sync.status == "failed"


def test_rate_limit_backs_off_then_succeeds(h: Harness) -> None:
    h.save_invoice()
    h.double.rate_limited(method="POST", path=r"/v1/invoices/.*/add_lines", times=1)

    result = h.deliver("inv_1")

    assert result.status == "synced"
    assert h.slept
    assert sum(h.slept) <= 4.0
    assert len(h.stripe_invoices("inv_1")) == 1


def test_persistent_rate_limit_hands_the_record_back(h: Harness) -> None:
    h.save_invoice()
    h.double.rate_limited(method="POST", path="/v1/invoices", times=None)

    with pytest.raises(RetryableError):
        h.deliver("inv_1")

    sync = h.store.get_sync("inv_1")
    assert sync is not None
    assert sync.status == "pending"
    assert "retried" in (sync.reason or "")
    state = h.store.get_stripe_sync("inv_1")
    assert state is not None
    released = h.store.claim("stripe", "inv_1", now=h.now(), until=h.now())  # the run let its lease go
    assert released is not None
    h.store.hand_back(released, now=h.now())
    h.double.clear_faults()
    assert h.deliver("inv_1").status == "synced"
    assert len(h.stripe_invoices("inv_1")) == 1


def test_a_409_once_the_sdks_retries_are_spent_backs_off_then_hands_the_record_back(h: Harness) -> None:
    h.save_invoice()
    conflict = {"type": "invalid_request_error", "code": "idempotency_key_in_use", "message": "busy"}
    h.double.fail_before(method="POST", path=r"/v1/invoices/.*/add_lines", status=409, error=conflict, times=None)

    with pytest.raises(RetryableError) as raised:
        h.deliver("inv_1")

    assert raised.value.code == "idempotency_key_in_use"
    assert h.slept  # backed off with jitter before handing back, as for a 429 rate_limit
    assert sum(h.slept) <= h.deps.rate_limit_wait_seconds
    adds = h.double.calls("POST", r"/v1/invoices/.*/add_lines")
    assert len(adds) == 3 * len(h.slept) + 3  # each round: the request and the SDK's 2 retries
    sync = h.store.get_sync("inv_1")
    assert sync is not None
    assert sync.status == "pending"
    h.double.clear_faults()
    h.clock.advance(600)
    assert h.deliver("inv_1").status == "synced"
    assert len(h.stripe_invoices("inv_1")) == 1


class LyingTotals:
    """Stripe's total differs from ours (e.g. a customer discount we did not plan for)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def add_lines(self, invoice_id: str, lines: Any, *, idempotency_key: str) -> StripeInvoiceView:
        view: StripeInvoiceView = self.inner.add_lines(invoice_id, lines, idempotency_key=idempotency_key)
        return StripeInvoiceView(**{**view.__dict__, "total": view.total - 100})


def test_total_mismatch_deletes_the_draft_and_fails_with_both_totals(h: Harness) -> None:
    h.deps.stripe = LyingTotals(h.stripe)
    h.save_invoice()

    result = h.deliver("inv_1")

    assert result.status == "failed"
    assert result.failure_code == "total_mismatch"
    assert "1233.56 USD" in result.reason
    assert "1234.56 USD" in result.reason
    assert h.stripe_invoices("inv_1") == []


def test_higher_version_after_finalizing_same_total_is_a_no_op_and_different_total_fails(h: Harness) -> None:
    h.save_invoice()
    first = h.deliver("inv_1")
    h.save_invoice(version=8, custom_fields={"region": "us"})
    same = h.deliver("inv_1")
    assert same.status == "synced"
    assert same.stripe_invoice_id == first.stripe_invoice_id

    h.save_invoice(version=9, total="1000.00", applied_credits=[{"id": "c", "type": "PREPAID", "amount": "530.00"}])
    different = h.deliver("inv_1")

    assert different.status == "failed"
    assert different.failure_code == "finalized_total_differs"
    assert "1000.00 USD" in different.reason
    assert "1234.56 USD" in different.reason
    assert len(h.stripe_invoices("inv_1")) == 1


def test_void_voids_a_finalized_invoice_and_deletes_a_draft(h: Harness) -> None:
    h.save_invoice()
    h.deliver("inv_1")
    h.save_invoice(version=8, status="VOID")
    voided = h.deliver("inv_1", action="void")
    assert voided.status == "voided"
    assert h.only_stripe_invoice("inv_1")["status"] == "void"

    h.add_customer(leave_as_draft=True)
    h.save_invoice(id="inv_2")
    h.deliver("inv_2")
    h.save_invoice(id="inv_2", version=8, status="VOID")
    assert h.deliver("inv_2", action="void").status == "voided"
    assert h.stripe_invoices("inv_2") == []


def test_void_of_an_invoice_never_sent_touches_nothing(h: Harness) -> None:
    h.save_invoice(status="VOID")
    assert h.deliver("inv_1", action="void").status == "voided"
    assert h.double.requests == []


def test_skip_below_minimum(h: Harness) -> None:
    h.add_customer(skip_below_minimum=True)
    h.save_invoice(total="0.49", subtotal="0.49", applied_credits=[], line_items=lines(1, total="0.49"))
    result = h.deliver("inv_1")
    assert result.status == "skipped"
    assert "minimum" in result.reason
    assert h.double.requests == []


def test_300_lines_collapse_per_product_in_one_add_lines_call(h: Harness) -> None:
    h.save_invoice(line_items=lines(300, products=3), subtotal="300.00", total="300.00", applied_credits=[])
    result = h.deliver("inv_1")
    invoice = h.only_stripe_invoice("inv_1")
    assert (result.status, invoice["total"]) == ("synced", 30000)
    assert len(h.double.invoice_items(invoice=invoice["id"])) == 3
    assert result.calls == 3


def test_a_concurrent_delivery_is_turned_away_while_the_lease_is_held(h: Harness) -> None:
    h.save_invoice()
    h.stripe.survive = 1
    with pytest.raises(BaseException, match="crash"):
        h.deliver("inv_1")
    h.stripe.survive = None
    with pytest.raises(RetryableError, match="another run"):
        h.deliver("inv_1")
    h.clock.advance(180)
    assert h.deliver("inv_1").status == "synced"
    assert len(h.stripe_invoices("inv_1")) == 1


def test_invoice_items_fallback_without_add_lines(h: Harness) -> None:
    h.deps.bulk_lines = False
    h.save_invoice()
    result = h.deliver("inv_1")
    assert result.status == "synced"
    assert h.only_stripe_invoice("inv_1")["total"] == 123456
    assert len(h.double.calls("POST", "/v1/invoiceitems")) == 2
