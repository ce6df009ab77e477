"""Reconciliation rules: each kind of difference from one recorded invoice and what Stripe holds."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from shared.domain.reconciliation import ExpectedStripeInvoice, stripe_differences, unrecorded_invoices
from shared.ports.stripe import StripeInvoiceView

EXPECTED = ExpectedStripeInvoice(
    invoice_id="inv_1",
    sync_status="synced",
    stripe_invoice_id="in_1",
    currency="USD",
    total=123456,
    total_field="total",
    effective_at=1740744000,
)
OURS = StripeInvoiceView(
    id="in_1", status="open", customer="cus_1", currency="usd", total=123456, total_excluding_tax=123456,
    metadata={"downbeat_invoice_id": "inv_1"}, effective_at=1740744000, created=1740787200,
)  # fmt: skip


def kinds(expected: ExpectedStripeInvoice, *found: StripeInvoiceView) -> list[str]:
    return [difference.kind for difference in stripe_differences(expected, list(found))]


@pytest.mark.parametrize("status", ["open", "paid", "uncollectible"])
def test_a_matching_invoice_has_no_difference(status: str) -> None:
    assert kinds(EXPECTED, replace(OURS, status=status)) == []


def test_each_field_that_differs_is_its_own_row() -> None:
    other = replace(OURS, total=123556, effective_at=1740830400, status="void")
    differences = stripe_differences(EXPECTED, [other])
    assert [(d.kind, d.expected, d.actual) for d in differences] == [
        ("total", "1234.56 USD", "1235.56 USD"),
        ("effective_at", "2025-02-28T12:00:00Z", "2025-03-01T12:00:00Z"),
        ("status", "open or paid or uncollectible (ours: synced)", "void"),
    ]


def test_missing_duplicate_and_the_recorded_id() -> None:
    assert kinds(EXPECTED) == ["missing"]
    assert kinds(EXPECTED, OURS, replace(OURS, id="in_2")) == ["duplicate"]
    assert kinds(EXPECTED, replace(OURS, id="in_other")) == ["missing"]  # ours is gone, another holds the metadata


def test_what_stripe_chooses_is_not_checked_and_automatic_tax_compares_the_total_before_tax() -> None:
    assert kinds(replace(EXPECTED, effective_at=None), replace(OURS, effective_at=1)) == []
    taxed = replace(OURS, total=133456, total_excluding_tax=123456)
    assert kinds(replace(EXPECTED, total_field="total_excluding_tax"), taxed) == []
    assert kinds(EXPECTED, taxed) == ["total"]


def test_drafts_and_voids_agree_with_their_own_statuses() -> None:
    assert kinds(replace(EXPECTED, sync_status="draft"), replace(OURS, status="draft")) == []
    assert kinds(replace(EXPECTED, sync_status="draft"), OURS) == ["status"]
    assert kinds(replace(EXPECTED, sync_status="voided"), replace(OURS, status="void")) == []
    assert kinds(replace(EXPECTED, sync_status="voided")) == []  # a voided draft is deleted in Stripe


def test_unrecorded_invoices_carry_our_metadata_for_an_invoice_never_recorded() -> None:
    stray = replace(OURS, id="in_9", metadata={"downbeat_invoice_id": "inv_9"}, created=1740787200)
    foreign = replace(OURS, id="in_8", metadata={})
    found = unrecorded_invoices([OURS, stray, foreign], {"inv_1"})
    assert [(d.invoice_id, d.kind, d.actual) for d in found] == [("inv_9", "unrecorded", "in_9")]
    assert unrecorded_invoices([stray], {"inv_1"}, since=datetime(2025, 3, 2, tzinfo=UTC)) == []
