"""The audit log in memory (the fake of `shared/adapters/dynamodb/audit.py`)."""

from __future__ import annotations

from shared.domain.audit import AuditEntry, AuditQuery
from shared.domain.paging import Page, PageRequest
from tests.fakes.memory_store.pages import page_of
from tests.fakes.memory_store.state import MemoryTables


class MemoryAudit(MemoryTables):
    def record_audit(self, entry: AuditEntry) -> None:
        with self._lock:
            self.audit_entries.append(entry)

    def list_audit_entries(self, query: AuditQuery, page: PageRequest) -> Page[AuditEntry]:
        with self._lock:
            matching = [entry for entry in self.audit_entries if query.matches(entry)]
        ordered = sorted(matching, key=lambda entry: entry.sort_key, reverse=True)
        return page_of("audit", ordered, lambda entry: [entry.sort_key], page)
