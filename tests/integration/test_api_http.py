"""The API through `downbeat local`: real sockets, the real handler, DynamoDB on the embedded moto.

Every path and every error: 401 (missing token, wrong token, wrong scheme), 400 naming the field
(nested paths included), 404, malformed JSON; lifetime billings; the audit log of every call.
"""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.domain.invoice import InvoiceEvent
from shared.domain.sync import SyncAttempt
from tests.builders import AWS, AZURE, STRIPE, invoice_event
from tests.integration.api_harness import USER_AGENT, ApiClient, LocalApi

RECEIVED = datetime(2025, 3, 1, tzinfo=UTC)


def new_customer(api: ApiClient, *configurations: dict[str, Any], **fields: Any) -> dict[str, Any]:
    body = {"name": "Acme", "billing_provider_configurations": [copy.deepcopy(c) for c in configurations], **fields}
    data: dict[str, Any] = api.post("/v1/customers", body).data
    return data


def audit_entries(api: ApiClient, **filters: str) -> list[dict[str, Any]]:
    query = "&".join(f"{name}={value}" for name, value in {"limit": "100", **filters}.items())
    entries: list[dict[str, Any]] = api.get(f"/v1/auditLogs?{query}").data
    return entries


def stripe(default: bool = False, **configuration: Any) -> dict[str, Any]:
    raw: dict[str, Any] = copy.deepcopy(STRIPE)
    return {**raw, "configuration": {**raw["configuration"], **configuration}, "default": default}


# -- 401 -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", "Basic dGVzdDp0ZXN0", "Bearer", "Bearer ", "test-token-4f8a1c", "Token x"],
    ids=["missing", "wrong-token", "basic-scheme", "bearer-without-token", "bearer-blank", "no-scheme", "token-scheme"],
)
def test_every_path_refuses_a_missing_or_wrong_token(api: ApiClient, authorization: str | None) -> None:
    paths = [
        ("POST", "/v1/customers"),
        ("GET", "/v1/customers"),
        ("GET", "/v1/customers/cust_x"),
        ("POST", "/v1/customers/cust_x/billingProviderConfigurations"),
        ("POST", "/v1/contracts/create"),
        ("POST", "/v1/contracts/get"),
        ("POST", "/v1/contracts/list"),
        ("POST", "/v1/contracts/customerCommits/create"),
        ("POST", "/v1/contracts/customerCommits/list"),
        ("POST", "/v1/contracts/customerCredits/create"),
        ("POST", "/v1/contracts/customerCredits/list"),
        ("POST", "/v1/contracts/addManualBalanceLedgerEntry"),
        ("POST", "/v1/contracts/customerBalances/list"),
        ("GET", "/v1/customers/cust_x/invoices"),
        ("GET", "/v1/customers/cust_x/invoices/inv_x"),
        ("GET", "/v1/invoices/inv_x/sync"),
        ("GET", "/v1/auditLogs"),
        ("GET", "/v1/no-such-path"),
    ]
    for method, path in paths:
        # A malformed body too: authentication comes before validation.
        reply = api.call(method, path, raw=b"{not json" if method == "POST" else None, authorization=authorization)
        assert reply.error() == (401, None), (method, path)
        assert reply.headers.get("WWW-Authenticate", "").startswith("Bearer")
        assert "test-token" not in reply.body["message"]


def test_refused_calls_are_not_audited(api: ApiClient) -> None:
    agent = f"intruder-{uuid.uuid4().hex}"
    assert api.post("/v1/customers", {"name": "x"}, authorization="Bearer nope", user_agent=agent).status == 401
    assert [entry for entry in audit_entries(api) if entry["user_agent"] == agent] == []


def test_openapi_document_is_served_without_a_token(api: ApiClient) -> None:
    reply = api.get("/openapi.json", authorization=None)
    assert reply.status == 200
    document = reply.body
    assert document["openapi"].startswith("3.")
    assert "/v1/customers/{customer_id}/billingProviderConfigurations" in document["paths"]
    responses = document["paths"]["/v1/customers"]["post"]["responses"]
    assert {"200", "400", "401"} <= set(responses)
    assert "422" not in responses
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


