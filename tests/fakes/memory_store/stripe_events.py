"""Stripe webhook events in memory (the fake of `shared/adapters/dynamodb/stripe_events.py`)."""

from __future__ import annotations

from datetime import datetime

from shared.ports.store import ProviderStatusWrite
from tests.fakes.memory_store.state import MemoryTables


class MemoryStripeEvents(MemoryTables):
    def stripe_event_seen(self, event_id: str) -> bool:
        return event_id in self.stripe_events

    def remember_stripe_event(self, event_id: str, expires_at: datetime) -> bool:
        with self._lock:
            if event_id in self.stripe_events:
                return False
            self.stripe_events[event_id] = expires_at
            return True

    def record_provider_status(
        self,
        invoice_id: str,
        *,
        event_id: str,
        status: str,
        at: datetime,
        order: str,
        expires_at: datetime,
        stripe_invoice_id: str | None = None,
    ) -> ProviderStatusWrite:
        with self._lock:
            if event_id in self.stripe_events:
                return ProviderStatusWrite.DUPLICATE
            self.stripe_events[event_id] = expires_at
            current = self.syncs.get(invoice_id)
            stored = self.provider_status_orders.get(invoice_id)
            if current is None or (stored is not None and stored > order):
                return ProviderStatusWrite.STALE
            update: dict[str, object] = {"provider_status": status, "provider_status_at": at.replace(microsecond=0)}
            if stripe_invoice_id is not None:
                update["provider_ids"] = {**current.provider_ids, "stripe_invoice_id": stripe_invoice_id}
            self.syncs[invoice_id] = current.model_copy(update=update)
            self.provider_status_orders[invoice_id] = order
            return ProviderStatusWrite.APPLIED
