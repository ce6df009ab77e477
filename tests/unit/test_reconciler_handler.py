"""The reconciler function: the report's summary as its result, the difference count as a metric."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from functions.reconciler.handler import lambda_handler
from local.lambda_context import LocalLambdaContext
from shared.domain.invoice import InvoiceEvent
from shared.domain.sync import SyncAttempt
from shared.ports.stripe import StripeInvoiceView
from shared.services.reconcile import ReconcilerDependencies
from shared.services.reconcile_marketplace import MarketplaceReconcilerDependencies
from tests.builders import STRIPE, configuration, customer, invoice_event
from tests.fakes.memory_store import InMemoryStore

NOW = datetime(2025, 3, 2, tzinfo=UTC)


class ListingOnly:
    """A Stripe account as reconciliation reads it: `list_invoices` only."""

    calls = 0

    def __init__(self, invoices: list[StripeInvoiceView]) -> None:
        self.invoices = invoices

    def list_invoices(self, customer: str) -> list[StripeInvoiceView]:
        self.calls += 1
        return [invoice for invoice in self.invoices if invoice.customer == customer]

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"reconciliation must only read Stripe, not call {name}")


def test_a_missing_invoice_is_counted(capsys: pytest.CaptureFixture[str]) -> None:
    store = InMemoryStore()
    store.create_customer(customer("cust_acme", configuration(STRIPE, default=True)))
    invoice = InvoiceEvent.model_validate(invoice_event()).detail
    store.save_invoice(invoice, NOW)
    store.record_sync(
        invoice.id,
        provider="stripe",
        status="synced",
        reason=None,
        attempt=SyncAttempt(at=NOW, outcome="synced"),
        provider_ids={"stripe_invoice_id": "in_gone"},
    )
    stripe = ListingOnly([])
    marketplaces = MarketplaceReconcilerDependencies(store, read_back={}, clock=lambda: NOW)
    deps = ReconcilerDependencies(store, stripe)
    result = lambda_handler({}, LocalLambdaContext("reconciler"), deps=deps, marketplaces=marketplaces)
    # Azure without credentials is neither metered nor read back: it is left out, and says so in the log.
    assert result == {
        "providers": {
            "stripe": {"checked": 1, "differences": 1},
            "aws_marketplace": {"checked": 0, "differences": 0},
        }
    }
    assert stripe.calls == 1
    out = capsys.readouterr().out
    metrics = [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]
    assert next(m for m in metrics if "ReconciliationDifferences" in m)["ReconciliationDifferences"] == [1.0]
    assert next(m for m in metrics if "ReconciliationDifferencesByKind" in m)["kind"] == "missing"
