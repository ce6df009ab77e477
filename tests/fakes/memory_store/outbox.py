"""The marketplace outbox and usage records in memory (the fake of `shared/adapters/dynamodb/outbox.py`
and `usage_records.py`): the same conditions, the same order, the same all-or-nothing creates."""

from __future__ import annotations

import bisect
import json
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from shared.adapters.dynamodb.keys import id_part
from shared.domain.marketplace_metering import WAITING_STATES
from shared.ports.meter_store import MeterInvoice, MeterInvoiceDone, MeterWorkPage, StoredUsageRecord
from shared.ports.metering import MarketplaceProvider
from shared.ports.store import MeterOutboxEntry, SyncWrites
from tests.fakes.memory_store.state import MemoryTables


class MemoryOutbox(MemoryTables):
    def upsert_meter_outbox(self, entry: MeterOutboxEntry) -> None:
        with self._lock:
            key = (entry.invoice_id, entry.provider)
            current = self.outbox.get(key)
            if current is not None and current["invoice_version"] >= entry.invoice_version:
                return
            self.outbox[key] = {
                "customer_id": entry.customer_id,
                "currency": entry.currency,
                "invoice_version": entry.invoice_version,
                "invoice_status": entry.invoice_status,
                "target_amount": entry.target_amount,
                "target_at": entry.received_at,
                "metered_cents": current["metered_cents"] if current else 0,
                "allocations": dict(current["allocations"]) if current else {},
                "waiting": True,
            }

    def meter_work(self, provider: MarketplaceProvider, cursor: str | None, limit: int) -> MeterWorkPage:
        after = None if cursor is None else json.loads(cursor)
        with self._lock:
            # Entries are built for the page only: building all of them for every page made reading
            # 10,000 customers a hundred pages at a time cost what the meter run costs.
            ordered = sorted(
                (_sort_key(item["customer_id"], invoice_id), invoice_id)
                for (invoice_id, item_provider), item in self.outbox.items()
                if item_provider == provider and item["waiting"]
            )
            remaining = ordered[bisect.bisect_right(ordered, (after, "\uffff")) :] if after is not None else ordered
            page = remaining[:limit]
            if len(page) < len(remaining):
                last_customer = self.outbox[(page[-1][1], provider)]["customer_id"]
                kept = [(sort, i) for sort, i in page if self.outbox[(i, provider)]["customer_id"] != last_customer]
                if not kept:  # one customer fills the page: take all of its entries
                    kept = [
                        (sort, i) for sort, i in remaining if self.outbox[(i, provider)]["customer_id"] == last_customer
                    ]
                page = kept
            entries = [self._meter_invoice(i, provider, self.outbox[(i, provider)]) for _, i in page]
        if len(page) == len(remaining):
            return MeterWorkPage(_by_customer(entries), None)
        return MeterWorkPage(_by_customer(entries), json.dumps(page[-1][0]))

    def get_meter_invoice(self, invoice_id: str, provider: MarketplaceProvider) -> MeterInvoice | None:
        with self._lock:
            item = self.outbox.get((invoice_id, provider))
            return None if item is None else self._meter_invoice(invoice_id, provider, item)

    def finish_meter_invoice(self, invoice: MeterInvoice) -> bool:
        with self._lock:
            item = self.outbox.get((invoice.invoice_id, invoice.provider))
            if item is None or not _unchanged(item, invoice):
                return False
            item["waiting"] = False
            return True

    def waiting_usage_records(self, provider: MarketplaceProvider, customer_id: str) -> list[StoredUsageRecord]:
        with self._lock:
            return sorted(
                (
                    record
                    for (record_provider, customer, _, _), record in self.usage_records.items()
                    if record_provider == provider and customer == customer_id and record.state in WAITING_STATES
                ),
                key=lambda record: record.hour,
            )

    def get_usage_records(
        self, provider: MarketplaceProvider, customer_id: str, dimension: str, hours: Sequence[datetime]
    ) -> list[StoredUsageRecord]:
        with self._lock:
            found = (self.usage_records.get((provider, customer_id, dimension, hour)) for hour in dict.fromkeys(hours))
            return [record for record in found if record is not None]

    def list_usage_records(
        self, provider: MarketplaceProvider, customer_id: str, dimension: str
    ) -> list[StoredUsageRecord]:
        with self._lock:
            found = [
                record
                for (record_provider, customer, record_dimension, _), record in self.usage_records.items()
                if (record_provider, customer, record_dimension) == (provider, customer_id, dimension)
            ]
        return sorted(found, key=lambda record: record.hour)

    def create_usage_record(self, record: StoredUsageRecord, invoices: Sequence[MeterInvoice]) -> bool:
        with self._lock:
            key = (record.provider, record.customer_id, record.dimension, record.hour)
            if key in self.usage_records:
                return False
            items = [self.outbox.get((invoice.invoice_id, invoice.provider)) for invoice in invoices]
            pairs = list(zip(items, invoices, strict=True))
            if any(item is None or not _unchanged(item, invoice) for item, invoice in pairs):
                return False
            self.usage_records[key] = record
            for item, invoice in zip(items, invoices, strict=True):
                assert item is not None
                share = record.invoices[invoice.invoice_id]
                item["metered_cents"] += share
                item["allocations"][record.hour] = share
            return True

    def create_usage_records(self, records: Sequence[tuple[StoredUsageRecord, Sequence[MeterInvoice]]]) -> set[str]:
        with self._lock:
            return {record.record_id for record, invoices in records if self.create_usage_record(record, invoices)}

    def update_usage_records(self, records: Sequence[StoredUsageRecord]) -> None:
        with self._lock:
            for record in records:
                key = (record.provider, record.customer_id, record.dimension, record.hour)
                stored = self.usage_records.get(key)
                # The table puts the whole record: a caller must hold the record as it was created.
                assert stored is not None, f"no usage record {record.record_id}"
                assert (stored.quantity, stored.invoices) == (record.quantity, record.invoices), record.record_id
                self.usage_records[key] = record

    def finish_meter_invoices(self, done: Sequence[MeterInvoiceDone]) -> set[str]:
        changed: set[str] = set()
        with self._lock:
            for finished in done:
                invoice = finished.invoice
                cast(SyncWrites, self).record_sync(
                    invoice.invoice_id,
                    provider=invoice.provider,
                    status=finished.status,
                    reason=finished.reason,
                    attempt=finished.attempt,
                    provider_ids=finished.provider_ids,
                )
                if not self.finish_meter_invoice(invoice):
                    changed.add(invoice.invoice_id)
        return changed

    @staticmethod
    def _meter_invoice(invoice_id: str, provider: str, item: dict[str, Any]) -> MeterInvoice:
        return MeterInvoice(
            invoice_id=invoice_id,
            provider=cast(MarketplaceProvider, provider),
            customer_id=item["customer_id"],
            currency=item["currency"],
            invoice_version=item["invoice_version"],
            invoice_status=item["invoice_status"],
            target_amount=Decimal(item["target_amount"]),
            metered_cents=item["metered_cents"],
            allocations=dict(sorted(item["allocations"].items())),
            target_at=item.get("target_at"),
        )


def _sort_key(customer_id: str, invoice_id: str) -> str:
    return f"{id_part(customer_id)}#{id_part(invoice_id)}"


def _unchanged(item: dict[str, Any], invoice: MeterInvoice) -> bool:
    return bool(item["invoice_version"] == invoice.invoice_version and item["metered_cents"] == invoice.metered_cents)


def _by_customer(entries: list[MeterInvoice]) -> list[tuple[str, list[MeterInvoice]]]:
    customers: dict[str, list[MeterInvoice]] = {}
    for entry in entries:
        customers.setdefault(entry.customer_id, []).append(entry)
    return list(customers.items())
