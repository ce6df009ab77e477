"""Ports: what the use cases need from the outside world. Adapters implement them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

from shared.domain.audit import AuditEntry, AuditQuery
from shared.domain.customers import Contract, Customer
from shared.domain.invoice import Invoice
from shared.domain.invoice_listing import InvoiceQuery
from shared.domain.paging import Page, PageRequest
from shared.domain.providers import BillingProvider, ProviderConfiguration
from shared.domain.stripe_state import StripeSyncState
from shared.domain.sync import SyncAttempt, SyncRecord, SyncStatus


class InvoiceWriteOutcome(StrEnum):
    CREATED = "created"  # first event for this invoice
    UPDATED = "updated"  # a higher version replaced the stored one
    DUPLICATE = "duplicate"  # same version as stored: nothing changed
    STALE = "stale"  # lower version than stored: ignored


@dataclass(frozen=True)
class InvoiceWrite:
    outcome: InvoiceWriteOutcome
    stored_version: int  # the version now stored (the new one unless stale/duplicate)
    dispatched_version: int | None  # the highest version whose routing finished


@dataclass(frozen=True)
class MeterOutboxEntry:
    """An invoice waiting to be metered to a marketplace (read by the marketplace meter)."""

    invoice_id: str
    provider: BillingProvider
    customer_id: str
    currency: str
    invoice_version: int
    invoice_status: str
    target_amount: Decimal  # the invoice total (major units) that should be metered in the end


class AlreadyExists(Exception):
    """A create hit an existing id."""


class CustomerStore(Protocol):
    def create_customer(self, customer: Customer) -> None: ...
    def get_customer(self, customer_id: str) -> Customer | None: ...


class ContractStore(Protocol):
    def create_contract(self, contract: Contract) -> None: ...
    def get_contract(self, customer_id: str, contract_id: str) -> Contract | None: ...


class InvoiceStore(Protocol):
    def save_invoice(self, invoice: Invoice, received_at: datetime) -> InvoiceWrite:
        """Store `invoice` if its version is the highest seen; keep lifetime billings right."""
        ...

    def get_invoice(self, invoice_id: str) -> Invoice | None: ...
    def mark_dispatched(self, invoice_id: str, version: int) -> None: ...


class SyncStore(Protocol):
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
        """Set the invoice's sync status and append one attempt to its history."""
        ...

    def get_sync(self, invoice_id: str) -> SyncRecord | None: ...


class OutboxStore(Protocol):
    def upsert_meter_outbox(self, entry: MeterOutboxEntry) -> None:
        """Create or raise the entry's target; a lower invoice version never lowers it."""
        ...


# ==== API (issue #10): audited writes, list pages, the audit log ================================
# Every successful mutating API call writes its audit entry in the same transaction as the change;
# a failed call records its entry alone (`record_audit`). Lists never scan: each has its own key
# (see docs/api.md, "API access patterns"). Cursors are opaque; a foreign one raises InvalidCursor.


# The customer's new configuration list, from the stored customer; raises FieldError to refuse.
ConfigurationsChange = Callable[[Customer], list[ProviderConfiguration]]


class ApiStore(Protocol):
    def create_customer_audited(self, customer: Customer, audit: AuditEntry) -> None:
        """Create `customer` and its audit entry together; AlreadyExists writes neither."""
        ...

    def update_provider_configurations(
        self, customer_id: str, change: ConfigurationsChange, audit: AuditEntry
    ) -> Customer | None:
        """Read, apply `change`, write back with the audit entry unless the customer changed in between
        (then read and apply again). Returns the updated customer, or None when there is none."""
        ...

    def create_contract_audited(self, contract: Contract, audit: AuditEntry) -> None: ...
    def record_audit(self, entry: AuditEntry) -> None: ...
    def list_customers(self, page: PageRequest) -> Page[Customer]:
        """Oldest first."""
        ...

    def list_contracts(self, customer_id: str, page: PageRequest) -> Page[Contract]: ...
    def list_invoices(self, customer_id: str, query: InvoiceQuery, page: PageRequest) -> Page[Invoice]:
        """The latest version of each matching invoice, by start_timestamp then id."""
        ...

    def list_audit_entries(self, query: AuditQuery, page: PageRequest) -> Page[AuditEntry]:
        """Newest first."""
        ...


# ==== end API section ============================================================================


class Store(CustomerStore, ContractStore, InvoiceStore, SyncStore, OutboxStore, ApiStore, Protocol):
    """The single DynamoDB table, seen through every access pattern the use cases need."""


class MessageQueue(Protocol):
    def send(self, body: Mapping[str, Any], attributes: Mapping[str, str] | None = None) -> str:
        """Send one JSON message; returns the message id."""
        ...


# ==== Stripe sync section (owner: Stripe sync, issue #4) =========================================


class StripeSyncStateStore(Protocol):
    """The Stripe worker's state per invoice (`shared.domain.stripe_state`)."""

    def claim_stripe_sync(
        self, invoice_id: str, *, now: datetime, lease_until: datetime, token: str
    ) -> StripeSyncState | None:
        """Take the invoice's lease and count one more attempt; None while another live lease holds it."""
        ...

    def save_stripe_sync(self, state: StripeSyncState, *, token: str) -> None:
        """Replace the state if `token` still holds the lease, else raise `stripe_state.SyncLeaseLost`."""
        ...

    def get_stripe_sync(self, invoice_id: str) -> StripeSyncState | None: ...

    def oldest_unsynced_stripe(self) -> datetime | None:
        """When the longest-waiting unsettled Stripe sync began (None when all are settled)."""
        ...


class StripeSyncStore(CustomerStore, ContractStore, InvoiceStore, SyncStore, StripeSyncStateStore, Protocol):
    """What the Stripe worker needs from the table."""


# ==== end Stripe sync section ====================================================================
