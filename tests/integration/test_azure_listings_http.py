"""Azure Marketplace listings over HTTP through the local stack: the landing with valid, expired
and invalid tokens, completion activating the SaaS subscription (or failing with nothing written),
and the SaaS webhook — refused for every flaw of its Microsoft Entra token, then applying what the
operation read back from the Azure double says, once per operation."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import quote

import pytest
import requests

from local.azure_marketplace_double import AzureMarketplaceDouble
from tests.integration.api_harness import LocalApi, Reply

WEBHOOK = "/v1/marketplaces/azure/webhook"


def double(local_api: LocalApi) -> AzureMarketplaceDouble:
    found = local_api.stack.azure
    assert found is not None
    return found


def control(local_api: LocalApi, path: str, body: dict[str, Any]) -> dict[str, Any]:
    azure = double(local_api)
    answer = requests.post(f"{azure.url}/_double/{path}", json=body, timeout=10, verify=str(azure.ca_bundle))
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def landing_token(local_api: LocalApi, **purchase: Any) -> str:
    token: str = control(local_api, "fulfillment/tokens", purchase)["token"]
    return token


def land(local_api: LocalApi, token: str) -> Reply:
    return local_api.client.get(f"/v1/marketplaces/azure/landing?token={quote(token, safe='')}", authorization=None)


def registrations(local_api: LocalApi, status: str = "pending") -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = local_api.client.get(f"/v1/marketplaceRegistrations?status={status}&limit=100").data
    return found


def customer_count(local_api: LocalApi) -> int:
    return len(local_api.client.get("/v1/customers?limit=100").data)


def test_a_valid_token_lands_once_per_saas_subscription(local_api: LocalApi) -> None:
    subscription = str(uuid.uuid4())
    token = landing_token(local_api, subscription_id=subscription, plan_id="gold", quantity=3, offer_id="downbeat-x")
    assert "+" in token or "/" in token or "=" in token  # standard base64: the query must be decoded once
    landed = land(local_api, token).data
    assert (landed["provider"], landed["status"], landed["customer_id"]) == ("azure_marketplace", "pending", None)
    assert landed["identifiers"] == {
        "azure_subscription_id": subscription, "azure_plan_id": "gold", "azure_quantity": 3,
        "azure_offer_id": "downbeat-x", "purchaser_email": "purchaser@example.com",
        "beneficiary_email": "beneficiary@example.com",
    }  # fmt: skip
    assert land(local_api, landing_token(local_api, subscription_id=subscription)).data["id"] == landed["id"]
    mine = [r["id"] for r in registrations(local_api) if r["identifiers"].get("azure_subscription_id") == subscription]
    assert mine == [landed["id"]]
    audit = local_api.client.get(f"/v1/auditLogs?resource_type=registration&resource_id={landed['id']}").data
    assert [(e["action"], e["actor"]) for e in audit][-1] == ("marketplaces.azure.landing", "marketplace:azure_buyer")


@pytest.mark.parametrize("kind", ["expired", "invalid", "missing", "throttled"])
def test_a_refused_landing_token_stores_nothing(local_api: LocalApi, kind: str) -> None:
    before = registrations(local_api)
    token = landing_token(local_api, expired=kind == "expired")
    if kind == "invalid":
        token = "bm90LWEtdG9rZW4="
    elif kind == "missing":
        token = " "
    elif kind == "throttled":
        double(local_api).fail(503, path="/api/saas/subscriptions/resolve", times=3)  # every retry refused
    reply = land(local_api, token)
    assert reply.error() == ((503, None) if kind == "throttled" else (400, "token"))
    assert registrations(local_api) == before


def landed_customer(local_api: LocalApi, *, quantity: int | None = None, plan: str = "gold") -> tuple[str, str]:
    """A buyer landed and completed: (customer id, SaaS subscription id)."""
    subscription = str(uuid.uuid4())
    token = landing_token(local_api, subscription_id=subscription, plan_id=plan, quantity=quantity)
    registration = land(local_api, token).data
    body = {"registration_id": registration["id"], "customer": {"name": f"Azure buyer {subscription[:8]}"}}
    customer = local_api.client.post("/v1/marketplaceRegistrations/complete", body).data
    return customer["id"], subscription


def azure_configuration(local_api: LocalApi, customer_id: str) -> dict[str, Any]:
    customer = local_api.client.get(f"/v1/customers/{customer_id}").data
    [found] = [c for c in customer["billing_provider_configurations"] if c["billing_provider"] == "azure_marketplace"]
    return dict(found)


def test_completing_activates_the_subscription_and_makes_the_customer_once(local_api: LocalApi) -> None:
    subscription = str(uuid.uuid4())
    registration = land(local_api, landing_token(local_api, subscription_id=subscription, quantity=2)).data
    body = {"registration_id": registration["id"], "customer": {"name": "Azure Buyer Inc"}}
    customer = local_api.client.post("/v1/marketplaceRegistrations/complete", body).data
    [configuration] = customer["billing_provider_configurations"]
    assert configuration["configuration"] == {
        "azure_subscription_id": subscription, "azure_plan_id": "gold", "azure_quantity": 2,
    }  # fmt: skip
    assert (configuration["default"], configuration["subscription"]["status"]) == (True, "active")
    assert double(local_api).fulfillment.subscriptions[subscription].status == "Subscribed"
    activations = [r for r in double(local_api).requests if r.path.endswith(f"{subscription}/activate")]
    assert [r.payload for r in activations] == [{"planId": "gold", "quantity": 2}]
    assert local_api.client.post("/v1/marketplaceRegistrations/complete", body).error() == (409, "registration_id")


def test_a_refused_activation_writes_nothing_and_keeps_the_registration_pending_with_why(local_api: LocalApi) -> None:
    subscription = str(uuid.uuid4())
    registration = land(local_api, landing_token(local_api, subscription_id=subscription)).data
    double(local_api).fail(400, path=f"/api/saas/subscriptions/{subscription}/activate")
    customers = customer_count(local_api)
    body = {"registration_id": registration["id"], "customer": {"name": "Never Made Inc"}}
    reply = local_api.client.post("/v1/marketplaceRegistrations/complete", body)
    assert reply.error() == (502, "registration_id")
    assert "activate" in reply.body["message"]
    assert customer_count(local_api) == customers
    [kept] = [r for r in registrations(local_api) if r["id"] == registration["id"]]
    assert kept["status"] == "pending"
    assert "refused to activate" in kept["reason"]
    assert double(local_api).fulfillment.subscriptions[subscription].status == "PendingFulfillmentStart"
    customer = local_api.client.post("/v1/marketplaceRegistrations/complete", body).data  # it can be tried again
    assert azure_configuration(local_api, customer["id"])["subscription"]["status"] == "active"


def operation(local_api: LocalApi, subscription: str, action: str, **fields: Any) -> dict[str, Any]:
    """The operation Microsoft starts, its webhook body and the Authorization header it sends."""
    return control(local_api, "fulfillment/operations", {"subscription_id": subscription, "action": action, **fields})


def deliver(local_api: LocalApi, started: dict[str, Any], authorization: str | None = "as sent") -> Reply:
    header = started["authorization"] if authorization == "as sent" else authorization
    raw = json.dumps(started["webhook"]).encode()
    return local_api.client.post(WEBHOOK, raw=raw, authorization=header)


def patches(local_api: LocalApi, operation_id: str) -> list[Any]:
    return [r.payload for r in double(local_api).requests if r.method == "PATCH" and r.path.endswith(operation_id)]


def reads_of(local_api: LocalApi, operation_id: str) -> int:
    return sum(1 for r in double(local_api).requests if r.method == "GET" and r.path.endswith(operation_id))


@pytest.mark.parametrize(
    "flaw",
    ["wrong_key", "unknown_key", "wrong_audience", "wrong_tenant", "wrong_app", "wrong_issuer", "expired", "hs256",
     "none", "no token", "not bearer"],
)  # fmt: skip
def test_a_webhook_whose_token_fails_any_check_is_401_and_changes_nothing(local_api: LocalApi, flaw: str) -> None:
    customer_id, subscription = landed_customer(local_api)
    before = azure_configuration(local_api, customer_id)
    flawed = {} if flaw in ("no token", "not bearer") else {"flaw": flaw}
    started = operation(local_api, subscription, "Suspend", **flawed)
    header = {"no token": None, "not bearer": started["authorization"].replace("Bearer", "Basic")}.get(flaw, "as sent")
    reply = deliver(local_api, started, header)
    assert reply.error() == (401, None)
    assert azure_configuration(local_api, customer_id) == before
    assert reads_of(local_api, started["operation"]["id"]) == 0  # nothing was read before the token passed


@pytest.mark.parametrize(
    ("action", "fields", "expected"),
    [
        ("ChangePlan", {"plan_id": "platinum"}, {"configuration": {"azure_plan_id": "platinum"}}),
        ("ChangeQuantity", {"quantity": 9}, {"configuration": {"azure_quantity": 9}}),
        ("Suspend", {}, {"status": "suspended"}),
        ("Unsubscribe", {}, {"status": "unsubscribed"}),
        ("Renew", {}, {}),
    ],
)
def test_a_verified_webhook_changes_what_the_operation_says(
    local_api: LocalApi, action: str, fields: dict[str, Any], expected: dict[str, Any]
) -> None:
    customer_id, subscription = landed_customer(local_api, quantity=4)
    before = azure_configuration(local_api, customer_id)
    started = operation(local_api, subscription, action, version=2 if action == "Suspend" else 1, **fields)
    answer = deliver(local_api, started).data
    after = azure_configuration(local_api, customer_id)
    assert after["configuration"] == {**before["configuration"], **expected.get("configuration", {})}
    if "status" in expected:
        assert after["subscription"] == {
            "status": expected["status"], "changed_at": after["subscription"]["changed_at"], "source": "azure_webhook",
            "agreement_id": None, "operation_id": started["operation"]["id"],
        }  # fmt: skip
    else:
        assert after["subscription"] == before["subscription"]
    assert answer["outcome"] == ("changed" if expected else "unchanged")
    acknowledged = action in ("ChangePlan", "ChangeQuantity")
    assert patches(local_api, started["operation"]["id"]) == ([{"status": "Success"}] if acknowledged else [])
    assert answer["acknowledged"] is acknowledged


def test_reinstate_makes_a_suspended_subscription_active_again(local_api: LocalApi) -> None:
    customer_id, subscription = landed_customer(local_api)
    assert deliver(local_api, operation(local_api, subscription, "Suspend")).data["outcome"] == "changed"
    assert azure_configuration(local_api, customer_id)["subscription"]["status"] == "suspended"
    reinstated = operation(local_api, subscription, "Reinstate")
    assert deliver(local_api, reinstated).data["outcome"] == "changed"
    subscription_state = azure_configuration(local_api, customer_id)["subscription"]
    assert (subscription_state["status"], subscription_state["operation_id"]) == (
        "active",
        reinstated["operation"]["id"],
    )
    assert patches(local_api, reinstated["operation"]["id"]) == []


@pytest.mark.parametrize("status", ["Failed", "Conflict"])
def test_an_operation_microsoft_did_not_make_changes_nothing(local_api: LocalApi, status: str) -> None:
    customer_id, subscription = landed_customer(local_api)
    before = azure_configuration(local_api, customer_id)
    started = operation(local_api, subscription, "ChangePlan", plan_id="silver", status=status)
    answer = deliver(local_api, started).data
    assert (answer["outcome"], answer["acknowledged"]) == ("unchanged", False)
    assert status in answer["reason"]
    assert azure_configuration(local_api, customer_id) == before
    assert patches(local_api, started["operation"]["id"]) == []


def test_the_same_operation_delivered_twice_changes_once(local_api: LocalApi) -> None:
    customer_id, subscription = landed_customer(local_api)
    first = operation(local_api, subscription, "ChangePlan", plan_id="silver")
    assert deliver(local_api, first).data["outcome"] == "changed"
    assert (
        deliver(local_api, operation(local_api, subscription, "ChangePlan", plan_id="gold")).data["outcome"]
        == "changed"
    )
    assert deliver(local_api, first).data["outcome"] == "duplicate"  # not back to silver
    assert azure_configuration(local_api, customer_id)["configuration"]["azure_plan_id"] == "gold"
    assert patches(local_api, first["operation"]["id"]) == [{"status": "Success"}]
    audit = local_api.client.get(f"/v1/auditLogs?resource_type=customer&resource_id={customer_id}").data
    changes = [e for e in audit if e["action"] == "marketplaceSubscription.change"]
    assert [e["actor"] for e in changes] == ["marketplace:azure_webhook"] * 2


def test_an_operation_for_no_known_buyer_is_kept_as_unmatched(local_api: LocalApi) -> None:
    subscription = str(uuid.uuid4())
    landing_token(local_api, subscription_id=subscription)  # bought, but never landed here
    started = operation(local_api, subscription, "Unsubscribe")
    answer = deliver(local_api, started).data
    assert answer["outcome"] == "unmatched"
    assert local_api.stack.resources is not None
    key = {"PK": {"S": "UNMATCHED#azure_webhook"}, "SK": {"S": started["operation"]["id"]}}
    kept = local_api.stack.clients.dynamodb.get_item(TableName=local_api.stack.resources.table_name, Key=key)
    assert "Item" in kept
    assert local_api.store.marketplace_operation_done("azure_webhook", started["operation"]["id"])


def test_a_webhook_body_naming_no_operation_is_400_after_the_token(local_api: LocalApi) -> None:
    _, subscription = landed_customer(local_api)
    started = operation(local_api, subscription, "Renew")
    started["webhook"] = {"subscriptionId": subscription}
    assert deliver(local_api, started).error() == (400, "id")
    assert deliver(local_api, started, None).error() == (401, None)


def test_a_plan_change_before_completion_is_what_the_activation_asks_for(local_api: LocalApi) -> None:
    subscription = str(uuid.uuid4())
    registration = land(local_api, landing_token(local_api, subscription_id=subscription)).data
    assert deliver(local_api, operation(local_api, subscription, "ChangePlan", plan_id="silver")).data["outcome"] == (
        "changed"
    )
    body = {"registration_id": registration["id"], "customer": {"name": "Changed Early Inc"}}
    customer = local_api.client.post("/v1/marketplaceRegistrations/complete", body).data
    assert azure_configuration(local_api, customer["id"])["configuration"]["azure_plan_id"] == "silver"


def registration_audit(local_api: LocalApi, registration_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = local_api.client.get(
        f"/v1/auditLogs?resource_type=registration&resource_id={registration_id}"
    ).data
    return found


def test_a_webhook_changing_a_registration_is_in_the_audit_log_once(local_api: LocalApi) -> None:
    subscription = str(uuid.uuid4())
    registration = land(local_api, landing_token(local_api, subscription_id=subscription)).data
    started = operation(local_api, subscription, "ChangePlan", plan_id="silver")
    assert deliver(local_api, started).data["registrations"] == [registration["id"]]
    assert deliver(local_api, started).data["outcome"] == "duplicate"  # Microsoft delivers it again
    entries = registration_audit(local_api, registration["id"])
    assert [(e["action"], e["actor"], e["event_id"], e["ip_address"], e["user_agent"]) for e in entries] == [
        ("marketplaceRegistration.change", "marketplace:azure_webhook", started["operation"]["id"], None, None),
        ("marketplaces.azure.landing", "marketplace:azure_buyer", None, "127.0.0.1", entries[1]["user_agent"]),
    ]  # newest first


def test_a_refused_activation_is_audited_once_naming_the_registration(local_api: LocalApi) -> None:
    subscription = str(uuid.uuid4())
    registration = land(local_api, landing_token(local_api, subscription_id=subscription)).data
    double(local_api).fail(400, path=f"/api/saas/subscriptions/{subscription}/activate", times=2)
    agent = f"audit-test/{uuid.uuid4().hex}"
    body = {"registration_id": registration["id"], "customer": {"name": "Refused Inc"}}
    for _ in range(2):  # the second time the reason is the same: nothing changes, the call is still audited
        reply = local_api.client.post("/v1/marketplaceRegistrations/complete", body, user_agent=agent)
        assert reply.error() == (502, "registration_id")
    mine = [e for e in registration_audit(local_api, registration["id"]) if e["user_agent"] == agent]
    assert [(e["action"], e["status_code"], e["ip_address"], e["event_id"]) for e in mine] == [
        ("marketplaceRegistrations.complete", 502, "127.0.0.1", None)
    ] * 2
    assert all(e["actor"].startswith("tok_") for e in mine)
    unnamed = local_api.client.get("/v1/auditLogs?resource_type=registration&limit=100").data
    assert [e for e in unnamed if e["user_agent"] == agent and e["resource_id"] is None] == []  # no second entry
