"""The Stripe plan for invoices with a month of hourly buckets: at most 250 items (collapsed per
product past that), Σ items = the invoice total, and the buckets never change an amount."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shared.domain.invoice import InvoiceEvent
from shared.domain.invoice_listing import invoice_without_buckets
from shared.domain.providers import StripeConfiguration
from shared.domain.stripe_amounts import stripe_amount
from shared.domain.stripe_items import MAX_ITEMS_PER_INVOICE
from shared.domain.stripe_plan import PlanOutcome, plan_stripe_invoice
from tests.builders import large_invoice_event

CONFIGURATION = StripeConfiguration.model_validate({"stripe_customer_id": "cus_N1"})


@pytest.mark.slow
@pytest.mark.parametrize(("lines", "products", "collapsed"), [(50, 10, False), (300, 40, True)])
def test_hourly_invoices_fit_one_stripe_invoice(lines: int, products: int, collapsed: bool) -> None:
    invoice = InvoiceEvent.model_validate(large_invoice_event(lines, 720, products=products)).detail
    assert sum(len(line.buckets) for line in invoice.line_items) == lines * 720
    plan = plan_stripe_invoice(invoice, CONFIGURATION)

    assert plan.outcome is PlanOutcome.PUSH
    assert len(plan.items) <= MAX_ITEMS_PER_INVOICE
    assert sum(item.amount for item in plan.items) == plan.total == stripe_amount(invoice.total, "USD")
    if collapsed:
        assert plan.collapsed_from == lines
        assert len(plan.items) == products  # one item per product
        assert all(item.kind == "collapsed" for item in plan.items)
        assert all("collapsed into one" in item.description for item in plan.items)
        per_product: dict[str, Decimal] = {}
        for line in invoice.line_items:
            per_product[str(line.product_id)] = per_product.get(str(line.product_id), Decimal(0)) + line.total
        # Each item is its product's exact sum, rounded; only the largest may also carry the residue.
        differences = [
            item.amount - stripe_amount(per_product[item.key.removeprefix("product:")], "USD") for item in plan.items
        ]
        assert sum(differences) == plan.residue
        assert len([difference for difference in differences if difference]) <= 1
    else:
        assert plan.collapsed_from is None
        assert [item.key for item in plan.items] == [line.id for line in invoice.line_items]
    # The worker reads the invoice without its buckets: the plan is the same.
    assert plan_stripe_invoice(invoice_without_buckets(invoice), CONFIGURATION) == plan
