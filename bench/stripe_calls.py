"""Stripe calls per invoice and per-invoice CPU time (excluding the Stripe double), by line count.

Goal: calls ≤ 3 + ⌈N / bulk cap⌉. The worker runs against the in-process Stripe double
over loopback with the real SDK; CPU time is the worker thread's own (`time.thread_time`), so the
double's request handling (its own threads) is not counted, while SDK encoding and decoding are.
"""

from __future__ import annotations

import math
import time
from decimal import Decimal
from typing import Any

from shared.domain.invoice import InvoiceEvent
from shared.domain.providers import StripeConfiguration
from shared.domain.stripe_plan import ADD_LINES_MAX_PER_CALL, plan_stripe_invoice
from tests.builders import invoice_event
from tests.integration.stripe_harness import harness, lines

LINE_COUNTS = (1, 10, 100, 300)
INVOICES_PER_SIZE = 10


def _detail(count: int, number: int, products: int | None) -> dict[str, Any]:
    items = lines(count, products=products, total="1.25")
    subtotal = Decimal("1.25") * count
    return {"id": f"inv_{count}_{products}_{number}", "line_items": items, "subtotal": str(subtotal),
            "total": str(subtotal), "applied_credits": []}  # fmt: skip


def main() -> None:
    header = (
        f"{'lines':>6} {'products':>9} {'items':>6} {'calls':>6} {'goal':>5} {'redelivery':>11} "
        f"{'plan ms':>8} {'sync CPU ms':>12}"
    )
    print(header)
    print("-" * len(header))
    configuration = StripeConfiguration(stripe_customer_id="cus_N1")
    with harness() as h:
        h.add_customer()
        for count in LINE_COUNTS:
            for products in (None, 3) if count == 300 else (None,):
                calls, redelivery, plan_cpu, sync_cpu, items = [], [], 0.0, 0.0, 0
                for number in range(INVOICES_PER_SIZE):
                    detail = _detail(count, number, products)
                    invoice = InvoiceEvent.model_validate(invoice_event(**detail)).detail
                    started = time.thread_time()
                    items = len(plan_stripe_invoice(invoice, configuration).items)
                    plan_cpu += time.thread_time() - started
                    invoice_id = h.save_invoice(**detail)
                    before = len(h.double.requests)
                    started = time.thread_time()
                    h.deliver(invoice_id)
                    sync_cpu += time.thread_time() - started
                    calls.append(len(h.double.requests) - before)
                    h.clock.advance(7 * 86_400)
                    before = len(h.double.requests)
                    h.deliver(invoice_id)
                    redelivery.append(len(h.double.requests) - before)
                goal = 3 + math.ceil(count / ADD_LINES_MAX_PER_CALL)
                label = "distinct" if products is None else str(products)
                print(
                    f"{count:>6} {label:>9} {items:>6} {max(calls):>6} {goal:>5} {max(redelivery):>11} "
                    f"{1000 * plan_cpu / INVOICES_PER_SIZE:>8.2f} {1000 * sync_cpu / INVOICES_PER_SIZE:>12.2f}"
                )
    print(f"\nbulk cap (add_lines lines per call): {ADD_LINES_MAX_PER_CALL}; invoices per row: {INVOICES_PER_SIZE}")
    print("calls: a first delivery; redelivery: the same invoice delivered again a week later (keys expired)")


if __name__ == "__main__":
    main()
