"""Alerts: create, archive, and a customer's alerts with their states (docs/alerts.md).

A route family of its own: the API imports it on the first request for one of its paths
(shared.api.app), so a cold start serving the other routes does not build its models."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import BaseModel, ConfigDict, Field

from shared.api.routes import current_caller as _caller
from shared.api.routes import current_deps as _deps
from shared.api.schemas import error_responses
from shared.domain.alerts import Alert, AlertStatus, AlertType, FilterEntity
from shared.domain.money import format_amount
from shared.domain.types import Timestamp
from shared.services import api_alerts
from shared.services.api_alerts import (
    ArchiveAlertRequest,
    CreateAlertRequest,
    CustomerAlert,
    ListCustomerAlertsRequest,
    ListedState,
)
from shared.services.api_dependencies import ALERTS_ARCHIVE, ALERTS_CREATE

router = Router()  # type: ignore[no-untyped-call]


class _View(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)


class CustomFieldFilterView(_View):
    entity: FilterEntity
    key: str
    value: str


class AlertView(_View):
    id: str
    alert_type: AlertType
    name: str
    threshold: str = Field(description="at the currency's minor units")
    currency: str
    customer_id: str | None = Field(description="null: every customer")
    custom_field_filters: list[CustomFieldFilterView]
    uniqueness_key: str | None
    created_at: Timestamp
    archived_at: Timestamp | None

    @classmethod
    def of(cls, alert: Alert) -> AlertView:
        return cls(
            id=alert.id,
            alert_type=alert.alert_type,
            name=alert.name,
            threshold=format_amount(alert.threshold, alert.currency),
            currency=alert.currency,
            customer_id=alert.customer_id,
            custom_field_filters=[
                CustomFieldFilterView(entity=item.entity, key=item.key, value=item.value)
                for item in alert.custom_field_filters
            ],
            uniqueness_key=alert.uniqueness_key,
            created_at=alert.created_at,
            archived_at=alert.archived_at,
        )


class AlertData(_View):
    data: AlertView


TRIGGERED_BY = (
    "what made the last transition: `schedule` (a scheduled run) or the id of the write whose evaluation made it"
    " (a commit, credit, contract, manual ledger entry or invoice); null before the first evaluation"
)
CHANGED_AT = "when the last transition was evaluated; null before the first evaluation"


class ContractAlertStatus(_View):
    contract_id: str
    status: AlertStatus | None = Field(description="ok or in_alarm; null before the contract's first evaluation")
    triggered_by: str | None = Field(description=TRIGGERED_BY)
    changed_at: Timestamp | None = Field(
        description=CHANGED_AT + " (a contract without a transition of its own: its customer's first evaluation)"
    )

    @classmethod
    def of(cls, contract_id: str, state: ListedState) -> ContractAlertStatus:
        return cls(
            contract_id=contract_id, status=state.status, triggered_by=state.triggered_by, changed_at=state.changed_at
        )


class CustomerAlertView(_View):
    alert: AlertView
    customer_status: AlertStatus | None = Field(
        description="ok or in_alarm (a spend alert: in_alarm when any contract is); null before the first evaluation"
    )
    triggered_by: str | None = Field(
        description=TRIGGERED_BY + " (a spend alert: of the latest transition of a contract to customer_status)"
    )
    changed_at: Timestamp | None = Field(
        description=CHANGED_AT + " (a spend alert: of the latest transition of a contract to customer_status)"
    )
    contracts: list[ContractAlertStatus] | None = Field(description="spend alerts: each contract it watches")

    @classmethod
    def of(cls, listed: CustomerAlert) -> CustomerAlertView:
        contracts = None
        if listed.contracts is not None:
            contracts = [ContractAlertStatus.of(contract_id, state) for contract_id, state in listed.contracts]
        return cls(
            alert=AlertView.of(listed.alert),
            customer_status=listed.customer.status,
            triggered_by=listed.customer.triggered_by,
            changed_at=listed.customer.changed_at,
            contracts=contracts,
        )


class CustomerAlertPage(_View):
    data: list[CustomerAlertView]
    next_page: str | None


@router.post(
    "/v1/alerts/create",
    operation_id=ALERTS_CREATE.name,
    tags=["alerts"],
    summary="Create a low-balance or spend alert; a uniqueness_key already used by an alert is a 409",
    responses=error_responses(400, 401, 404, 409, 413),
)
def create_alert(request: CreateAlertRequest) -> AlertData:
    return AlertData(data=AlertView.of(api_alerts.create_alert(_deps(), _caller(), request)))


@router.post(
    "/v1/alerts/archive",
    operation_id=ALERTS_ARCHIVE.name,
    tags=["alerts"],
    summary="Archive an alert: it is never evaluated again and sends nothing more",
    responses=error_responses(400, 401, 404, 413),
)
def archive_alert(request: ArchiveAlertRequest) -> AlertData:
    return AlertData(data=AlertView.of(api_alerts.archive_alert(_deps(), _caller(), request)))


@router.post(
    "/v1/customer-alerts/list",
    operation_id="customerAlerts.list",
    tags=["alerts"],
    summary="The alerts that apply to a customer (not archived), each with its state for the customer",
    responses=error_responses(400, 401, 404, 413),
)
def list_customer_alerts(request: ListCustomerAlertsRequest) -> CustomerAlertPage:
    listed, next_page = api_alerts.list_customer_alerts(_deps(), request)
    return CustomerAlertPage(data=[CustomerAlertView.of(item) for item in listed], next_page=next_page)