# -- customers -------------------------------------------------------------------------------------
def test_customer_create_get_and_list(api: ApiClient) -> None:
    created = new_customer(api, stripe(default=True), AWS, custom_fields={"tier": "gold"})
    assert created["id"].startswith("cust_")
    assert created["lifetime_billings"] == {}
    assert created["custom_fields"] == {"tier": "gold"}
    configurations = created["billing_provider_configurations"]
    assert [c["billing_provider"] for c in configurations] == ["stripe", "aws_marketplace"]
    assert configurations[0]["configuration"]["days_until_due"] == 30  # defaults filled in (DESIGN §3)
    assert configurations[0]["configuration"]["invoice_date_timezone"] == "UTC"
    assert created["created_at"].endswith("Z")
    assert len(created["created_at"]) == len("2025-01-01T00:00:00Z")
    assert api.get(f"/v1/customers/{created['id']}").data == created

    seen: list[str] = []
    cursor: str | None = None
    while True:
        page = api.get("/v1/customers?limit=2" + (f"&next_page={cursor}" if cursor else "")).body
        assert len(page["data"]) <= 2
        assert "next_page" in page
        seen.extend(customer["id"] for customer in page["data"])
        cursor = page["next_page"]
        if cursor is None:
            break
    assert created["id"] in seen
    assert len(seen) == len(set(seen))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "billing_provider_configurations": [{"billing_provider": "stripe", "configuration": {}}]},
         "billing_provider_configurations.0.configuration.stripe_customer_id"),
        ({"name": "x",
          "billing_provider_configurations": [AWS, {**STRIPE, "configuration": {"stripe_customer_id": ""}}]},
         "billing_provider_configurations.1.configuration.stripe_customer_id"),
        ({"name": "x", "billing_provider_configurations": [STRIPE, STRIPE]},
         "billing_provider_configurations.1.billing_provider"),
        ({"name": "x", "billing_provider_configurations": [{**STRIPE, "default": True}, {**AWS, "default": True}]},
         "billing_provider_configurations.1.default"),
        ({"name": "x", "billing_provider_configurations": [{"billing_provider": "paypal"}]},
         "billing_provider_configurations.0.billing_provider"),
        ({"name": ""}, "name"),
        ({}, "name"),
        ({"name": "x", "nickname": "y"}, "nickname"),
        ({"name": "x", "custom_fields": {"a": 1}}, "custom_fields.a"),
        ({"name": 7}, "name"),
    ],
)  # fmt: skip
def test_customer_create_names_the_invalid_field(api: ApiClient, body: dict[str, Any], field: str) -> None:
    assert api.post("/v1/customers", body).error() == (400, field)


@pytest.mark.parametrize("raw", [b"{not json", b"", b'{"name": "x",}', b"[]", b'"a string"', b"null"])
def test_malformed_or_missing_json_is_a_400_without_field(api: ApiClient, raw: bytes) -> None:
    assert api.call("POST", "/v1/customers", raw=raw).error() == (400, None)


def test_lists_check_limit_and_next_page(api: ApiClient) -> None:
    customer = new_customer(api)
    lists = ["/v1/customers?", f"/v1/customers/{customer['id']}/invoices?", "/v1/auditLogs?"]
    for path in lists:
        for limit in ("0", "101", "-1", "abc", "2.5"):
            assert api.get(f"{path}limit={limit}").error() == (400, "limit"), (path, limit)
        assert api.get(f"{path}limit=100").status == 200
        for cursor in ("garbage", "eyJQSyI6IngifQ", "e30"):
            assert api.get(f"{path}next_page={cursor}").error() == (400, "next_page"), (path, cursor)
    for body in ({"limit": 0}, {"limit": 101}, {"limit": "10"}):
        reply = api.post("/v1/contracts/list", {"customer_id": customer["id"], **body})
        assert reply.error() == (400, "limit")
    reply = api.post("/v1/contracts/list", {"customer_id": customer["id"], "next_page": "garbage"})
    assert reply.error() == (400, "next_page")


def test_unknown_ids_are_404(api: ApiClient) -> None:
    assert api.get("/v1/customers/cust_missing").error() == (404, None)
    assert api.get("/v1/customers/cust_missing/invoices").error() == (404, None)
    assert api.get("/v1/customers/cust_missing/invoices/inv_missing").error() == (404, None)
    assert api.get("/v1/invoices/inv_never_received/sync").error() == (404, None)
    reply = api.post("/v1/customers/cust_missing/billingProviderConfigurations", STRIPE)
    assert reply.error() == (404, None)
    assert api.get("/v1/nothing-here").error() == (404, None)
    wrong_method = api.call("DELETE", "/v1/customers")
    assert wrong_method.error() == (405, None)
    assert wrong_method.headers.get("Allow") == "GET, POST"


