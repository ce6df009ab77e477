"""The read-only `subscription` of marketplace configurations, through the API handler."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from shared.domain.subscriptions import Subscription, SubscriptionChange, changed_subscription, metering_gate
from shared.services.api_dependencies import ApiDependencies
from tests.fakes.memory_store import InMemoryStore
from tests.unit.test_api_handler import NOW, deps, store
from tests.unit.test_api_handler import call as handler_call

TOKEN = "unit-token"
__all__ = ["deps", "store"]  # the fixtures: an in-memory store and the API's dependencies at NOW
AWS: dict[str, Any] = {
    "billing_provider": "aws_marketplace",
    "configuration": {"aws_product_code": "prod-x", "aws_region": "us-east-1", "aws_customer_id": "c-1"},
}
AZURE: dict[str, Any] = {
    "billing_provider": "azure_marketplace",
    "configuration": {"azure_subscription_id": "sub-1", "azure_plan_id": "gold", "azure_quantity": 3},
}


def call(deps: ApiDependencies, method: str, target: str, body: Any = None) -> tuple[int, Any]:
    return handler_call(deps, method, target, b"" if body is None else json.dumps(body).encode())


def test_created_through_the_api_is_active(deps: ApiDependencies) -> None:
    status, reply = call(
        deps, "POST", "/v1/customers", {"id": "c1", "name": "A", "billing_provider_configurations": [AWS]}
    )
    assert status == 200
    assert reply["data"]["billing_provider_configurations"][0]["subscription"] == {
        "status": "active", "changed_at": "2025-03-01T00:00:00Z", "source": "api",
        "agreement_id": None, "operation_id": None,
    }  # fmt: skip
    status, reply = call(deps, "POST", "/v1/customers/c1/billingProviderConfigurations", AZURE)
    assert status == 200
    azure = reply["data"]["billing_provider_configurations"][1]
    assert (azure["configuration"]["azure_quantity"], azure["subscription"]["status"]) == (3, "active")


@pytest.mark.parametrize(
    ("target", "body", "field"),
    [
        ("/v1/customers", {"name": "A", "billing_provider_configurations": [{**AWS, "subscription": {}}]},
         "billing_provider_configurations.0.subscription"),
        ("/v1/customers/c1/billingProviderConfigurations", {**AZURE, "subscription": None}, "subscription"),
        ("/v1/customers/c1/billingProviderConfigurations",
         {**AZURE, "configuration": {**AZURE["configuration"], "azure_quantity": 0}}, "configuration.azure_quantity"),
    ],
)  # fmt: skip
def test_a_request_that_sends_subscription_is_refused(
    deps: ApiDependencies, store: InMemoryStore, target: str, body: Any, field: str
) -> None:
    call(deps, "POST", "/v1/customers", {"id": "c1", "name": "A"})
    status, reply = call(deps, "POST", target, body)
    assert (status, reply["field"]) == (400, field)
    assert store.customers["c1"].billing_provider_configurations == []


def test_replacing_keeps_the_stored_subscription(deps: ApiDependencies, store: InMemoryStore) -> None:
    call(deps, "POST", "/v1/customers", {"id": "c1", "name": "A", "billing_provider_configurations": [AWS]})
    ended = Subscription(status="unsubscribed", changed_at=NOW - timedelta(hours=1), source="aws_sns")
    customer = store.customers["c1"]
    configuration = customer.billing_provider_configurations[0].model_copy(update={"subscription": ended})
    store.customers["c1"] = customer.model_copy(update={"billing_provider_configurations": [configuration]})
    edited = {**AWS, "configuration": {**AWS["configuration"], "aws_agreement_id": "agmt-1"}}
    status, reply = call(deps, "POST", "/v1/customers/c1/billingProviderConfigurations", edited)
    assert status == 200
    shown = reply["data"]["billing_provider_configurations"][0]
    assert (shown["configuration"]["aws_agreement_id"], shown["subscription"]["status"]) == ("agmt-1", "unsubscribed")


def test_changes_apply_once_and_never_go_back_in_time() -> None:
    active = Subscription(status="active", changed_at=NOW, source="api")
    ended = SubscriptionChange(status="unsubscribed", at=NOW + timedelta(hours=1), source="aws_sns")
    after = changed_subscription(active, ended)
    assert after is not None
    assert after.status == "unsubscribed"
    assert changed_subscription(after, ended) is None  # delivered twice
    older = SubscriptionChange(status="active", at=NOW, source="aws_sns")
    assert changed_subscription(after, older) is None
    operation = SubscriptionChange(
        status="suspended", at=NOW + timedelta(hours=2), source="azure_webhook", operation_id="op"
    )
    suspended = changed_subscription(active, operation)
    assert suspended is not None
    assert suspended.operation_id == "op"
    again = SubscriptionChange(status="active", at=NOW + timedelta(hours=3), source="azure_webhook", operation_id="op")
    assert changed_subscription(suspended, again) is None


def test_metering_gate_follows_the_state() -> None:
    hour = NOW
    assert metering_gate(None, hour).action == "send"
    suspended = Subscription(status="suspended", changed_at=NOW, source="azure_webhook")
    gate = metering_gate(suspended, hour)
    assert gate.action == "hold"
    assert "suspended" in (gate.reason or "")
    ended = Subscription(status="unsubscribed", changed_at=NOW + timedelta(minutes=30), source="aws_event")
    assert metering_gate(ended, hour).action == "send"  # the hour started before the unsubscription
    gate = metering_gate(ended, hour + timedelta(hours=1))
    assert gate.action == "refuse"
    assert "unsubscribed" in (gate.reason or "")
