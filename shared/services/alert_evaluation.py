"""One customer's alerts evaluated: its balances and spend read once, each transition written
conditionally with its notification, then queued, then cleared (docs/alerts.md "Runs").

Reads per customer, whatever the number of alerts: its alert states (one Query), its contracts and
its commits with their ledgers (a Query per 100), the statuses of invoices that bill commits (one
BatchGetItem) and its current-period USAGE invoices (one Query) — each only when an alert needs it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TypeVar

from shared.clock import Clock
from shared.domain.alert_transitions import AlertState, decide, notification_body
from shared.domain.alerts import LOW_BALANCE, SPEND, Alert, current_spend, remaining_balance
from shared.domain.commits import CommitQuery
from shared.domain.customers import Contract
from shared.domain.ledger import CommitLedger
from shared.domain.paging import Page, PageRequest
from shared.ports.alert_store import AlertEvaluatorStore
from shared.ports.queues import MessageQueue

# A notification still pending this long after its transition was written belongs to a run that is
# gone (the evaluator's Lambda timeout is 120 s): the next run queues it, with the same id.
PENDING_GRACE = timedelta(minutes=5)
READ_PAGE = 100
T = TypeVar("T")
StateKey = tuple[str, str | None]


@dataclass(frozen=True)
class AlertEvaluatorDependencies:
    store: AlertEvaluatorStore
    notifications: MessageQueue  # one webhook body per message, POSTed as it is by the webhook sender
    evaluations: MessageQueue  # the evaluator's own work: customers to evaluate, pages fanned out
    clock: Clock
    page_size: int = 100  # customers per page of a run (and per fanned-out message)
    time_margin_ms: int = 20_000  # a run stops and fans out the rest this long before its time is up


@dataclass
class EvaluationReport:
    customers: int = 0
    transitions: int = 0  # states written, first `ok`s included
    notifications: int = 0  # webhook bodies queued by this run's own transitions
    requeued: int = 0  # pending notifications of a crashed run, queued again with their ids
    conflicts: int = 0  # transitions another run wrote first (it sends them)
    fanned_out: int = 0  # messages left for other invocations
    coalesced: int = 0  # requests for a customer that a later request of the same batch evaluated


def read_all(read: Callable[[PageRequest], Page[T]]) -> list[T]:
    items: list[T] = []
    cursor: str | None = None
    while True:
        page = read(PageRequest(READ_PAGE, cursor))
        items.extend(page.items)
        if page.next_page is None:
            return items
        cursor = page.next_page


def live_alerts(store: AlertEvaluatorStore) -> list[Alert]:
    return [alert for alert in read_all(store.list_alerts) if alert.archived_at is None]


def evaluate_customer(
    deps: AlertEvaluatorDependencies,
    alerts: Sequence[Alert],
    customer_id: str,
    triggered_by: str,
    report: EvaluationReport,
) -> None:
    applicable = [alert for alert in alerts if alert.applies_to(customer_id)]
    if not applicable:
        return
    report.customers += 1
    store, now = deps.store, deps.clock()
    states = {(state.alert_id, state.contract_id): state for state in store.alert_states(customer_id)}
    _requeue_stale(deps, states, now, report)
    kinds = {alert.alert_type for alert in applicable}
    needs_contracts = SPEND in kinds or any(alert.filters("Contract") for alert in applicable)
    contracts: Mapping[str, Contract] = {}
    ledgers: list[CommitLedger] = []
    statuses: dict[str, str] = {}
    if needs_contracts:
        contracts = {c.id: c for c in read_all(lambda page: store.list_contracts(customer_id, page))}
    if LOW_BALANCE in kinds:
        ledgers = read_all(lambda page: store.list_commit_ledgers(customer_id, CommitQuery(), page))
        billed = {ledger.commit.invoice_id for ledger in ledgers if ledger.commit.invoice_id is not None}
        statuses = store.invoice_statuses(billed) if billed else {}
    invoices = store.spend_invoices(customer_id, now) if SPEND in kinds else []
    for alert in applicable:
        if alert.alert_type == LOW_BALANCE:
            balance = remaining_balance(alert, ledgers, contracts, statuses, now)
            if balance is not None:  # nothing selected: not evaluated
                _evaluate(deps, alert, customer_id, None, states, balance, triggered_by, now, report)
            continue
        for contract_id in sorted(contracts):
            if alert.selects_contract(contracts[contract_id]):
                spend = current_spend(alert, contract_id, invoices, now)
                _evaluate(deps, alert, customer_id, contract_id, states, spend, triggered_by, now, report)
        if (alert.id, None) not in states:  # the customer's mark: its contracts were evaluated
            marked = AlertState(alert.id, customer_id, None, "ok", 1, now, triggered_by=triggered_by)
            if store.write_alert_state(marked, 0):
                report.transitions += 1


def _evaluate(
    deps: AlertEvaluatorDependencies,
    alert: Alert,
    customer_id: str,
    contract_id: str | None,
    states: Mapping[StateKey, AlertState],
    value: Decimal,
    triggered_by: str,
    now: datetime,
    report: EvaluationReport,
) -> None:
    previous = states.get((alert.id, contract_id))
    if previous is not None and previous.pending is not None:
        return  # its last transition is still being queued (by a live run): never overwrite it
    transition = decide(previous, alert.firing(value), record_first_ok=contract_id is None)
    if transition is None:
        return
    body = (
        notification_body(alert, customer_id, contract_id, transition, value, triggered_by, now)
        if transition.notifies
        else None
    )
    state = AlertState(
        alert.id,
        customer_id,
        contract_id,
        transition.status,
        transition.version,
        now,
        pending=None if body is None else json.dumps(body, separators=(",", ":"), sort_keys=True),
        pending_since=None if body is None else now,
        triggered_by=triggered_by,
    )
    if not deps.store.write_alert_state(state, transition.version - 1):
        report.conflicts += 1  # another run wrote this transition (or a later one) and sends it
        return
    report.transitions += 1
    if body is not None:
        deps.notifications.send(body)
        deps.store.clear_pending(state)
        report.notifications += 1


def _requeue_stale(
    deps: AlertEvaluatorDependencies, states: dict[StateKey, AlertState], now: datetime, report: EvaluationReport
) -> None:
    """Queue the notifications whose run stopped between writing and queueing them (same body, same
    id); a claim on each makes sure only one run does."""
    for key, state in list(states.items()):
        if state.pending is None or state.pending_since is None or now - state.pending_since < PENDING_GRACE:
            continue
        if not deps.store.claim_pending(state, now):
            continue
        deps.notifications.send(json.loads(state.pending))
        deps.store.clear_pending(replace(state, pending_since=now))
        states[key] = replace(state, pending=None, pending_since=None)
        report.requeued += 1
