"""A contract's end date and its finalized invoices in memory (the fake of `contract_end_dates.py`).

The table keeps a marker per FINALIZED USAGE invoice; here the latest is found from the invoices
themselves, which is what the markers must always agree with.
"""

from __future__ import annotations

from shared.domain.audit import AuditEntry
from shared.domain.contract_end_date import FinalizedUsageEnd
from shared.domain.customers import Contract
from shared.ports.store import ContractChange
from tests.fakes.memory_store.state import MemoryTables


class MemoryContractEndDates(MemoryTables):
    def latest_finalized_usage_invoice(self, customer_id: str, contract_id: str) -> FinalizedUsageEnd | None:
        with self._lock:
            finalized = [
                invoice
                for invoice in self.invoices.values()
                if (invoice.customer_id, invoice.contract_id) == (customer_id, contract_id)
                and (invoice.status, invoice.type) == ("FINALIZED", "USAGE")
            ]
        if not finalized:
            return None
        latest = max(finalized, key=lambda invoice: (invoice.end_timestamp, invoice.id))
        return FinalizedUsageEnd(latest.id, latest.end_timestamp)

    def update_contract(
        self, customer_id: str, contract_id: str, change: ContractChange, audit: AuditEntry
    ) -> Contract | None:
        with self._lock:
            current = self.contracts.get((customer_id, contract_id))
            if current is None:
                return None
            updated = change(current)
            self.contracts[(customer_id, contract_id)] = updated
            self.audit_entries.append(audit)
            return updated