# -- billing provider configurations ---------------------------------------------------------------
def test_configuration_is_added_then_replaced_for_the_same_provider(api: ApiClient) -> None:
    customer = new_customer(api, stripe(default=True))
    path = f"/v1/customers/{customer['id']}/billingProviderConfigurations"
    added = api.post(path, {**AZURE}).data
    assert [c["billing_provider"] for c in added["billing_provider_configurations"]] == ["stripe", "azure_marketplace"]
    replaced = api.post(path, stripe(stripe_customer_id="cus_N2", days_until_due=0)).data
    configurations = replaced["billing_provider_configurations"]
    assert [c["billing_provider"] for c in configurations] == ["stripe", "azure_marketplace"]
    assert configurations[0]["configuration"]["stripe_customer_id"] == "cus_N2"
    assert configurations[0]["default"] is False
    assert api.get(f"/v1/customers/{customer['id']}").data == replaced
    # now nothing is the default: azure may become it, and stripe then may not
    assert api.post(path, {**AZURE, "default": True}).status == 200
    assert api.post(path, stripe(default=True)).error() == (400, "default")
    assert api.post(path, {**AZURE, "default": True}).status == 200  # re-setting the default one is fine


@pytest.mark.parametrize(
    ("configuration", "field"),
    [
        (stripe(stripe_customer_id=None), "configuration.stripe_customer_id"),
        ({"billing_provider": "stripe", "configuration": {}}, "configuration.stripe_customer_id"),
        (stripe(invoice_date_timezone="Mars/Olympus"), "configuration.invoice_date_timezone"),
        (stripe(days_until_due=-1), "configuration.days_until_due"),
        (stripe(days_until_due="30"), "configuration.days_until_due"),
        (stripe(days_until_due=1.5), "configuration.days_until_due"),
        (stripe(stripe_collection_method="cash"), "configuration.stripe_collection_method"),
        (stripe(invoice_date="tomorrow"), "configuration.invoice_date"),
        (stripe(leave_as_draft="yes"), "configuration.leave_as_draft"),
        (stripe(surprise=True), "configuration.surprise"),
        ({**AWS, "configuration": {"aws_customer_id": "c-1", "aws_region": "us-east-1"}},
         "configuration.aws_product_code"),
        ({**AWS, "configuration": {"aws_customer_id": "c-1", "aws_product_code": "p"}}, "configuration.aws_region"),
        ({**AWS, "configuration": {"aws_product_code": "p", "aws_region": "us-east-1"}},
         "configuration.aws_customer_id"),
        ({**AWS, "configuration": {"aws_customer_account_id": "111122223333", "aws_product_code": "p",
                                   "aws_region": "us-east-1"}}, "configuration.aws_license_arn"),
        ({**AWS, "configuration": {"aws_customer_account_id": "12", "aws_license_arn": "arn:x", "aws_product_code": "p",
                                   "aws_region": "us-east-1"}}, "configuration.aws_customer_account_id"),
        ({**AZURE, "configuration": {"azure_subscription_id": "sub"}}, "configuration.azure_plan_id"),
        ({**AZURE, "configuration": {"azure_plan_id": "gold"}}, "configuration.azure_subscription_id"),
        ({"billing_provider": "paypal", "configuration": {}}, "billing_provider"),
        ({"configuration": {}}, "billing_provider"),
        ({**AZURE, "delivery_method": "email"}, "delivery_method"),
        ({**AZURE, "default": "true"}, "default"),
        ({**AZURE, "extra": 1}, "extra"),
    ],
)  # fmt: skip
def test_configuration_validation_per_provider(api: ApiClient, configuration: dict[str, Any], field: str) -> None:
    customer = new_customer(api)
    body = dict(configuration)
    if isinstance(body.get("configuration"), dict):
        body["configuration"] = {k: v for k, v in body["configuration"].items() if v is not None}
    reply = api.post(f"/v1/customers/{customer['id']}/billingProviderConfigurations", body)
    assert reply.error() == (400, field)
    # 400 (validation) comes before 404 (existence)
    assert api.post("/v1/customers/cust_missing/billingProviderConfigurations", body).error() == (400, field)


