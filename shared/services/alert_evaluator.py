"""The alert evaluator's runs (docs/alerts.md "Runs"): the schedule's, and the messages of its queue.

A scheduled run reads the alerts once, then pages through the customers, evaluating each. When its
remaining time falls under the margin it stops and fans the rest out on its own queue: the rest of
the page it is on, then one message per later page of customers while it has time to list them, and
a message that runs on from there. Each message is taken by another invocation, which does the same
when its time runs short — so every customer is evaluated in one pass whatever their number, with
one page of customers in memory at a time. Evaluating a customer twice (a message redelivered, runs
overlapping) sends nothing twice: every transition is a conditional write (`alert_evaluation`).

Messages (JSON): `{"kind": "customer", "customer_id", "triggered_by"}` (after a ledger-changing
write or a new invoice version), `{"kind": "page", "cursor", "skip", "triggered_by"}` (one page of
customers, from `skip`), `{"kind": "run", "cursor", "triggered_by"}` (a run on from that page).

The messages of one invocation (`RequestBatch`) share one read of the alerts, and a customer that
several of them name is evaluated once, for the last of them: every write they name was made
before the batch was received, so that one evaluation sees them all (a month-end burst of one
customer's invoices is one evaluation per batch, not one per invoice).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.alert_requests import customer_evaluation
from shared.domain.alert_transitions import SCHEDULE
from shared.domain.alerts import Alert
from shared.domain.paging import PageRequest
from shared.domain.types import Identifier
from shared.services.alert_evaluation import (
    AlertEvaluatorDependencies,
    EvaluationReport,
    evaluate_customer,
    live_alerts,
)

RemainingMillis = Callable[[], int]
Cursor = Annotated[str, Field(min_length=1, max_length=4096)]


class EvaluationRequest(BaseModel):
    """A message of the evaluator's queue."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    kind: Literal["customer", "page", "run"]
    customer_id: Identifier | None = None
    cursor: Cursor | None = None
    skip: Annotated[int, Field(ge=0, le=1000)] = 0
    triggered_by: Identifier = SCHEDULE


def run_scheduled(deps: AlertEvaluatorDependencies, remaining_ms: RemainingMillis) -> EvaluationReport:
    report = EvaluationReport()
    alerts = live_alerts(deps.store)
    if alerts:  # no alert: nothing to read per customer
        _run(deps, alerts, None, SCHEDULE, remaining_ms, report)
    return report


@dataclass
class RequestBatch:
    """The messages of one invocation, each handled on its own (`handle`), the alerts read once."""

    deps: AlertEvaluatorDependencies
    remaining_ms: RemainingMillis
    report: EvaluationReport
    _alerts: list[Alert] | None = field(default=None, init=False)
    _last_for_customer: dict[str, str] = field(default_factory=dict, init=False)  # customer → message id

    def plan(self, requests: Iterable[tuple[str, EvaluationRequest]]) -> None:
        """The batch's readable messages (message id, request), in order: which one evaluates each customer."""
        for message_id, request in requests:
            if request.kind == "customer" and request.customer_id is not None:
                self._last_for_customer[request.customer_id] = message_id

    def handle(self, message_id: str, request: EvaluationRequest) -> None:
        customer_id = request.customer_id if request.kind == "customer" else None
        if customer_id is not None and self._last_for_customer.get(customer_id, message_id) != message_id:
            self.report.coalesced += 1  # a later message of this batch evaluates the customer
            return
        if self._alerts is None:
            self._alerts = live_alerts(self.deps.store)
        if not self._alerts:
            return
        if customer_id is not None and _out_of_time(self.deps, self.remaining_ms):
            # The next invocation's: the message as the write sent it.
            _send(self.deps, customer_evaluation(customer_id, request.triggered_by), self.report)
            return
        handle_request(self.deps, request, self.remaining_ms, self.report, self._alerts)


def handle_request(
    deps: AlertEvaluatorDependencies,
    request: EvaluationRequest,
    remaining_ms: RemainingMillis,
    report: EvaluationReport,
    alerts: Sequence[Alert] | None = None,
) -> None:
    alerts = live_alerts(deps.store) if alerts is None else alerts
    if not alerts:
        return
    if request.kind == "customer":
        if request.customer_id is not None:
            evaluate_customer(deps, alerts, request.customer_id, request.triggered_by, report)
    elif request.kind == "page":
        # Only this page: the later ones were handed out with it, each in a message of its own.
        _page(deps, alerts, request.cursor, request.skip, request.triggered_by, remaining_ms, report, later=False)
    else:
        _run(deps, alerts, request.cursor, request.triggered_by, remaining_ms, report)


def _out_of_time(deps: AlertEvaluatorDependencies, remaining_ms: RemainingMillis) -> bool:
    return remaining_ms() < deps.time_margin_ms


def _run(
    deps: AlertEvaluatorDependencies,
    alerts: Sequence[Alert],
    cursor: str | None,
    triggered_by: str,
    remaining_ms: RemainingMillis,
    report: EvaluationReport,
) -> None:
    while True:
        next_page = _page(deps, alerts, cursor, 0, triggered_by, remaining_ms, report)
        if next_page is None:
            return
        if _out_of_time(deps, remaining_ms):
            _fan_out(deps, next_page, triggered_by, remaining_ms, report)
            return
        cursor = next_page


def _page(
    deps: AlertEvaluatorDependencies,
    alerts: Sequence[Alert],
    cursor: str | None,
    skip: int,
    triggered_by: str,
    remaining_ms: RemainingMillis,
    report: EvaluationReport,
    *,
    later: bool = True,
) -> str | None:
    """Evaluate one page of customers from `skip`; the next page's cursor (None: the last page, or
    this page's rest was handed on because time ran short — with the later pages, when `later`)."""
    page = deps.store.list_customers(PageRequest(deps.page_size, cursor))
    for index in range(skip, len(page.items)):
        if _out_of_time(deps, remaining_ms):
            _send(deps, {"kind": "page", "cursor": cursor, "skip": index, "triggered_by": triggered_by}, report)
            if later and page.next_page is not None:
                _fan_out(deps, page.next_page, triggered_by, remaining_ms, report)
            return None
        evaluate_customer(deps, alerts, page.items[index].id, triggered_by, report)
    return page.next_page


def _fan_out(
    deps: AlertEvaluatorDependencies,
    cursor: str,
    triggered_by: str,
    remaining_ms: RemainingMillis,
    report: EvaluationReport,
) -> None:
    """One message per page from `cursor` on while there is time to list them (half the margin),
    then one that runs on from the first page not handed out."""
    next_cursor: str | None = cursor
    while next_cursor is not None and remaining_ms() >= deps.time_margin_ms // 2:
        _send(deps, {"kind": "page", "cursor": next_cursor, "skip": 0, "triggered_by": triggered_by}, report)
        next_cursor = deps.store.list_customers(PageRequest(deps.page_size, next_cursor)).next_page
    if next_cursor is not None:
        _send(deps, {"kind": "run", "cursor": next_cursor, "triggered_by": triggered_by}, report)


def _send(deps: AlertEvaluatorDependencies, message: Mapping[str, Any], report: EvaluationReport) -> None:
    deps.evaluations.send({key: value for key, value in message.items() if value is not None})
    report.fanned_out += 1
