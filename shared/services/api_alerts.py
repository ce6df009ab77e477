"""Alerts: create, archive, and a customer's alerts with their states (docs/alerts.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from pydantic import Field, model_validator

from shared.domain.alert_transitions import AlertState
from shared.domain.alerts import (
    MAX_FILTER_VALUE,
    MAX_FILTERS,
    SPEND,
    Alert,
    AlertStatus,
    AlertType,
    CustomFieldFilter,
    FilterEntity,
)
from shared.domain.audit import Caller
from shared.domain.commits import UniquenessKey
from shared.domain.money import is_at_currency_precision
from shared.domain.paging import DEFAULT_LIMIT, PageRequest
from shared.domain.types import Identifier, Name, NonNegativeDecimal, RequestCurrency
from shared.domain.validation import invalid_field
from shared.ports.store import UniquenessKeyTaken
from shared.services.alert_evaluation import read_all
from shared.services.api_customers import customer_of
from shared.services.api_dependencies import ALERTS_ARCHIVE, ALERTS_CREATE, ApiDependencies, audit_entry
from shared.services.api_errors import Conflict, NotFound
from shared.services.api_requests import BodyLimit, NextPage, _Body

Currency = RequestCurrency


class CustomFieldFilterBody(_Body):
    entity: FilterEntity = Field(description="Contract, Commit or ContractCredit")
    key: Annotated[str, Field(min_length=1, max_length=256)]
    value: Annotated[str, Field(max_length=MAX_FILTER_VALUE)]


class CreateAlertRequest(_Body):
    alert_type: AlertType
    name: Name
    threshold: NonNegativeDecimal = Field(description="a decimal string ≥ 0, at most the currency's decimals")
    currency: Currency
    customer_id: Identifier | None = Field(default=None, description="null: every customer")
    custom_field_filters: Annotated[list[CustomFieldFilterBody], Field(max_length=MAX_FILTERS)] = Field(
        default_factory=list, description="all must match (docs/alerts.md, Filters)"
    )
    uniqueness_key: UniquenessKey | None = Field(
        default=None, description="unique across the account: reuse is a 409, archived alerts included"
    )

    @model_validator(mode="after")
    def _threshold_in_currency(self) -> CreateAlertRequest:
        if not is_at_currency_precision(self.threshold, self.currency):
            raise invalid_field("threshold", f"has more digits than {self.currency} allows")
        return self


class ArchiveAlertRequest(_Body):
    id: Identifier = Field(description="the alert's id")


class ListCustomerAlertsRequest(_Body):
    customer_id: Identifier
    limit: BodyLimit = DEFAULT_LIMIT
    next_page: NextPage | None = None


@dataclass(frozen=True)
class ListedState:
    """A state as listed: its status, and what made its last transition and when (all None before
    the first evaluation)."""

    status: AlertStatus | None
    triggered_by: str | None = None
    changed_at: datetime | None = None

    @classmethod
    def of(cls, state: AlertState | None) -> ListedState:
        return NOT_EVALUATED if state is None else cls(state.status, state.triggered_by, state.evaluated_at)


NOT_EVALUATED = ListedState(None)


@dataclass(frozen=True)
class CustomerAlert:
    alert: Alert
    customer: ListedState  # status None: not evaluated for this customer yet
    contracts: list[tuple[str, ListedState]] | None  # spend alerts: each selected contract's


def create_alert(deps: ApiDependencies, caller: Caller, request: CreateAlertRequest) -> Alert:
    if request.customer_id is not None:
        customer_of(deps, request.customer_id)
    alert = Alert(
        id=deps.new_id("alert"),
        alert_type=request.alert_type,
        name=request.name,
        threshold=request.threshold,
        currency=request.currency,
        customer_id=request.customer_id,
        custom_field_filters=[CustomFieldFilter(**item.model_dump()) for item in request.custom_field_filters],
        uniqueness_key=request.uniqueness_key,
        created_at=deps.clock().replace(microsecond=0),
    )
    try:
        deps.store.create_alert_audited(alert, audit_entry(deps, caller, ALERTS_CREATE, alert.id, 200))
    except UniquenessKeyTaken as error:
        raise Conflict(
            f"uniqueness_key {error.key!r} is already used by an alert; nothing was created", field="uniqueness_key"
        ) from None
    return alert


def archive_alert(deps: ApiDependencies, caller: Caller, request: ArchiveAlertRequest) -> Alert:
    now = deps.clock().replace(microsecond=0)
    archived = deps.store.archive_alert_audited(
        request.id, now, audit_entry(deps, caller, ALERTS_ARCHIVE, request.id, 200)
    )
    if archived is None:
        raise NotFound(f"alert {request.id!r} not found", field="id")
    return archived


def list_customer_alerts(
    deps: ApiDependencies, request: ListCustomerAlertsRequest
) -> tuple[list[CustomerAlert], str | None]:
    """A page of the alerts that apply to the customer (not archived), each with its states."""
    customer_of(deps, request.customer_id)
    page = deps.store.list_alerts(PageRequest(request.limit, request.next_page), applying_to=request.customer_id)
    states = {(state.alert_id, state.contract_id): state for state in deps.store.alert_states(request.customer_id)}
    contracts = []
    if any(alert.alert_type == SPEND for alert in page.items):
        contracts = read_all(lambda contract_page: deps.store.list_contracts(request.customer_id, contract_page))
    listed = []
    for alert in page.items:
        mark = states.get((alert.id, None))
        if alert.alert_type != SPEND:
            listed.append(CustomerAlert(alert, ListedState.of(mark), None))
            continue
        selected = [
            (contract.id, _contract_state(states, alert.id, contract.id, mark))
            for contract in contracts
            if alert.selects_contract(contract)
        ]
        listed.append(CustomerAlert(alert, _spend_customer_state([state for _, state in selected], mark), selected))
    return listed, page.next_page


def _contract_state(
    states: Mapping[tuple[str, str | None], AlertState], alert_id: str, contract_id: str, mark: AlertState | None
) -> ListedState:
    """A contract's state; one without a state of its own is `ok` since its customer's first
    evaluation (whose trigger and time it shows)."""
    state = states.get((alert_id, contract_id))
    return ListedState.of(state if state is not None else mark)


def _spend_customer_state(contracts: list[ListedState], mark: AlertState | None) -> ListedState:
    """A spend alert's customer state: `in_alarm` when any contract is, else `ok` once evaluated;
    its trigger and time are the latest transition of a contract to that status (the customer's
    first evaluation when no contract made one)."""
    if mark is None and not any(state.status == "in_alarm" for state in contracts):
        return NOT_EVALUATED
    status: AlertStatus = "in_alarm" if any(state.status == "in_alarm" for state in contracts) else "ok"
    same = [(state.changed_at, state) for state in contracts if state.status == status and state.changed_at]
    if same:
        return max(same, key=lambda pair: pair[0])[1]
    return ListedState.of(mark) if mark is not None else ListedState(status)