def test_each_provider_configuration_is_accepted(api: ApiClient) -> None:
    customer = new_customer(api)
    path = f"/v1/customers/{customer['id']}/billingProviderConfigurations"
    full_stripe = stripe(
        stripe_collection_method="send_invoice",
        invoice_date="finalization",
        invoice_date_timezone="America/New_York",
        leave_as_draft=True,
        days_until_due=0,
        automatic_tax=True,
        skip_below_minimum=True,
    )
    aws_by_account = {
        **AWS,
        "configuration": {
            "aws_customer_account_id": "111122223333",
            "aws_license_arn": "arn:aws:license-manager::111122223333:license:l-1",
            "aws_product_code": "prod-x",
            "aws_region": "us-east-1",
            "aws_is_subscription_product": True,
        },
    }
    for configuration in (full_stripe, aws_by_account, AZURE):
        assert api.post(path, configuration).status == 200
    stored = api.get(f"/v1/customers/{customer['id']}").data["billing_provider_configurations"]
    sent = [full_stripe["configuration"], aws_by_account["configuration"], AZURE["configuration"]]
    echoed = [{k: v for k, v in c["configuration"].items() if v is not None} for c in stored]
    assert echoed == sent


# -- contracts -------------------------------------------------------------------------------------
def contract_body(customer_id: str, **fields: Any) -> dict[str, Any]:
    return {"customer_id": customer_id, "name": "2025", "starting_at": "2025-01-01T00:00:00Z", **fields}


def test_contract_create_get_and_list(api: ApiClient) -> None:
    customer = new_customer(api, stripe(default=True), AWS)
    created = api.post(
        "/v1/contracts/create",
        contract_body(
            customer["id"],
            ending_before="2026-01-01T00:00:00Z",
            custom_fields={"tier": "gold"},
            billing_provider_configuration={"billing_provider": "aws_marketplace"},
            commits=[],
        ),
    ).data
    assert created["id"].startswith("con_")
    assert created["billing_provider_configuration"] == {
        "billing_provider": "aws_marketplace",
        "delivery_method": "direct_to_billing_provider",
    }
    assert (created["starting_at"], created["ending_before"]) == ("2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z")
    fetched = api.post("/v1/contracts/get", {"customer_id": customer["id"], "contract_id": created["id"]}).data
    assert fetched == created
    second = api.post("/v1/contracts/create", contract_body(customer["id"], name="2026")).data
    assert second["billing_provider_configuration"] is None
    assert second["ending_before"] is None
    first_page = api.post("/v1/contracts/list", {"customer_id": customer["id"], "limit": 1}).body
    assert len(first_page["data"]) == 1
    assert first_page["next_page"] is not None
    rest = api.post(
        "/v1/contracts/list", {"customer_id": customer["id"], "limit": 1, "next_page": first_page["next_page"]}
    ).body
    assert rest["next_page"] is None
    assert {first_page["data"][0]["id"], rest["data"][0]["id"]} == {created["id"], second["id"]}


def test_contract_override_must_name_a_provider_the_customer_has(api: ApiClient) -> None:
    customer = new_customer(api, stripe())
    body = contract_body(customer["id"], billing_provider_configuration={"billing_provider": "azure_marketplace"})
    assert api.post("/v1/contracts/create", body).error() == (400, "billing_provider_configuration.billing_provider")
    api.post(f"/v1/customers/{customer['id']}/billingProviderConfigurations", AZURE)
    assert api.post("/v1/contracts/create", body).status == 200


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"commits": [{"type": "PREPAID", "name": "2025 commit"}]}, "commits.0.currency"),
        ({"credits": [{"name": "promo", "currency": "USD"}]}, "credits.0.access_schedule"),
        ({"recurring_commits": [{"name": "Monthly allowance"}]}, "recurring_commits.0.amount"),
        ({"recurring_credits": [{"name": "Monthly credit", "type": "PREPAID"}]}, "recurring_credits.0.amount"),
        ({"uniqueness_key": "k"}, "uniqueness_key"),
        ({"starting_at": "2025-01-01"}, "starting_at"),
        ({"starting_at": "2025-01-01T00:00:00"}, "starting_at"),
        ({"ending_before": "2024-12-31T00:00:00Z"}, "ending_before"),
        ({"ending_before": "2025-01-01T00:00:00Z"}, "ending_before"),
        ({"billing_provider_configuration": {"billing_provider": "stripe", "extra": 1}},
         "billing_provider_configuration.extra"),
        ({"billing_provider_configuration": {"billing_provider": "venmo"}},
         "billing_provider_configuration.billing_provider"),
        ({"custom_fields": {"": "x"}}, "custom_fields"),
        ({"name": None}, "name"),
    ],
)  # fmt: skip
def test_contract_create_names_the_invalid_field(api: ApiClient, fields: dict[str, Any], field: str) -> None:
    customer = new_customer(api, stripe())
    reply = api.post("/v1/contracts/create", contract_body(customer["id"], **fields))
    assert reply.error() == (400, field)


