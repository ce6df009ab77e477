"""Invoices as stored (latest version) and their sync status with the billing provider."""

from __future__ import annotations

from datetime import datetime

from shared.domain.invoice import Invoice
from shared.domain.invoice_listing import InvoiceListing, InvoiceQuery
from shared.domain.paging import Page, PageRequest
from shared.domain.subscriptions import MeteringGate
from shared.domain.sync import SyncRecord
from shared.ports.meter_store import MeterInvoice
from shared.services.api_dependencies import ApiDependencies
from shared.services.api_errors import NotFound
from shared.services.marketplace_sync_status import invoice_gate, live_sync_status, subscription_of


def list_invoices(
    deps: ApiDependencies, customer_id: str, query: InvoiceQuery, page: PageRequest
) -> Page[InvoiceListing]:
    if deps.store.get_customer(customer_id) is None:
        raise NotFound(f"customer {customer_id!r} not found")
    return deps.store.list_invoices(customer_id, query, page)


def get_invoice(deps: ApiDependencies, customer_id: str, invoice_id: str) -> Invoice:
    """With every line, without their buckets (the breakdowns API serves those)."""
    invoice = deps.store.get_invoice(invoice_id, buckets=False)
    if invoice is None or invoice.customer_id != customer_id:  # another customer's invoice is not there
        raise NotFound(f"invoice {invoice_id!r} not found for customer {customer_id!r}")
    return invoice


def provider_status(deps: ApiDependencies, invoice_id: str) -> tuple[str | None, datetime | None]:
    """The provider's own status of the invoice, as its sync record holds it (both None until it reports)."""
    record = deps.store.get_sync(invoice_id)
    return (record.provider_status, record.provider_status_at) if record else (None, None)


def get_sync_status(deps: ApiDependencies, invoice_id: str) -> SyncRecord:
    record = deps.store.get_sync(invoice_id)
    if record is not None:
        return live_sync_status(deps.store, record, lambda invoice: _gate(deps, invoice))
    invoice = deps.store.get_invoice(invoice_id, buckets=False)
    if invoice is None:
        raise NotFound(f"invoice {invoice_id!r} was never received")
    # Stored, but the router has not recorded its decision yet (it writes the invoice first).
    return SyncRecord(
        invoice_id=invoice_id,
        provider=None,
        status="pending",
        reason="received; routing to a billing provider has not finished",
        updated_at=deps.clock().replace(microsecond=0),
    )


def _gate(deps: ApiDependencies, invoice: MeterInvoice) -> MeteringGate:
    subscription = subscription_of(deps.store.get_customer(invoice.customer_id), invoice.provider)
    return invoice_gate(subscription, invoice, deps.clock())
