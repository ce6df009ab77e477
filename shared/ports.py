"""Ports: what the use cases need from the outside world. Adapters implement them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

from shared.domain.customers import Contract, Customer
from shared.domain.invoice import Invoice
from shared.domain.providers import BillingProvider
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


class Store(CustomerStore, ContractStore, InvoiceStore, SyncStore, OutboxStore, Protocol):
    """The single DynamoDB table, seen through every access pattern the use cases need."""


class MessageQueue(Protocol):
    def send(self, body: Mapping[str, Any], attributes: Mapping[str, str] | None = None) -> str:
        """Send one JSON message; returns the message id."""
        ...
