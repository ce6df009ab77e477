"""Marketplace registrations and the buyer index lifecycle events read (docs/listings.md);
composed into the stores of shared.ports.store."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from datetime import datetime

    from shared.domain.audit import AuditEntry
    from shared.domain.customers import Customer
    from shared.domain.paging import Page, PageRequest
    from shared.domain.registrations import Registration, RegistrationStatus
    from shared.ports.store import ConfigurationsChange


class RegistrationNotPending(Exception):
    """A registration was completed (or failed) already."""


@dataclass(frozen=True)
class BuyerMatches:
    """What one marketplace identity (`shared.domain.registrations.buyer_partitions`) names."""

    registrations: list[Registration]
    customers: list[Customer]


# The registration with a change applied (None: leave it as it is).
RegistrationChange = Callable[["Registration"], "Registration | None"]


@dataclass(frozen=True)
class RegistrationUpdate:
    """What `update_registration` left: the registration as stored, and whether this call changed it
    (then its audit entry was written with it)."""

    registration: Registration
    changed: bool


class RegistrationStore(Protocol):
    """Marketplace registrations (docs/listings.md) and the buyer index lifecycle events read."""

    def create_registration(self, registration: Registration, audit: AuditEntry) -> Registration:
        """Store a pending registration with its audit entry, unless one exists for the same buyer
        (`buyer_claim`): then that one is returned and nothing is written."""
        ...

    def get_registration(self, registration_id: str) -> Registration | None: ...

    def list_registrations(self, status: RegistrationStatus, page: PageRequest) -> Page[Registration]:
        """Oldest first."""
        ...

    def complete_registration(
        self,
        registration: Registration,
        customer_id: str,
        change: ConfigurationsChange,
        audit: AuditEntry,
        new_customer: Customer | None = None,
    ) -> Customer | None:
        """In one transaction: `registration` (completed) replaces the stored one if that one is still
        pending (else RegistrationNotPending), the customer gets `change` applied (created first when
        `new_customer` is given: AlreadyExists when its id is taken), and the audit entry. None when
        the existing customer is not there."""
        ...

    def update_registration(
        self, registration_id: str, change: RegistrationChange, audit: AuditEntry
    ) -> RegistrationUpdate | None:
        """Read, apply `change`, write it back with `audit` in one write, unless the registration
        changed in between (then again). A change that changes nothing writes nothing, the audit entry
        included. None when there is no such registration."""
        ...

    def find_buyers(self, partition: str) -> BuyerMatches:
        """The registrations and customers whose identifiers fall in `partition`."""
        ...

    def record_unmatched(self, source: str, event_id: str, at: datetime, body: str) -> None:
        """Keep a well-formed marketplace event that named no known buyer (once per event id)."""
        ...

    def marketplace_operation_done(self, source: str, operation_id: str) -> bool:
        """Whether a marketplace operation (an Azure operation id) was handled already."""
        ...

    def remember_marketplace_operation(self, source: str, operation_id: str, at: datetime, outcome: str) -> None:
        """Keep that the operation was handled (once per operation id), so a redelivery changes nothing."""
        ...