def test_contract_existence_errors_name_the_body_id(api: ApiClient) -> None:
    customer = new_customer(api)
    assert api.post("/v1/contracts/create", contract_body("cust_missing")).error() == (404, "customer_id")
    reply = api.post("/v1/contracts/get", {"customer_id": customer["id"], "contract_id": "con_missing"})
    assert reply.error() == (404, "contract_id")
    reply = api.post("/v1/contracts/get", {"customer_id": "cust_missing", "contract_id": "con_missing"})
    assert reply.error() == (404, "customer_id")
    assert api.post("/v1/contracts/list", {"customer_id": "cust_missing"}).error() == (404, "customer_id")
    assert api.post("/v1/contracts/get", {"customer_id": customer["id"]}).error() == (400, "contract_id")
    assert api.post("/v1/contracts/list", {}).error() == (400, "customer_id")


def test_a_contract_is_found_only_under_its_customer(api: ApiClient) -> None:
    owner, other = new_customer(api), new_customer(api)
    contract = api.post("/v1/contracts/create", contract_body(owner["id"])).data
    reply = api.post("/v1/contracts/get", {"customer_id": other["id"], "contract_id": contract["id"]})
    assert reply.error() == (404, "contract_id")


# -- invoices, lifetime billings, sync -------------------------------------------------------------
def save_invoice(local_api: LocalApi, **overrides: Any) -> None:
    local_api.store.save_invoice(InvoiceEvent.model_validate(invoice_event(**overrides)).detail, RECEIVED)


def test_lifetime_billings_count_finalized_invoices_per_currency(local_api: LocalApi, api: ApiClient) -> None:
    customer_id = new_customer(api)["id"]
    save_invoice(local_api, id=f"{customer_id}-u1", customer_id=customer_id, total="100.10", version=1)
    save_invoice(local_api, id=f"{customer_id}-u2", customer_id=customer_id, total="200.25", version=1)
    save_invoice(local_api, id=f"{customer_id}-draft", customer_id=customer_id, status="DRAFT", total="50.00")
    save_invoice(local_api, id=f"{customer_id}-void", customer_id=customer_id, total="99.99", version=1)
    save_invoice(local_api, id=f"{customer_id}-void", customer_id=customer_id, status="VOID", total="99.99", version=2)
    save_invoice(local_api, id=f"{customer_id}-e1", customer_id=customer_id, currency="EUR", total="50", version=1)
    expected = {"EUR": "50.00", "USD": "300.35"}
    assert api.get(f"/v1/customers/{customer_id}").data["lifetime_billings"] == expected
    listed: dict[str, Any] = {}
    cursor = None
    while True:
        page = api.get("/v1/customers?limit=100" + (f"&next_page={cursor}" if cursor else "")).body
        listed |= {customer["id"]: customer for customer in page["data"]}
        if (cursor := page["next_page"]) is None:
            break
    assert listed[customer_id]["lifetime_billings"] == expected
    # re-versioned: the newer total replaces the older one
    save_invoice(local_api, id=f"{customer_id}-u1", customer_id=customer_id, total="0.10", version=2)
    assert api.get(f"/v1/customers/{customer_id}").data["lifetime_billings"] == {"EUR": "50.00", "USD": "200.35"}


