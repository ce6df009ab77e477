"""The marketplace outbox in memory (the fake of `shared/adapters/dynamodb/outbox.py`)."""

from __future__ import annotations

from decimal import Decimal

from shared.ports.store import MeterOutboxEntry
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
                "metered_amount": current["metered_amount"] if current else Decimal(0),
            }
