"""The table, as each use case sees it: one protocol per aggregate, composed per use case.

`shared.adapters.dynamodb.DynamoDBStore` implements all of them on one DynamoDB table;
`tests/fakes/memory_store` does in memory, and one contract suite runs against both.
Use cases depend on their composition only: `RouterStore`, `ApiStore`, `StripeSyncStore`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from shared.domain.customers import Contract, Customer
from shared.domain.providers import BillingProvider, ProviderConfiguration
from shared.ports.alert_store import AlertDefinitions, AlertEvaluatorStore
from shared.ports.leases import BatchedLeases, Lease, WorkerLeases
from shared.ports.meter_store import MeterReads, MeterStore
from shared.ports.registration_store import RegistrationStore

if TYPE_CHECKING:
    from datetime import datetime
    from decimal import Decimal

    from shared.domain.audit import AuditEntry, AuditQuery
    from shared.domain.breakdowns import InvoiceUsage, StoredWindows, WindowSize
    from shared.domain.commits import Commit, CommitQuery
    from shared.domain.contract_end_date import FinalizedUsageEnd
    from shared.domain.invoice import Invoice
    from shared.domain.invoice_listing import InvoiceListing, InvoiceQuery
    from shared.domain.ledger import CommitLedger, LedgerEntry
    from shared.domain.paging import Page, PageRequest
    from shared.domain.products import Product
    from shared.domain.stripe_state import StripeSyncState
    from shared.domain.sync import DeadLetterQueue, SyncAttempt, SyncRecord, SyncStatus


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
    # Applied credits this version could not draw down (unknown id, other currency, nothing
    # active), each with why; the invoice is stored and routed all the same.
    unapplied_credits: tuple[str, ...] = ()


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
    received_at: datetime | None = None  # when this version arrived (metering after an unsubscription)


class AlreadyExists(Exception):
    """A create hit an existing id."""


class UniquenessKeyTaken(Exception):
    """A commit or credit create named a `uniqueness_key` the customer already used."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


class CustomerReads(Protocol):
    def get_customer(self, customer_id: str) -> Customer | None: ...
    def get_contract(self, customer_id: str, contract_id: str) -> Contract | None: ...


class CustomerWrites(Protocol):
    """Unaudited creates, for seeding (the API's creates are audited: `ApiTables`)."""

    def create_customer(self, customer: Customer) -> None: ...
    def create_contract(self, contract: Contract) -> None: ...


class InvoiceReads(Protocol):
    def get_invoice(self, invoice_id: str, *, buckets: bool = True) -> Invoice | None:
        """The latest stored version with all its lines; `buckets=False` leaves their buckets out
        (far less to read for an invoice with a month of hourly buckets)."""
        ...

    def get_invoice_usage(self, invoice_id: str) -> InvoiceUsage | None:
        """The latest stored version with its lines' buckets as (starting_at, quantity, total), not
        as models: what breakdowns read (a month of hourly buckets is thousands per line)."""
        ...

    def invoice_version(self, invoice_id: str) -> int | None:
        """The latest stored version's number (a read of a few bytes), or None if never stored."""
        ...

    def get_invoice_windows(self, wanted: Sequence[tuple[str, str]], size: WindowSize) -> dict[str, StoredWindows]:
        """The breakdown entries of `size` written with each (invoice id, windows) of `wanted` — the
        `windows` an `InvoiceListing` names, still there a day after a newer version replaced it —
        by invoice id, read together: the first always, the others as far as one read of a bounded
        size takes them. An invoice whose windows were not written, are not the store's, or expired
        is left out."""
        ...


class InvoiceWrites(Protocol):
    def save_invoice(self, invoice: Invoice, received_at: datetime) -> InvoiceWrite:
        """Store `invoice` if its version is the highest seen; keep lifetime billings right."""
        ...

    def mark_dispatched(self, invoice_id: str, version: int) -> None: ...


class SyncReads(Protocol):
    def get_sync(self, invoice_id: str) -> SyncRecord | None: ...