def test_invoices_list_filters_pages_and_latest_version(local_api: LocalApi, api: ApiClient) -> None:
    customer_id = new_customer(api)["id"]
    other_id = new_customer(api)["id"]
    months = [("01", "02"), ("02", "03"), ("03", "04")]
    for start, end in months:
        save_invoice(
            local_api,
            id=f"{customer_id}-{start}",
            customer_id=customer_id,
            start_timestamp=f"2025-{start}-01T00:00:00Z",
            end_timestamp=f"2025-{end}-01T00:00:00Z",
            status="DRAFT" if start == "03" else "FINALIZED",
            version=1,
        )
    save_invoice(local_api, id=f"{customer_id}-02", customer_id=customer_id, start_timestamp="2025-02-01T00:00:00Z",
                 end_timestamp="2025-03-01T00:00:00Z", status="VOID", version=5)  # fmt: skip
    save_invoice(local_api, id=f"{other_id}-01", customer_id=other_id)
    base = f"/v1/customers/{customer_id}/invoices"

    def ids(query: str) -> list[str]:
        found: list[str] = []
        cursor = None
        while True:
            page = api.get(f"{base}?limit=1&{query}" + (f"&next_page={cursor}" if cursor else "")).body
            found.extend(invoice["id"].removeprefix(f"{customer_id}-") for invoice in page["data"])
            if (cursor := page["next_page"]) is None:
                return found

    assert ids("") == ["01", "02", "03"]
    assert ids("status=FINALIZED") == ["01"]
    assert ids("status=VOID") == ["02"]
    assert ids("starting_on=2025-02-01") == ["02", "03"]
    assert ids("starting_on=2025-02-01T00:00:01Z") == ["03"]
    assert ids("ending_before=2025-03-01T00:00:00Z") == ["01", "02"]
    assert ids("starting_on=2025-02-01&ending_before=2025-03-01") == ["02"]
    assert api.get(f"{base}?status=PAID").error() == (400, "status")
    assert api.get(f"{base}?starting_on=yesterday").error() == (400, "starting_on")
    assert api.get(f"{base}?ending_before=2025-13-01").error() == (400, "ending_before")

    invoice = api.get(f"{base}/{customer_id}-02").data
    assert (invoice["status"], invoice["version"]) == ("VOID", 5)
    assert invoice["total"] == "1234.56"
    assert invoice["start_timestamp"] == "2025-02-01T00:00:00Z"
    assert invoice["line_items"][0]["product_custom_fields"] == {}
    assert invoice["line_items"][0]["custom_fields"] == {}
    assert "buckets" not in invoice["line_items"][0]  # the breakdowns API serves them
    assert (invoice["line_items_count"], invoice["line_items_truncated"]) == (1, False)
    assert api.get(f"{base}/{other_id}-01").error() == (404, None)  # another customer's invoice


def test_sync_status_shape(local_api: LocalApi, api: ApiClient) -> None:
    customer_id = new_customer(api, stripe())["id"]
    invoice_id = f"{customer_id}-synced"
    save_invoice(local_api, id=invoice_id, customer_id=customer_id)
    pending = api.get(f"/v1/invoices/{invoice_id}/sync").data  # stored, routing not recorded yet
    assert (pending["status"], pending["provider"]) == ("pending", None)
    local_api.store.record_sync(
        invoice_id,
        provider="stripe",
        status="synced",
        reason=None,
        attempt=SyncAttempt(at=RECEIVED, outcome="synced", detail="finalized in Stripe"),
        provider_ids={"stripe_invoice_id": "in_123"},
    )
    record = api.get(f"/v1/invoices/{invoice_id}/sync").data
    assert record["invoice_id"] == invoice_id
    assert (record["provider"], record["status"], record["reason"]) == ("stripe", "synced", None)
    assert record["provider_ids"] == {"stripe_invoice_id": "in_123"}
    assert record["attempts"] == [{"at": "2025-03-01T00:00:00Z", "outcome": "synced", "detail": "finalized in Stripe"}]
    skipped_id = f"{customer_id}-skipped"
    local_api.store.record_sync(
        skipped_id,
        provider=None,
        status="skipped",
        reason="the customer has no billing provider configuration",
        attempt=SyncAttempt(at=RECEIVED, outcome="skipped"),
    )
    skipped = api.get(f"/v1/invoices/{skipped_id}/sync").data
    assert (skipped["provider"], skipped["status"]) == (None, "skipped")
    assert "no billing provider" in skipped["reason"]


