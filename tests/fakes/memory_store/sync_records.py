"""Sync records in memory (the fake of `shared/adapters/dynamodb/sync_records.py`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.domain.providers import BillingProvider
from shared.domain.sync import DeadLetterQueue, SyncAttempt, SyncRecord, SyncStatus
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
        dead_letter_queue: DeadLetterQueue | None = None,
    ) -> None:
        with self._lock:
            current = self.syncs.get(invoice_id)
            kept_ids = current.provider_ids if current else {}
            self.syncs[invoice_id] = SyncRecord(
                invoice_id=invoice_id,
                provider=provider,
                status=status,
                reason=reason,
                dead_letter_queue=dead_letter_queue,
                provider_ids=dict(provider_ids) if provider_ids is not None else kept_ids,
                attempts=[*(current.attempts if current else []), attempt],
                updated_at=attempt.at,
                provider_status=current.provider_status if current else None,
                provider_status_at=current.provider_status_at if current else None,
            )
            self.rejected_only.discard(invoice_id)

    def record_rejection(
        self, invoice_id: str, *, reason: str, attempt: SyncAttempt, dead_letter_queue: DeadLetterQueue
    ) -> bool:
        with self._lock:
            current = self.syncs.get(invoice_id)
            if current is not None and invoice_id not in self.rejected_only:
                self.syncs[invoice_id] = current.model_copy(update={"attempts": [*current.attempts, attempt]})
                return False
            self.syncs[invoice_id] = SyncRecord(
                invoice_id=invoice_id,
                provider=None,
                status="failed",
                reason=reason,
                dead_letter_queue=dead_letter_queue,
                provider_ids=current.provider_ids if current else {},
                attempts=[*(current.attempts if current else []), attempt],
                updated_at=attempt.at,
                provider_status=current.provider_status if current else None,
                provider_status_at=current.provider_status_at if current else None,
            )
            self.rejected_only.add(invoice_id)
            return True

    def get_sync(self, invoice_id: str) -> SyncRecord | None:
        return self.syncs.get(invoice_id)
