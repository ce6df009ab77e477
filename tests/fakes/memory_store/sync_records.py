"""Sync records in memory (the fake of `shared/adapters/dynamodb/sync_records.py`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.domain.providers import BillingProvider
from shared.domain.sync import SyncAttempt, SyncRecord, SyncStatus
from tests.fakes.memory_store.state import MemoryTables


class MemorySyncRecords(MemoryTables):
    def record_sync(
        self,
        invoice_id: str,
        *,
        provider: BillingProvider | None,
        status: SyncStatus,
        reason: str | None,
        attempt: SyncAttempt,
        provider_ids: Mapping[str, Any] | None = None,
    ) -> None:
        with self._lock:
            current = self.syncs.get(invoice_id)
            kept_ids = current.provider_ids if current else {}
            self.syncs[invoice_id] = SyncRecord(
                invoice_id=invoice_id,
                provider=provider,
                status=status,
                reason=reason,
                provider_ids=dict(provider_ids) if provider_ids is not None else kept_ids,
                attempts=[*(current.attempts if current else []), attempt],
                updated_at=attempt.at,
            )

    def get_sync(self, invoice_id: str) -> SyncRecord | None:
        return self.syncs.get(invoice_id)
