"""Customers and contracts in memory (the fake of `shared/adapters/dynamodb/customers.py`)."""

from __future__ import annotations

from collections.abc import Collection

from shared.domain.audit import AuditEntry
from shared.domain.customers import Contract, Customer
from shared.domain.paging import Page, PageRequest
from shared.domain.timestamps import format_timestamp
from shared.ports.store import AlreadyExists, ConfigurationsChange
from tests.fakes.memory_store.state import MemoryTables


class MemoryCustomers(MemoryTables):
    def create_customer(self, customer: Customer) -> None:
        with self._lock:
            if customer.id in self.customers:
                raise AlreadyExists(customer.id)
            self.customers[customer.id] = customer

    def get_customer(self, customer_id: str) -> Customer | None:
        return self.customers.get(customer_id)

    def get_customers(self, customer_ids: Collection[str]) -> dict[str, Customer]:
        with self._lock:
            return {wanted: self.customers[wanted] for wanted in customer_ids if wanted in self.customers}

    def create_contract(self, contract: Contract) -> None:
        with self._lock:
            key = (contract.customer_id, contract.id)
            if key in self.contracts:
                raise AlreadyExists(contract.id)
            self.contracts[key] = contract

    def get_contract(self, customer_id: str, contract_id: str) -> Contract | None:
        return self.contracts.get((customer_id, contract_id))

    def create_customer_audited(self, customer: Customer, audit: AuditEntry) -> None:
        with self._lock:
            self.create_customer(customer)
            self.audit_entries.append(audit)

    def create_contract_audited(self, contract: Contract, audit: AuditEntry) -> None:
        with self._lock:
            self.create_contract(contract)
            self.audit_entries.append(audit)

    def update_provider_configurations(
        self, customer_id: str, change: ConfigurationsChange, audit: AuditEntry
    ) -> Customer | None:
        with self._lock:
            current = self.customers.get(customer_id)
            if current is None:
                return None
            updated = current.model_copy(update={"billing_provider_configurations": change(current)})
            self.customers[customer_id] = updated
            self.audit_entries.append(audit)
            return updated

    def list_customers(self, page: PageRequest) -> Page[Customer]:
        with self._lock:
            ordered = sorted(self.customers.values(), key=lambda c: (format_timestamp(c.created_at), c.id))
        return self._page("customers", ordered, lambda c: [format_timestamp(c.created_at), c.id], page)

    def list_contracts(self, customer_id: str, page: PageRequest) -> Page[Contract]:
        with self._lock:
            ordered = sorted((c for c in self.contracts.values() if c.customer_id == customer_id), key=lambda c: c.id)
        return self._page(f"contracts:{customer_id}", ordered, lambda c: [c.id], page)