# -- audit log -------------------------------------------------------------------------------------
def test_every_mutating_call_is_audited_with_ip_and_user_agent(api: ApiClient) -> None:
    agent = f"audit-test/{uuid.uuid4().hex}"
    customer = api.post("/v1/customers", {"name": "Audited", "billing_provider_configurations": [STRIPE]},
                        user_agent=agent).data  # fmt: skip
    path = f"/v1/customers/{customer['id']}/billingProviderConfigurations"
    assert api.post(path, AZURE, user_agent=agent).status == 200
    assert api.post(path, {**AZURE, "configuration": {}}, user_agent=agent).status == 400  # failed
    contract = api.post("/v1/contracts/create", contract_body(customer["id"]), user_agent=agent).data
    failed_contract = api.post("/v1/contracts/create", contract_body("cust_missing"), user_agent=agent)
    assert failed_contract.status == 404
    assert api.post("/v1/customers", {"name": ""}, user_agent=agent).status == 400  # failed
    # read-only calls, POSTs included, are not audited
    api.post("/v1/contracts/get", {"customer_id": customer["id"], "contract_id": contract["id"]}, user_agent=agent)
    api.post("/v1/contracts/list", {"customer_id": customer["id"]}, user_agent=agent)
    api.get(f"/v1/customers/{customer['id']}", user_agent=agent)

    mine = [entry for entry in audit_entries(api) if entry["user_agent"] == agent]
    assert [(e["action"], e["resource_type"], e["resource_id"], e["status_code"]) for e in mine] == [
        ("customers.create", "customer", None, 400),
        ("contracts.create", "contract", None, 404),
        ("contracts.create", "contract", contract["id"], 200),
        ("billingProviderConfigurations.set", "customer", customer["id"], 400),
        ("billingProviderConfigurations.set", "customer", customer["id"], 200),
        ("customers.create", "customer", customer["id"], 200),
    ]  # newest first
    for entry in mine:
        assert entry["ip_address"] == "127.0.0.1"
        assert entry["actor"].startswith("tok_")
        assert "test-token" not in entry["actor"]
        assert entry["timestamp"].endswith("Z")
        assert set(entry) == {
            "id", "timestamp", "actor", "action", "resource_type", "resource_id",
            "status_code", "ip_address", "user_agent", "event_id",
        }  # fmt: skip
        assert entry["event_id"] is None  # only a marketplace event's change carries one
    assert len({entry["actor"] for entry in mine}) == 1


def test_x_forwarded_for_is_not_trusted(api: ApiClient) -> None:
    agent = f"xff-test/{uuid.uuid4().hex}"
    api.post("/v1/customers", {"name": "xff"}, user_agent=agent, headers={"X-Forwarded-For": "198.51.100.1"})
    (entry,) = [entry for entry in audit_entries(api) if entry["user_agent"] == agent]
    assert entry["ip_address"] == "127.0.0.1"


def test_audit_log_filters_and_pages(api: ApiClient) -> None:
    customer = new_customer(api)
    path = f"/v1/customers/{customer['id']}/billingProviderConfigurations"
    for configuration in (STRIPE, AWS, AZURE):
        assert api.post(path, configuration).status == 200
    by_resource = audit_entries(api, resource_type="customer", resource_id=customer["id"])
    assert [entry["action"] for entry in by_resource] == [
        "billingProviderConfigurations.set",
        "billingProviderConfigurations.set",
        "billingProviderConfigurations.set",
        "customers.create",
    ]
    assert [entry["id"] for entry in audit_entries(api, resource_id=customer["id"])] == [
        entry["id"] for entry in by_resource
    ]
    pages: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = f"resource_type=customer&resource_id={customer['id']}&limit=1"
        page = api.get(f"/v1/auditLogs?{query}" + (f"&next_page={cursor}" if cursor else "")).body
        pages.extend(page["data"])
        if (cursor := page["next_page"]) is None:
            break
    assert pages == by_resource
    assert all(entry["resource_type"] == "contract" for entry in audit_entries(api, resource_type="contract"))
    assert audit_entries(api, resource_id=customer["id"], ending_before="2000-01-01") == []
    assert len(audit_entries(api, resource_id=customer["id"], starting_on="2000-01-01T00:00:00Z")) == 4
    assert api.get("/v1/auditLogs?starting_on=soon").error() == (400, "starting_on")
    assert USER_AGENT in {entry["user_agent"] for entry in by_resource}
