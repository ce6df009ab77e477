"""Reconciliation with Stripe: walk our customers and their invoices, read Stripe, report differences.

The rules are shared.domain.reconciliation's. Per customer with a Stripe configuration: one
listing of the Stripe customer's invoices (all pages), our invoices from the invoice index and
each one's sync record. `functions/reconciler` runs this daily; `downbeat reconcile` on demand.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from shared.domain.customers import Customer
from shared.domain.invoice import Invoice
from shared.domain.invoice_listing import InvoiceListing, InvoiceQuery
from shared.domain.paging import MAX_LIMIT, Page, PageRequest
from shared.domain.providers import StripeConfiguration
from shared.domain.reconciliation import (
    CHECKED_STATUSES,
    METADATA_INVOICE_ID,
    Difference,
    ExpectedStripeInvoice,
    stripe_differences,
    unrecorded_invoices,
)
from shared.domain.stripe_amounts import stripe_amount
from shared.domain.stripe_plan import effective_at
from shared.domain.sync import SyncRecord
from shared.ports.store import CustomerReads, SyncReads
from shared.ports.stripe import StripeInvoices, StripeInvoiceView

Progress = Callable[[int], None]  # called with the number of invoices checked so far


class ReconcilerStore(CustomerReads, SyncReads, Protocol):
    """What reconciliation reads: customers, their invoices, the sync records."""

    def list_customers(self, page: PageRequest) -> Page[Customer]: ...
    def list_invoices(self, customer_id: str, query: InvoiceQuery, page: PageRequest) -> Page[InvoiceListing]: ...


class UnknownCustomer(LookupError):
    """`--customer` names no customer."""


@dataclass(frozen=True)
class ReconcilerDependencies:
    store: ReconcilerStore
    stripe: StripeInvoices


@dataclass
class Report:
    differences: list[Difference] = field(default_factory=list)
    checked: int = 0  # our invoices compared with Stripe

    def summary(self) -> dict[str, int]:
        return {"checked": self.checked, "differences": len(self.differences)}


def expected_for(invoice: Invoice, sync: SyncRecord, configuration: StripeConfiguration) -> ExpectedStripeInvoice:
    stamp, _ = effective_at(invoice, configuration)
    recorded = sync.provider_ids.get("stripe_invoice_id")
    return ExpectedStripeInvoice(
        invoice_id=invoice.id,
        sync_status=sync.status,
        stripe_invoice_id=recorded if isinstance(recorded, str) else None,
        currency=invoice.currency,
        total=stripe_amount(invoice.total, invoice.currency),
        total_field="total_excluding_tax" if configuration.automatic_tax else "total",
        effective_at=stamp,
    )


def reconcile_stripe(
    deps: ReconcilerDependencies,
    *,
    since: datetime | None = None,
    customer_id: str | None = None,
    progress: Progress | None = None,
) -> Report:
    """Every difference between our Stripe records and Stripe, for one customer or all."""
    report = Report()
    for customer in customers_to_check(deps.store, customer_id):
        stripe_configuration = customer.configuration_for("stripe")
        if stripe_configuration is None or not isinstance(stripe_configuration.configuration, StripeConfiguration):
            continue
        configuration = stripe_configuration.configuration
        found = deps.stripe.list_invoices(configuration.stripe_customer_id)
        by_invoice: dict[str, list[StripeInvoiceView]] = {}
        for stripe_invoice in found:
            invoice_id = stripe_invoice.metadata.get(METADATA_INVOICE_ID)
            if invoice_id is not None:
                by_invoice.setdefault(invoice_id, []).append(stripe_invoice)
        recorded: set[str] = set()
        for invoice in customer_invoices(deps.store, customer.id):
            sync = deps.store.get_sync(invoice.id)
            if sync is None or sync.provider != "stripe":
                continue
            recorded.add(invoice.id)
            if sync.status not in CHECKED_STATUSES or (since is not None and invoice.end_timestamp < since):
                continue
            expected = expected_for(invoice, sync, configuration)
            report.differences += stripe_differences(expected, by_invoice.get(invoice.id, []))
            report.checked += 1
            if progress is not None:
                progress(report.checked)
        report.differences += unrecorded_invoices(found, recorded, since)
    return report


def customers_to_check(store: ReconcilerStore, customer_id: str | None) -> Iterator[Customer]:
    if customer_id is not None:
        customer = store.get_customer(customer_id)
        if customer is None:
            raise UnknownCustomer(f"no customer {customer_id!r}")
        yield customer
        return
    cursor = None
    while True:
        page = store.list_customers(PageRequest(MAX_LIMIT, cursor))
        yield from page.items
        if page.next_page is None:
            return
        cursor = page.next_page


def customer_invoices(store: ReconcilerStore, customer_id: str) -> Iterator[Invoice]:
    cursor = None
    while True:
        page = store.list_invoices(customer_id, InvoiceQuery(), PageRequest(MAX_LIMIT, cursor))
        yield from (listing.invoice for listing in page.items)
        if page.next_page is None:
            return
        cursor = page.next_page