class SyncWrites(Protocol):
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
        """Set the invoice's sync status (for an accepted version of it) and append one attempt to
        its history; `dead_letter_queue` names the queue now holding its message (else none)."""
        ...

    def record_rejection(
        self, invoice_id: str, *, reason: str, attempt: SyncAttempt, dead_letter_queue: DeadLetterQueue
    ) -> bool:
        """An event for `invoice_id` was dead-lettered before any version of it was accepted, or
        the router failed on it. While no accepted version has a status (`record_sync`), the status
        becomes `failed` with `reason` and the queue, and True is returned; otherwise only `attempt`
        is appended (the accepted status stays) and False is returned."""
        ...


class OutboxStore(Protocol):
    def upsert_meter_outbox(self, entry: MeterOutboxEntry) -> None:
        """Create or raise the entry's target; a lower invoice version never lowers it."""
        ...


# Every successful mutating API call writes its audit entry in the same transaction as the change;
# a failed call records its entry alone (`record_audit`). Lists never scan: each has its own key
# (see docs/api.md, "API access patterns"). Cursors are opaque; a foreign one raises InvalidCursor.


# The customer's new configuration list, from the stored customer; raises FieldError to refuse.
ConfigurationsChange = Callable[[Customer], list[ProviderConfiguration]]


class ApiTables(Protocol):
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
    def list_invoices(self, customer_id: str, query: InvoiceQuery, page: PageRequest) -> Page[InvoiceListing]:
        """The latest version of each matching invoice, by start_timestamp then id, with its first
        lines only (`shared.domain.invoice_listing`); a page may end early to stay small."""
        ...

    def invoice_list_cursor(self, invoice: Invoice) -> str:
        """The `next_page` that a `list_invoices` page ending at `invoice` hands out (without listing):
        where its customer's list goes on after it."""
        ...

    def list_audit_entries(self, query: AuditQuery, page: PageRequest) -> Page[AuditEntry]:
        """Newest first."""
        ...


class ProductTables(Protocol):
    def create_product_audited(self, product: Product, audit: AuditEntry) -> None:
        """Create `product` and its audit entry together; AlreadyExists (its id is taken) writes neither."""
        ...

    def get_product(self, product_id: str) -> Product | None: ...

    def get_products(self, product_ids: Collection[str]) -> dict[str, Product]:
        """The products that exist among `product_ids`, by id, in as few reads as the table allows
        (not one per id); an unknown id, or an item that cannot be read, is simply absent."""
        ...


# The contract with its change applied, from the stored contract; raises FieldError to refuse.
ContractChange = Callable[[Contract], Contract]


class ContractEndDates(Protocol):
    def latest_finalized_usage_invoice(self, customer_id: str, contract_id: str) -> FinalizedUsageEnd | None:
        """The contract's FINALIZED USAGE invoice (at its latest version) whose service period ends
        last, or None; read consistently, without reading the customer's other invoices."""
        ...

    def update_contract(
        self, customer_id: str, contract_id: str, change: ContractChange, audit: AuditEntry
    ) -> Contract | None:
        """Read, apply `change`, write back with the audit entry unless the contract changed in between
        (then read and apply again). Returns the updated contract, or None when there is none."""
        ...


class CommitReads(Protocol):
    """A customer's commits and credits with their ledgers: one Query of the customer's partition."""

    def get_commit_ledger(self, customer_id: str, commit_id: str) -> CommitLedger | None: ...

    def list_commit_ledgers(self, customer_id: str, query: CommitQuery, page: PageRequest) -> Page[CommitLedger]:
        """In id order, each with its manual entries and drawdowns."""
        ...

    def invoice_statuses(self, invoice_ids: Collection[str]) -> dict[str, str]:
        """The stored status (DRAFT, FINALIZED, VOID) of each of these invoices that exists."""
        ...


