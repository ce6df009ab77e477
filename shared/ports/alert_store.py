"""The table as the alert routes and the alert evaluator see it (docs/alerts.md, docs/architecture.md).

Alerts are account-wide items; their states live in each customer's partition, so one Query reads
every state of a customer. A transition is one conditional write (on the state's version) that also
holds the notification still to be queued (`pending`); the evaluator queues it, then clears it.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from shared.domain.alert_transitions import AlertState
    from shared.domain.alerts import Alert, SpendInvoice
    from shared.domain.audit import AuditEntry
    from shared.domain.commits import CommitQuery
    from shared.domain.customers import Contract, Customer
    from shared.domain.ledger import CommitLedger
    from shared.domain.paging import Page, PageRequest


class AlertDefinitions(Protocol):
    def create_alert_audited(self, alert: Alert, audit: AuditEntry) -> None:
        """Create `alert` with its audit entry, its `uniqueness_key` claimed in the same write;
        UniquenessKeyTaken (the key is used by any alert, archived or not) writes nothing."""
        ...

    def get_alert(self, alert_id: str) -> Alert | None: ...

    def archive_alert_audited(self, alert_id: str, at: datetime, audit: AuditEntry) -> Alert | None:
        """Set `archived_at` (kept as first set when archived already) with the audit entry; the
        alert as stored then, or None (nothing written) when there is no such alert."""
        ...

    def list_alerts(self, page: PageRequest, applying_to: str | None = None) -> Page[Alert]:
        """Every alert, archived ones included, oldest first; with `applying_to`, only the alerts
        that apply to that customer (not archived; for every customer, or for this one)."""
        ...

    def alert_states(self, customer_id: str) -> list[AlertState]:
        """Every alert state of the customer (one Query of its partition)."""
        ...


class AlertEvaluations(Protocol):
    def list_customers(self, page: PageRequest) -> Page[Customer]: ...
    def list_contracts(self, customer_id: str, page: PageRequest) -> Page[Contract]: ...
    def list_commit_ledgers(self, customer_id: str, query: CommitQuery, page: PageRequest) -> Page[CommitLedger]: ...
    def invoice_statuses(self, invoice_ids: Collection[str]) -> dict[str, str]: ...

    def spend_invoices(self, customer_id: str, now: datetime) -> list[SpendInvoice]:
        """The customer's non-VOID USAGE invoices of contracts whose service period ends after `now`
        (the current and later periods only: one Query, however many invoices the customer has)."""
        ...

    def write_alert_state(self, state: AlertState, expected_version: int) -> bool:
        """Write `state` if the stored one is at `expected_version` (0: none is stored); False,
        writing nothing, when another run wrote first."""
        ...

    def claim_pending(self, state: AlertState, at: datetime) -> bool:
        """Take over the pending notification of `state` (as read: same version and `pending_since`)
        by moving its `pending_since` to `at`; False when another run took it or cleared it."""
        ...

    def clear_pending(self, state: AlertState) -> None:
        """The state's notification is queued: drop it (only from that version of the state)."""
        ...


class AlertEvaluatorStore(AlertDefinitions, AlertEvaluations, Protocol):
    """What the alert evaluator reads and writes."""
