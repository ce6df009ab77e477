"""What the marketplace meter reads and writes of the outbox and its usage records
(docs/marketplaces.md, "How metering works"); composed into the stores of shared.ports.store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping, Sequence
    from datetime import datetime
    from decimal import Decimal

    from shared.domain.customers import Customer
    from shared.domain.marketplace_metering import UsageRecordState
    from shared.domain.sync import SyncAttempt, SyncStatus
    from shared.ports.metering import Buyer, MarketplaceProvider


@dataclass(frozen=True)
class MeterInvoice:
    """An outbox entry as the meter sees it: the target and the cents already assigned to records."""

    invoice_id: str
    provider: MarketplaceProvider
    customer_id: str
    currency: str
    invoice_version: int
    invoice_status: str
    target_amount: Decimal
    metered_cents: int  # assigned to usage records (whatever became of them)
    allocations: Mapping[datetime, int]  # record hour -> this invoice's cents in that record
    target_at: datetime | None = None  # when the version that set the target arrived


@dataclass(frozen=True)
class StoredUsageRecord:
    """One record per (provider, customer, dimension, UTC hour); its quantity never changes."""

    record_id: str
    provider: MarketplaceProvider
    customer_id: str
    dimension: str
    hour: datetime
    quantity: int
    buyer: Buyer  # as it was when the record was stored: every retry sends the identical record
    invoices: Mapping[str, int]  # invoice id -> its cents in this record
    state: UsageRecordState = "pending"
    receipt: str | None = None  # MeteringRecordId / usageEventId
    reason: str | None = None
    sends: int = 0  # meter runs that sent it (marked before each first send of a run)


@dataclass(frozen=True)
class MeterInvoiceDone:
    """An invoice whose meter work is done, with the sync status to record for it."""

    invoice: MeterInvoice
    status: SyncStatus
    reason: str
    attempt: SyncAttempt
    provider_ids: Mapping[str, Any]


@dataclass(frozen=True)
class MeterWorkPage:
    """Customers with waiting outbox entries, each with all of them (a customer is never split)."""

    customers: list[tuple[str, list[MeterInvoice]]]
    next_cursor: str | None


class MeterReads(Protocol):
    def get_meter_invoice(self, invoice_id: str, provider: MarketplaceProvider) -> MeterInvoice | None: ...

    def get_usage_records(
        self, provider: MarketplaceProvider, customer_id: str, dimension: str, hours: Sequence[datetime]
    ) -> list[StoredUsageRecord]:
        """Those of the customer's records that exist, in the order of `hours`."""
        ...

    def list_usage_records(
        self, provider: MarketplaceProvider, customer_id: str, dimension: str
    ) -> list[StoredUsageRecord]:
        """All of the customer's records of `dimension`, oldest hour first (reconciliation)."""
        ...


class MeterStore(MeterReads, Protocol):
    def meter_work(self, provider: MarketplaceProvider, cursor: str | None, limit: int) -> MeterWorkPage:
        """Waiting entries, by customer then invoice; about `limit` entries a page."""
        ...

    def waiting_usage_records(self, provider: MarketplaceProvider, customer_id: str) -> list[StoredUsageRecord]:
        """The customer's records still `pending` or `sent`, oldest hour first."""
        ...

    def create_usage_record(self, record: StoredUsageRecord, invoices: Sequence[MeterInvoice]) -> bool:
        """Store `record` (new, pending) and add its cents to each invoice's `metered_cents` and
        allocations, all or nothing. False, writing nothing, when the record exists or an invoice's
        entry changed since it was read (another run, a newer version): read again."""
        ...

    def update_usage_records(self, records: Sequence[StoredUsageRecord]) -> None:
        """Store each record's state, receipt, reason and sends. The whole record is written as the
        caller holds it (created or read under the customer's lease), so its quantity, hour and
        invoices must be those it was created with."""
        ...

    def finish_meter_invoice(self, invoice: MeterInvoice) -> bool:
        """Take the entry out of the waiting list unless it changed since `invoice` was read (then
        False: it waits, and the next run looks again)."""
        ...

    # The meter's batched writes (docs/marketplaces.md, "How metering works"): each behaves as the
    # one-at-a-time method it names, in as few requests as DynamoDB allows.

    def get_customers(self, customer_ids: Collection[str]) -> dict[str, Customer]:
        """Those of the customers that exist, by id."""
        ...

    def create_usage_records(self, records: Sequence[tuple[StoredUsageRecord, Sequence[MeterInvoice]]]) -> set[str]:
        """`create_usage_record` for each (record, the invoices whose cents it carries); the ids of
        the records created. A record refused (its hour taken, an entry changed) never holds back
        the others."""
        ...

    def finish_meter_invoices(self, done: Sequence[MeterInvoiceDone]) -> set[str]:
        """Record each invoice's sync status and take its entry out of the waiting list, as
        `record_sync` and `finish_meter_invoice` do; the ids of the invoices whose entry changed
        since it was read (their status is recorded; they wait for the next run)."""
        ...