class CommitWrites(Protocol):
    def create_commits_audited(
        self,
        commits: Sequence[Commit],
        audit: AuditEntry,
        contract: Contract | None = None,
        recurring: Sequence[Commit] = (),
        plan: str | None = None,
    ) -> None:
        """Create `commits` (with `contract`, when given) and the audit entry in one transaction, each
        `uniqueness_key` claimed in it; UniquenessKeyTaken (naming one taken key) writes nothing.

        `recurring` (with `contract` and `plan`, a digest of the create request): the periods of the
        contract's recurring items, which have no uniqueness keys. The contract is stored with `plan`,
        and they go in its transaction as far as they fit, the rest after it as
        `complete_recurring_commits` writes them (a reader may see the first ones only meanwhile)."""
        ...

    def complete_recurring_commits(self, contract: Contract, plan: str, commits: Sequence[Commit]) -> bool:
        """Write those of `commits` not stored yet, each write checking that `contract` exists and was
        created with `plan`; False, writing nothing more, when it does not. Safe to repeat and to run
        concurrently: a commit that exists is never written again, so no period is ever doubled."""
        ...

    def add_manual_entry(self, customer_id: str, entry: LedgerEntry, audit: AuditEntry) -> bool:
        """Store a manual entry with its audit entry; False (nothing written) when the commit is gone."""
        ...


class StripeSyncStateStore(Protocol):
    """The Stripe worker's state per invoice (`shared.domain.stripe_state`), kept on its lease."""

    def get_stripe_sync(self, invoice_id: str) -> StripeSyncState | None: ...

    def save_stripe_sync(self, state: StripeSyncState, lease: Lease, *, release: bool = False) -> None:
        """Write the state while `lease` still holds the invoice, else raise `LeaseLost`. With
        `release`, the same write lets the lease go (and settles the work when the state is settled)."""
        ...


class MarketplaceLifecycleStore(RegistrationStore, Protocol):
    """What the marketplace lifecycle function reads and writes (subscription changes go through
    `ApiTables.update_provider_configurations`)."""

    def update_provider_configurations(
        self, customer_id: str, change: ConfigurationsChange, audit: AuditEntry
    ) -> Customer | None: ...


class AlertCounts(Protocol):
    def count_alerts_for_every_customer(self) -> int:
        """How many live alerts apply to every customer (a customer's own: `Customer.alert_count`)."""
        ...


class RouterStore(CustomerReads, InvoiceWrites, SyncWrites, OutboxStore, AlertCounts, Protocol):
    """What the invoice router reads and writes."""


class ApiStore(
    CustomerReads,
    InvoiceReads,
    SyncReads,
    ApiTables,
    ProductTables,
    ContractEndDates,
    CommitReads,
    CommitWrites,
    MeterReads,
    AlertDefinitions,
    RegistrationStore,
    Protocol,
):
    """What the API's use cases read and write."""


class StripeSyncStore(CustomerReads, InvoiceReads, SyncWrites, StripeSyncStateStore, Protocol):
    """What the Stripe worker reads and writes (its lease is `WorkerLeases`)."""


class ProviderStatusWrite(StrEnum):
    APPLIED = "applied"  # the sync record shows this result now
    STALE = "stale"  # a result of a newer event is recorded: kept; the event id is remembered
    DUPLICATE = "duplicate"  # this event id was handled before: nothing written


class StripeWebhookEvents(Protocol):
    """Stripe events handled, by id (kept `expires_at`, a TTL), and the `provider_status` they set."""

    def stripe_event_seen(self, event_id: str) -> bool: ...

    def remember_stripe_event(self, event_id: str, expires_at: datetime) -> bool:
        """Remember an event that changed nothing; False when it was remembered already."""
        ...

    def record_provider_status(
        self,
        invoice_id: str,
        *,
        event_id: str,
        status: str,
        at: datetime,
        order: str,
        expires_at: datetime,
        stripe_invoice_id: str | None = None,
    ) -> ProviderStatusWrite:
        """Remember `event_id` and, unless a result of a greater `order` is recorded, set the sync
        record's `provider_status` / `provider_status_at` (and its `stripe_invoice_id`, when given),
        all in one write: DUPLICATE writes nothing, STALE only remembers the event."""
        ...


class StripeWebhookStore(SyncReads, StripeWebhookEvents, Protocol):
    """What the Stripe webhook reads and writes."""


class MarketplaceMeterStore(CustomerReads, SyncWrites, MeterStore, BatchedLeases, Protocol):
    """What the marketplace meter reads and writes."""


class Store(
    RouterStore,
    ApiStore,
    StripeSyncStore,
    MarketplaceMeterStore,
    StripeWebhookStore,
    CustomerWrites,
    SyncReads,
    WorkerLeases,
    AlertEvaluatorStore,
    Protocol,
):
    """The single table, seen through every access pattern above."""
