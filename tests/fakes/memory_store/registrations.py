"""Registrations, the buyer index and unmatched events in memory (the fake of
`shared/adapters/dynamodb/registrations.py`; the index is computed from the customers held)."""

from __future__ import annotations

from datetime import datetime

from shared.domain.audit import AuditEntry
from shared.domain.customers import Customer
from shared.domain.paging import Page, PageRequest
from shared.domain.registrations import (
    Registration,
    RegistrationStatus,
    buyer_claim,
    configuration_partitions,
    identifier_partitions,
)
from shared.domain.timestamps import format_timestamp
from shared.ports.registration_store import (
    BuyerMatches,
    RegistrationChange,
    RegistrationNotPending,
    RegistrationUpdate,
)
from shared.ports.store import AlreadyExists, ConfigurationsChange
from tests.fakes.memory_store.state import MemoryTables


class MemoryRegistrations(MemoryTables):
    def create_registration(self, registration: Registration, audit: AuditEntry) -> Registration:
        with self._lock:
            claim = buyer_claim(registration.identifiers)
            if claim in self.buyer_claims:
                return self.registrations[self.buyer_claims[claim]]
            if registration.id in self.registrations:
                raise AlreadyExists(registration.id)
            self.registrations[registration.id] = registration
            self.buyer_claims[claim] = registration.id
            self.audit_entries.append(audit)
            return registration

    def get_registration(self, registration_id: str) -> Registration | None:
        return self.registrations.get(registration_id)

    def list_registrations(self, status: RegistrationStatus, page: PageRequest) -> Page[Registration]:
        with self._lock:
            ordered = sorted(
                (r for r in self.registrations.values() if r.status == status),
                key=lambda r: (format_timestamp(r.created_at), r.id),
            )
        return self._page(f"registrations:{status}", ordered, lambda r: [format_timestamp(r.created_at), r.id], page)

    def update_registration(
        self, registration_id: str, change: RegistrationChange, audit: AuditEntry
    ) -> RegistrationUpdate | None:
        with self._lock:
            current = self.registrations.get(registration_id)
            if current is None:
                return None
            updated = change(current)
            if updated is None or updated == current:
                return RegistrationUpdate(current, changed=False)
            self.registrations[registration_id] = updated
            self.audit_entries.append(audit)
            return RegistrationUpdate(updated, changed=True)

    def complete_registration(
        self,
        registration: Registration,
        customer_id: str,
        change: ConfigurationsChange,
        audit: AuditEntry,
        new_customer: Customer | None = None,
    ) -> Customer | None:
        with self._lock:
            stored = self.registrations.get(registration.id)
            if stored is None or stored.status != "pending":
                raise RegistrationNotPending(registration.id)
            if new_customer is not None:
                if new_customer.id in self.customers:
                    raise AlreadyExists(new_customer.id)
                current: Customer | None = new_customer
            else:
                current = self.customers.get(customer_id)
            if current is None:
                return None
            updated = current.model_copy(update={"billing_provider_configurations": change(current)})
            self.customers[updated.id] = updated
            self.registrations[registration.id] = registration
            self.audit_entries.append(audit)
            return updated

    def find_buyers(self, partition: str) -> BuyerMatches:
        with self._lock:
            registrations = sorted(
                (r for r in self.registrations.values() if partition in identifier_partitions(r.identifiers)),
                key=lambda r: r.id,
            )
            customers = sorted(
                (
                    customer
                    for customer in self.customers.values()
                    if any(
                        partition in configuration_partitions(configuration)
                        for configuration in customer.billing_provider_configurations
                    )
                ),
                key=lambda customer: customer.id,
            )
        return BuyerMatches(registrations, customers)

    def record_unmatched(self, source: str, event_id: str, at: datetime, body: str) -> None:
        with self._lock:
            self.unmatched_events.setdefault((source, event_id), body)

    def marketplace_operation_done(self, source: str, operation_id: str) -> bool:
        return (source, operation_id) in self.marketplace_operations

    def remember_marketplace_operation(self, source: str, operation_id: str, at: datetime, outcome: str) -> None:
        with self._lock:
            self.marketplace_operations.setdefault((source, operation_id), outcome)
