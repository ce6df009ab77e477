"""Golden tests for the Stripe plan: amounts, residue, collapse, credits, minimums, calls and keys."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.invoice import Invoice, InvoiceEvent
from shared.domain.money import round_to_currency
from shared.domain.providers import StripeConfiguration
from shared.domain.stripe_amounts import stripe_amount, stripe_step
from shared.domain.stripe_items import MAX_ITEMS_PER_INVOICE
from shared.domain.stripe_plan import PlanOutcome, StripePlan, chunks, idempotency_key, plan_stripe_invoice
from tests.builders import invoice_event


def invoice(**overrides: Any) -> Invoice:
    return InvoiceEvent.model_validate(invoice_event(**overrides)).detail


def plan(config: dict[str, Any] | None = None, **overrides: Any) -> StripePlan:
    configuration = StripeConfiguration.model_validate({"stripe_customer_id": "cus_N1", **(config or {})})
    return plan_stripe_invoice(invoice(**overrides), configuration)


def line(
    index: int, total: str, *, quantity: str = "1", unit_price: str | None = None, product: str | None = None
) -> dict[str, Any]:
    return {
        "id": f"li_{index}",
        "name": f"Line {index}",
        "product_id": product,
        "quantity": quantity,
        "unit_price": unit_price,
        "total": total,
    }


def amounts(result: StripePlan) -> list[int]:
    return [item.amount for item in result.items]


# ---- golden: currencies -------------------------------------------------------------------------


def test_usd_golden_plan() -> None:
    result = plan()  # 1 line of 1530.0045 USD, 295.44 prepaid, total 1234.56, Feb 2025

    assert result.outcome is PlanOutcome.PUSH
    assert result.total == 123456
    assert [(item.key, item.amount, item.description) for item in result.items] == [
        ("li_1", 153000, "API calls (1,530,004.5 x 0.001 USD)"),
        ("credit:commit_9", -29544, "Applied prepaid commit_9"),
    ]
    assert result.residue == 0
    assert result.draft_params == {
        "customer": "cus_N1",
        "currency": "usd",
        "collection_method": "charge_automatically",
        "auto_advance": False,
        "pending_invoice_items_behavior": "exclude",
        "description": "Service period 2025-02-01 to 2025-02-28 (downbeat invoice inv_1)",
        "metadata": {"downbeat_invoice_id": "inv_1", "downbeat_invoice_version": "7"},
        "effective_at": 1740744000,  # 2025-02-28T12:00:00Z
    }
    calls = result.calls(attempt=1)
    assert [(call.step, call.method, call.path, call.idempotency_key) for call in calls] == [
        ("create_draft", "POST", "/v1/invoices", "downbeat:inv_1:v7:create_draft:a1"),
        ("add_lines_1", "POST", "/v1/invoices/{stripe_invoice_id}/add_lines", "downbeat:inv_1:v7:add_lines_1:a1"),
        ("finalize", "POST", "/v1/invoices/{stripe_invoice_id}/finalize", "downbeat:inv_1:v7:finalize:a1"),
    ]
    assert calls[1].params["lines"][0] == {
        "amount": 153000,
        "description": "API calls (1,530,004.5 x 0.001 USD)",
        "period": {"start": 1738368000, "end": 1740787200},
        "metadata": {"downbeat_invoice_id": "inv_1", "downbeat_invoice_version": "7", "downbeat_item": "li_1"},
    }
    assert calls[2].params == {"auto_advance": True}


def test_eur_residue_goes_onto_the_largest_positive_item() -> None:
    # 3 x 0.333 rounds to 3 x 0.33 = 0.99; the total is 0.999 -> 1.00: one cent of residue.
    result = plan(
        currency="EUR",
        line_items=[line(0, "0.333"), line(1, "0.3334"), line(2, "0.333")],
        subtotal="0.9994",
        total="1.00",
        applied_credits=[],
    )
    assert result.total == 100
    assert amounts(result) == [34, 33, 33]  # equal amounts: the first one takes it
    assert (result.residue, result.residue_item) == (1, "li_0")
    assert sum(amounts(result)) == result.total


def test_jpy_negative_residue_and_zero_decimal_amounts() -> None:
    # 0.5 JPY rounds half-up to 1 three times (3); the total is round(1.5) = 2.
    result = plan(
        currency="JPY",
        line_items=[line(0, "0.5"), line(1, "0.5"), line(2, "1000.5")],
        subtotal="1001.5",
        total="952",
        applied_credits=[{"id": "credit_1", "type": "CREDIT", "amount": "50", "name": "Welcome credit"}],
    )
    assert result.total == 952
    assert amounts(result) == [1, 1, 1000, -50]  # 1001 went onto the largest line
    assert result.residue == -1
    assert result.items[3].description == "Applied Welcome credit"
    assert result.draft_params["currency"] == "jpy"


def test_kwd_amounts_are_multiples_of_ten_rounded_half_up_once() -> None:
    result = plan(
        currency="KWD",
        line_items=[line(0, "1.2345"), line(1, "2.0004")],
        subtotal="3.2349",
        total="3.235",
        applied_credits=[],
    )
    # 1.2345 -> 1.23 (1230), 2.0004 -> 2.00 (2000); total 3.235 -> 3.24 (3240); residue 10.
    assert result.total == 3240
    assert amounts(result) == [1230, 2010]
    assert all(amount % 10 == 0 for amount in amounts(result))
    assert result.residue == 10


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("1530.0045", "USD", 153000),
        ("0.005", "USD", 1),
        ("12.345", "EUR", 1235),
        ("1234", "JPY", 1234),
        ("0.5", "JPY", 1),
        ("1.2345", "KWD", 1230),
        ("1.235", "KWD", 1240),  # rounded once: 1.235 -> 1.24, never 1.2345 -> 1.235 -> 1.24 by luck
        ("1.2349", "KWD", 1230),
        ("5", "ISK", 500),  # zero-decimal for us, two-decimal on Stripe's wire
    ],
)
def test_stripe_amounts(amount: str, currency: str, expected: int) -> None:
    assert stripe_amount(Decimal(amount), currency) == expected


# ---- golden: lines ----------------------------------------------------------------------------


def test_one_line_no_credit() -> None:
    result = plan(line_items=[line(0, "10.00")], subtotal="10.00", total="10.00", applied_credits=[])
    assert [(item.key, item.amount, item.description) for item in result.items] == [("li_0", 1000, "Line 0")]
    assert len(result.calls()) == 3


def test_fractional_quantity_goes_as_one_amount_with_the_quantity_in_the_description() -> None:
    result = plan(
        line_items=[line(0, "3.75", quantity="2.5", unit_price="1.5"), line(1, "6.00", quantity="3")],
        subtotal="9.75",
        total="9.75",
        applied_credits=[],
    )
    assert [item.description for item in result.items] == ["Line 0 (2.5 x 1.5 USD)", "Line 1 (quantity 3)"]
    for params in result.calls()[1].params["lines"]:
        assert set(params) == {"amount", "description", "period", "metadata"}  # never quantity or unit price


def test_300_lines_over_3_products_collapse_per_product() -> None:
    many = [line(index, "1.005", product=f"prod_{index % 3}") for index in range(300)]
    result = plan(line_items=many, subtotal="301.5", total="301.50", applied_credits=[])

    assert result.collapsed_from == 300
    assert [(item.key, item.amount) for item in result.items] == [
        ("product:prod_0", 10050),
        ("product:prod_1", 10050),
        ("product:prod_2", 10050),
    ]
    assert result.items[0].description.startswith("Line 0 and 99 other line names: 100 lines of product prod_0")
    assert sum(amounts(result)) == result.total


def test_300_lines_of_300_products_keep_the_largest_and_merge_the_rest() -> None:
    many = [line(index, f"{index + 1}.00", product=f"prod_{index}") for index in range(300)]
    subtotal = sum(range(1, 301))
    result = plan(line_items=many, subtotal=f"{subtotal}.00", total=f"{subtotal - 10}.00",
                  applied_credits=[{"id": "c1", "type": "CREDIT", "amount": "10.00"}])  # fmt: skip

    assert len(result.items) == MAX_ITEMS_PER_INVOICE
    assert result.items[-1].key == "credit:c1"
    other = result.items[-2]
    assert other.key == "other"
    assert other.amount == sum(range(1, 53)) * 100  # 248 lines + "other" + the credit = 250 items
    assert "52 lines across 52 products" in other.description
    assert sum(amounts(result)) == result.total
    assert [len(chunk) for chunk in chunks(result.items)] == [250]
    assert [len(chunk) for chunk in chunks(result.items, 100)] == [100, 100, 50]


def test_residue_beyond_rounding_fails_with_both_totals_and_sends_nothing() -> None:
    result = plan(line_items=[line(0, "10.00")], subtotal="10.00", total="9.00", applied_credits=[])
    assert result.outcome is PlanOutcome.FAIL
    assert "9.00 USD" in result.reason
    assert "10.00 USD" in result.reason
    assert result.calls() == []


# ---- golden: configuration ----------------------------------------------------------------------


def test_send_invoice_sends_days_until_due() -> None:
    result = plan({"stripe_collection_method": "send_invoice", "days_until_due": 14})
    assert result.draft_params["collection_method"] == "send_invoice"
    assert result.draft_params["days_until_due"] == 14
    assert "days_until_due" not in plan().draft_params


def test_leave_as_draft_stops_before_finalizing() -> None:
    result = plan({"leave_as_draft": True})
    assert result.finalize is False
    assert [call.step for call in result.calls()] == ["create_draft", "add_lines_1", "check_total"]
    assert result.draft_params["auto_advance"] is False


def test_automatic_tax_takes_credits_off_the_largest_lines() -> None:
    result = plan(
        {"automatic_tax": True},
        line_items=[line(0, "100.00"), line(1, "300.00")],
        subtotal="400.00",
        total="50.00",
        applied_credits=[{"id": "c1", "type": "PREPAID", "amount": "350.00"}],
    )
    assert amounts(result) == [5000, 0]
    assert result.items[1].description == "Line 1 (less 300.00 USD prepaid c1)"
    assert result.total_field == "total_excluding_tax"


@pytest.mark.parametrize(
    ("currency", "total", "skipped"),
    [("USD", "0.49", True), ("USD", "0.50", False), ("JPY", "49", True), ("JPY", "50", False),
     ("GBP", "0.29", True), ("KWD", "0.000", True), ("KWD", "0.010", False)],
)  # fmt: skip
def test_skip_below_minimum_uses_stripes_minimum_per_currency(currency: str, total: str, skipped: bool) -> None:
    result = plan(
        {"skip_below_minimum": True},
        currency=currency,
        line_items=[line(0, total)],
        subtotal=total,
        total=total,
        applied_credits=[],
    )
    assert (result.outcome is PlanOutcome.SKIP) is skipped
    if skipped:
        assert "minimum" in result.reason or "zero" in result.reason


def test_below_minimum_is_pushed_when_skip_below_minimum_is_off() -> None:
    result = plan(line_items=[line(0, "0.10")], subtotal="0.10", total="0.10", applied_credits=[])
    assert result.outcome is PlanOutcome.PUSH


def test_idempotency_keys_differ_per_step_version_and_attempt_and_stay_short() -> None:
    keys = {idempotency_key("inv_1", version, step, attempt) for version in (1, 2) for step in ("a", "b")
            for attempt in (1, 2)}  # fmt: skip
    assert len(keys) == 8
    assert len(idempotency_key("x" * 256, 7, "add_lines_12", 99)) <= 255


# ---- property: Σ items == total -----------------------------------------------------------------

CURRENCY = st.sampled_from(["USD", "EUR", "JPY", "KWD"])


@st.composite
def consistent_invoices(draw: st.DrawFn) -> tuple[Invoice, bool]:
    currency = draw(CURRENCY)
    count = draw(st.integers(min_value=1, max_value=300))
    totals = draw(
        st.lists(
            st.decimals(min_value=0, max_value=100_000, places=5, allow_nan=False, allow_infinity=False),
            min_size=count,
            max_size=count,
        )
    )
    products = draw(st.integers(min_value=1, max_value=300))
    items = [line(index, str(total), product=f"p{index % products}") for index, total in enumerate(totals)]
    subtotal = sum(totals, Decimal(0))
    rounded = round_to_currency(subtotal, currency)
    credit = round_to_currency(rounded * draw(st.sampled_from([Decimal(0), Decimal("0.3"), Decimal(1)])), currency)
    credits = [{"id": "c", "type": "PREPAID", "amount": str(credit)}] if credit else []
    tax = draw(st.booleans())
    return (
        invoice(currency=currency, line_items=items, subtotal=str(subtotal), total=str(rounded - credit),
                applied_credits=credits),
        tax,
    )  # fmt: skip


@given(consistent_invoices())
def test_items_always_sum_to_the_total_at_stripes_granularity(case: tuple[Invoice, bool]) -> None:
    parsed, automatic_tax = case
    result = plan_stripe_invoice(parsed, StripeConfiguration(stripe_customer_id="cus_1", automatic_tax=automatic_tax))

    assert result.outcome is PlanOutcome.PUSH
    assert sum(amounts(result)) == result.total == stripe_amount(parsed.total, parsed.currency)
    assert len(result.items) <= MAX_ITEMS_PER_INVOICE
    assert all(amount % stripe_step(parsed.currency) == 0 for amount in amounts(result))
    assert len({item.key for item in result.items}) == len(result.items)
    if automatic_tax:
        assert all(amount >= 0 for amount in amounts(result))


def test_the_residue_bound_counts_the_items_sent_not_the_lines_collapsed_into_them() -> None:
    # 300 lines of 1.00 collapse into 3 items (one per product); a 2.00 gap is no rounding residue
    # of 3 items (at most one minor unit per item), however many lines went into them.
    many = [line(index, "1.00", product=f"prod_{index % 3}") for index in range(300)]
    result = plan(line_items=many, subtotal="300.00", total="302.00", applied_credits=[])

    assert result.outcome is PlanOutcome.FAIL
    assert "302.00 USD" in result.reason
    assert "300.00 USD" in result.reason
    assert result.calls() == []


def test_collapsed_items_still_absorb_a_rounding_residue() -> None:
    # 300 lines of 0.005 over 3 products: 0.50 per product, total 1.50: Σ items = total, no residue.
    many = [line(index, "0.005", product=f"prod_{index % 3}") for index in range(300)]
    result = plan(line_items=many, subtotal="1.500", total="1.50", applied_credits=[])
    assert result.outcome is PlanOutcome.PUSH
    assert sum(amounts(result)) == result.total == 150
