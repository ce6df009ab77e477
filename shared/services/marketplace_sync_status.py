"""A marketplace invoice's sync status, from its outbox entry and the records carrying its cents.

The meter records it when an invoice's work is done (synced, expired, failed, voided, or
over-metered); `GET /v1/invoices/{id}/sync` computes it again on every read, so a status read
between meter runs shows the records as they are (`live_sync_status`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from shared.domain.customers import Customer
from shared.domain.marketplace_metering import (
    DIMENSION,
    METERED_CURRENCY,
    InvoiceMeterView,
    InvoiceShare,
    MeterStatus,
    cents,
    hour_start,
    meter_status,
)
from shared.domain.providers import BillingProvider, MarketplaceConfiguration
from shared.domain.subscriptions import SEND, MeteringGate, Subscription, metering_gate
from shared.domain.sync import SyncRecord, reason_line
from shared.domain.timestamps import format_timestamp
from shared.ports.meter_store import MeterInvoice, MeterReads, StoredUsageRecord
from shared.ports.metering import MarketplaceProvider

MARKETPLACES: tuple[MarketplaceProvider, ...] = ("aws_marketplace", "azure_marketplace")


def invoice_shares(invoice: MeterInvoice, records: Mapping[datetime, StoredUsageRecord]) -> list[InvoiceShare]:
    shares = []
    for hour, share in invoice.allocations.items():
        record = records.get(hour)
        if record is None:  # cannot be (a record and its allocations are one write): shown, never hidden
            shares.append(InvoiceShare(hour, share, share, "pending", reason="record not found"))
            continue
        shares.append(InvoiceShare(hour, share, record.quantity, record.state, record.receipt, record.reason))
    return shares


def invoice_view(invoice: MeterInvoice, shares: Sequence[InvoiceShare], gate: MeteringGate = SEND) -> InvoiceMeterView:
    target = cents(invoice.target_amount) if invoice.currency == METERED_CURRENCY else 0
    return InvoiceMeterView(invoice.invoice_status, invoice.currency, target, invoice.metered_cents, shares, gate)


def meter_provider_ids(
    provider: MarketplaceProvider, view: InvoiceMeterView, shares: Sequence[InvoiceShare]
) -> dict[str, Any]:
    """What the sync status shows: cents accepted, assigned to records and owed, the receipts
    (`metering_record_ids` for AWS, `usage_event_ids` for Azure) and each record as this invoice
    sees it."""
    receipt_key = "metering_record_ids" if provider == "aws_marketplace" else "usage_event_ids"
    return {
        "accepted_cents": sum(share.cents for share in shares if share.state == "accepted"),
        "assigned_cents": view.metered_cents,
        "target_cents": view.target_cents,
        receipt_key: [share.receipt for share in shares if share.state == "accepted" and share.receipt],
        "records": [
            {
                "hour": format_timestamp(share.hour),
                "cents": share.cents,
                "record_quantity": share.record_quantity,
                "state": share.state,
                "receipt": share.receipt,
                "reason": share.reason,
            }
            for share in shares
        ],
    }


def invoice_status(
    invoice: MeterInvoice, records: Mapping[datetime, StoredUsageRecord], gate: MeteringGate = SEND
) -> tuple[MeterStatus, str, dict[str, Any], InvoiceMeterView, list[InvoiceShare]]:
    """`gate`: what the buyer's subscription allows for the current hour (suspended, unsubscribed)."""
    shares = invoice_shares(invoice, records)
    view = invoice_view(invoice, shares, gate)
    status, reason = meter_status(view)
    return status, reason_line(reason), meter_provider_ids(invoice.provider, view, shares), view, shares


def subscription_of(customer: Customer | None, provider: MarketplaceProvider) -> Subscription | None:
    """The buyer's subscription state on its `provider` configuration (None: none recorded, active)."""
    configuration = None if customer is None else customer.configuration_for(provider)
    return configuration.subscription if isinstance(configuration, MarketplaceConfiguration) else None


def invoice_gate(subscription: Subscription | None, invoice: MeterInvoice, now: datetime) -> MeteringGate:
    """What the buyer's subscription allows for this invoice's unsent cents in the current hour."""
    return metering_gate(subscription, hour_start(now), invoice.target_at)


def live_sync_status(
    store: MeterReads, record: SyncRecord, gate_of: Callable[[MeterInvoice], MeteringGate] | None = None
) -> SyncRecord:
    """`record` with the meter's view of now, for a marketplace invoice in the outbox; a failure
    the router recorded (a dead-letter queue) stands as it is. `gate_of(invoice)`: what the buyer's
    subscription allows for it now."""
    provider: BillingProvider | None = record.provider
    if provider not in MARKETPLACES or record.dead_letter_queue is not None:
        return record
    marketplace: MarketplaceProvider = "aws_marketplace" if provider == "aws_marketplace" else "azure_marketplace"
    invoice = store.get_meter_invoice(record.invoice_id, marketplace)
    if invoice is None:
        return record
    found = store.get_usage_records(marketplace, invoice.customer_id, DIMENSION, list(invoice.allocations))
    gate = SEND if gate_of is None else gate_of(invoice)
    status, reason, provider_ids, _, _ = invoice_status(
        invoice, {found_record.hour: found_record for found_record in found}, gate
    )
    return record.model_copy(update={"status": status, "reason": reason, "provider_ids": provider_ids})
