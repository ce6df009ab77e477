"""A customer's ledger, invoices and alerts in the in-memory store, and evaluator runs over them:
what the alert tests (unit and bench) build their scenarios from."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from shared.domain.alerts import LOW_BALANCE, SPEND, Alert, AlertType, CustomFieldFilter
from shared.domain.audit import AuditEntry, Caller
from shared.domain.commits import Commit, CommitKind, Segment
from shared.domain.customers import Contract
from shared.domain.invoice import InvoiceEvent
from shared.domain.ledger import LedgerEntry
from shared.services.alert_evaluation import AlertEvaluatorDependencies, EvaluationReport
from shared.services.alert_evaluator import run_scheduled
from tests.builders import customer, invoice_event
from tests.fakes.memory_store import InMemoryStore, RecordingQueue

JAN = datetime(2025, 1, 1, tzinfo=UTC)
YEAR_END = datetime(2026, 1, 1, tzinfo=UTC)
CALLER = Caller("tok_0123456789ab", "203.0.113.7", "pytest")
_ids = itertools.count(1)


def audit(action: str, resource_id: str) -> AuditEntry:
    return AuditEntry.for_call(
        entry_id=f"audit_{next(_ids)}",
        at=JAN,
        caller=CALLER,
        action=action,
        resource_type="alert",
        resource_id=resource_id,
        status_code=200,
    )


def alert(
    alert_id: str,
    alert_type: AlertType = LOW_BALANCE,
    threshold: str = "100.00",
    *,
    customer_id: str | None = None,
    filters: tuple[tuple[str, str, str], ...] = (),
    created_at: datetime = JAN,
) -> Alert:
    return Alert(
        id=alert_id,
        alert_type=alert_type,
        name=f"alert {alert_id}",
        threshold=Decimal(threshold),
        currency="USD",
        customer_id=customer_id,
        custom_field_filters=[
            CustomFieldFilter.model_validate({"entity": e, "key": k, "value": v}) for e, k, v in filters
        ],
        created_at=created_at,
    )


@dataclass
class World:
    """One in-memory table, its queues, and a clock the scenario moves."""

    now: datetime = datetime(2025, 3, 15, tzinfo=UTC)
    store: InMemoryStore = field(default_factory=InMemoryStore)
    notifications: RecordingQueue = field(default_factory=RecordingQueue)
    evaluations: RecordingQueue = field(default_factory=RecordingQueue)

    def deps(self, **overrides: Any) -> AlertEvaluatorDependencies:
        fields: dict[str, Any] = {
            "store": self.store,
            "notifications": self.notifications,
            "evaluations": self.evaluations,
            "clock": lambda: self.now,
        }
        return AlertEvaluatorDependencies(**(fields | overrides))

    def customer(self, customer_id: str = "cust_acme") -> None:
        self.store.create_customer(customer(customer_id))

    def contract(self, contract_id: str, customer_id: str = "cust_acme", **custom_fields: str) -> None:
        self.store.create_contract(
            Contract(
                id=contract_id,
                customer_id=customer_id,
                name=contract_id,
                starting_at=JAN,
                custom_fields=custom_fields,
                created_at=JAN,
            )
        )

    def commit(
        self,
        commit_id: str,
        amount: str,
        *,
        kind: CommitKind = "commit",
        customer_id: str = "cust_acme",
        contract_id: str | None = None,
        currency: str = "USD",
        **custom_fields: str,
    ) -> None:
        created = Commit(
            id=commit_id,
            kind=kind,
            customer_id=customer_id,
            contract_id=contract_id,
            type="PREPAID" if kind == "commit" else None,
            name=commit_id,
            currency=currency,
            segments=[Segment(id=f"{commit_id}_seg", amount=Decimal(amount), starting_at=JAN, ending_before=YEAR_END)],
            custom_fields=custom_fields,
            created_at=JAN,
        )
        self.store.create_commits_audited([created], audit("customerCommits.create", commit_id))

    def manual(self, commit_id: str, amount: str, customer_id: str = "cust_acme") -> None:
        entry = LedgerEntry(
            id=f"entry_{next(_ids)}",
            commit_id=commit_id,
            segment_id=f"{commit_id}_seg",
            type="manual",
            amount=Decimal(amount),
            timestamp=self.now,
            reason="top-up",
        )
        self.store.add_manual_entry(customer_id, entry, audit("addManualBalanceLedgerEntry", entry.id))

    def invoice(self, invoice_id: str, contract_id: str, subtotal: str, **overrides: Any) -> None:
        fields: dict[str, Any] = {
            "id": invoice_id,
            "contract_id": contract_id,
            "subtotal": subtotal,
            "total": subtotal,
            "status": "DRAFT",
            "start_timestamp": "2025-03-01T00:00:00Z",
            "end_timestamp": "2025-04-01T00:00:00Z",
            "issued_at": "2025-03-02T00:00:00Z",
            "applied_credits": [],
            "line_items": [],
        }
        event = InvoiceEvent.model_validate(invoice_event(**(fields | overrides)))
        self.store.save_invoice(event.detail, self.now)

    def add_alert(self, created: Alert) -> None:
        self.store.create_alert_audited(created, audit("alerts.create", created.id))

    def archive(self, alert_id: str) -> None:
        self.store.archive_alert_audited(alert_id, self.now, audit("alerts.archive", alert_id))

    def run(self, **overrides: Any) -> EvaluationReport:
        return run_scheduled(self.deps(**overrides), lambda: 10**9)

    def sent(self) -> list[tuple[str, str | None, str | None]]:
        """The webhooks queued so far, each (type, contract_id, the amount it carries)."""
        found = []
        for body in self.notifications.bodies:
            properties = body["properties"]
            amount = (
                properties["remaining_balance"] if properties["current_spend"] is None else properties["current_spend"]
            )
            found.append((body["type"].removeprefix("alerts."), properties["contract_id"], amount))
        return found


__all__ = ["JAN", "LOW_BALANCE", "SPEND", "World", "alert"]
