"""The API's answers to bad input, one regression test per class: never a 5xx, always JSON naming
the field, nothing stored. Through the handler with payload-2.0 events, on the in-memory store."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from functions.api.handler import lambda_handler
from local.http_server import http_api_event
from local.lambda_context import LocalLambdaContext
from shared.api.app import MAX_BODY_BYTES, openapi_json
from shared.domain.invoice import InvoiceEvent
from shared.services.api_dependencies import ApiDependencies, MarketplaceListing
from tests.builders import STRIPE, configuration, contract, customer, invoice_event
from tests.fakes.azure_fulfillment import FakeAzureFulfillment, FakeWebhookTokens
from tests.fakes.memory_store import InMemoryStore

TOKEN = "bounds-token"
NOW = datetime(2025, 3, 1, tzinfo=UTC)
EDGE_DATES = ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59-05:00", "1969-12-31T23:59:59Z", "9999-12-31"]
POST_ROUTES = [
    path.replace("{customer_id}", "cust_1")
    for path, operations in json.loads(openapi_json())["paths"].items()
    if "post" in operations
]
# The routes whose body is JSON (the marketplace landing takes the buyer's form instead).
JSON_POST_ROUTES = [
    path.replace("{customer_id}", "cust_1")
    for path, operations in json.loads(openapi_json())["paths"].items()
    if "post" in operations and "application/json" in operations["post"].get("requestBody", {}).get("content", {})
]


@pytest.fixture
def store() -> InMemoryStore:
    store = InMemoryStore()
    store.create_customer(customer("cust_1", configuration(STRIPE, default=True)))
    store.create_contract(contract("con_1", "cust_1"))
    store.save_invoice(InvoiceEvent.model_validate(invoice_event(customer_id="cust_1")).detail, NOW)
    return store


@pytest.fixture
def deps(store: InMemoryStore) -> ApiDependencies:
    counter = itertools.count(1)
    # The Azure webhook checks Microsoft's token itself: here a fake that takes this test's token,
    # so the webhook's body meets the same bounds as every other route's.
    listing = MarketplaceListing(azure=FakeAzureFulfillment(), azure_webhook_tokens=FakeWebhookTokens(TOKEN))
    return ApiDependencies(
        store, lambda: NOW, lambda prefix: f"{prefix}_new{next(counter)}", lambda: TOKEN, marketplace=listing
    )


def call(deps: ApiDependencies, method: str, target: str, body: Any = None) -> tuple[int, Any, dict[str, str]]:
    raw = body if isinstance(body, bytes) else b"" if body is None else json.dumps(body).encode()
    headers = {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"}
    event = http_api_event(method=method, target=target, headers=headers.items(), body=raw, source_ip="192.0.2.1")
    response = lambda_handler(event, LocalLambdaContext("ApiFunction"), deps=deps)
    return response["statusCode"], json.loads(response["body"]), response.get("headers") or {}


def contract_body(**overrides: Any) -> dict[str, Any]:
    return {"customer_id": "cust_1", "name": "2026", "starting_at": "2026-01-01T00:00:00Z", **overrides}


# -- class 1: dates at the edges ------------------------------------------------------------------
@pytest.mark.parametrize("moment", EDGE_DATES[:3])
@pytest.mark.parametrize("field", ["starting_at", "ending_before"])
def test_contract_dates_at_the_edges_are_400_and_reads_keep_working(
    deps: ApiDependencies, store: InMemoryStore, field: str, moment: str
) -> None:
    status, reply, _ = call(deps, "POST", "/v1/contracts/create", contract_body(**{field: moment}))
    assert (status, reply["field"]) == (400, field)
    assert "1970-01-01T00:00:00Z and 9999-12-30T00:00:00Z" in reply["message"]
    assert set(store.contracts) == {("cust_1", "con_1")}
    assert call(deps, "POST", "/v1/contracts/list", {"customer_id": "cust_1"})[0] == 200
    assert call(deps, "POST", "/v1/contracts/get", {"customer_id": "cust_1", "contract_id": "con_1"})[0] == 200


def test_contract_dates_at_the_last_accepted_moment_read_back(deps: ApiDependencies) -> None:
    body = contract_body(starting_at="1970-01-01T00:00:00Z", ending_before="9999-12-29T19:00:00-05:00")
    status, reply, _ = call(deps, "POST", "/v1/contracts/create", body)
    assert status == 200
    assert (reply["data"]["starting_at"], reply["data"]["ending_before"]) == (
        "1970-01-01T00:00:00Z",
        "9999-12-30T00:00:00Z",
    )
    status, listed, _ = call(deps, "POST", "/v1/contracts/list", {"customer_id": "cust_1"})
    assert status == 200
    assert reply["data"] in listed["data"]


@pytest.mark.parametrize("moment", EDGE_DATES)
@pytest.mark.parametrize(
    ("route", "name"),
    [
        ("/v1/customers/cust_1/invoices", "starting_on"),
        ("/v1/customers/cust_1/invoices", "ending_before"),
        ("/v1/auditLogs", "starting_on"),
        ("/v1/auditLogs", "ending_before"),
    ],
)
def test_list_filters_at_the_edges_are_400(deps: ApiDependencies, route: str, name: str, moment: str) -> None:
    status, reply, _ = call(deps, "GET", f"{route}?{name}={moment.replace('+', '%2B')}")
    assert (status, reply["field"]) == (400, name)


def test_list_filters_at_the_range_ends_are_served(deps: ApiDependencies) -> None:
    status, reply, _ = call(
        deps, "GET", "/v1/customers/cust_1/invoices?starting_on=1970-01-01&ending_before=9999-12-30"
    )
    assert status == 200
    assert [invoice["id"] for invoice in reply["data"]] == ["inv_1"]


# -- class 3: deep JSON ---------------------------------------------------------------------------
@pytest.mark.parametrize("route", JSON_POST_ROUTES)
@pytest.mark.parametrize("depth", [65, 10_000])
def test_deep_json_on_every_post_route_is_400_field_null(
    deps: ApiDependencies, store: InMemoryStore, route: str, depth: int
) -> None:
    audit_before = len(store.audit_entries)
    for body in ("[" * depth + "]" * depth, '{"name": ' + "[" * depth + "]" * depth + "}"):
        status, reply, _ = call(deps, "POST", route, body.encode())
        assert (status, reply["field"]) == (400, None)
        assert "nested deeper than 64 levels" in reply["message"]
    assert len(store.customers) == 1
    assert len(store.contracts) == 1
    assert all(entry.status_code == 400 for entry in store.audit_entries[audit_before:])


def test_64_levels_are_within_bounds(deps: ApiDependencies) -> None:
    nested = "[" * 62 + "]" * 62  # the body object, the commits array, 62 arrays: 64 levels
    status, reply, _ = call(deps, "POST", "/v1/contracts/create", f'{{"commits": [{nested}]}}'.encode())
    assert (status, reply["field"]) == (400, "customer_id")  # validated as usual, not refused for depth


@pytest.mark.parametrize("route", POST_ROUTES)
def test_a_body_over_1_mb_is_413_json(deps: ApiDependencies, store: InMemoryStore, route: str) -> None:
    padding = "x" * (MAX_BODY_BYTES - len('{"name": ""}') + 1)
    status, reply, _ = call(deps, "POST", route, json.dumps({"name": padding}).encode())
    assert (status, set(reply), reply["field"]) == (413, {"message", "field"}, None)
    assert len(store.customers) == 1


def test_a_body_of_exactly_1_mb_is_read(deps: ApiDependencies) -> None:
    padding = "x" * (MAX_BODY_BYTES - len('{"name": "", "custom_fields": {}}'))
    status, reply, _ = call(deps, "POST", "/v1/customers", f'{{"name": "", "custom_fields": {{}}}}{padding}'.encode())
    assert status == 400  # malformed, but read: not 413
    status, reply, _ = call(deps, "POST", "/v1/customers", b'{"name": "a", "limit": 1' + b"0" * 5000 + b"}")
    assert (status, reply["field"]) == (400, None)  # an integer Python will not convert: malformed, not 500


# -- errors are JSON on every path ----------------------------------------------------------------
def test_unknown_paths_are_404_and_wrong_methods_405_in_json(deps: ApiDependencies) -> None:
    for target in ["/v1/nothing", "/", "/v1/customers/cust_1/nothing", "/v1//customers"]:
        status, reply, _ = call(deps, "GET", target)
        assert (status, set(reply), reply["field"]) == (404, {"message", "field"}, None)
    for method, target, allowed in [
        ("DELETE", "/v1/customers", "GET, POST"),
        ("PUT", "/v1/customers/cust_1", "GET"),
        ("GET", "/v1/contracts/create", "POST"),
        ("PATCH", "/v1/invoices/inv_1/sync", "GET"),
        ("HEAD", "/v1/auditLogs", "GET"),
    ]:
        status, reply, headers = call(deps, method, target)
        assert (status, reply["field"], headers.get("Allow")) == (405, None, allowed), (method, target)


# -- class 6: huge integers -----------------------------------------------------------------------
@pytest.mark.parametrize("limit", ["1_0", " 10", "10.0", "+5", "1e1", "\u0661\u0660", "0", "101", "9" * 40])
def test_a_query_limit_is_plain_digits_from_1_to_100(deps: ApiDependencies, limit: str) -> None:
    status, reply, _ = call(deps, "GET", f"/v1/customers?limit={limit.replace('+', '%2B').replace(' ', '%20')}")
    assert (status, reply["field"]) == (400, "limit")


@pytest.mark.parametrize("limit", [10**40, 2**53, -1, 1.0, True, "10"])
def test_a_body_limit_is_a_json_integer_from_1_to_100(deps: ApiDependencies, limit: Any) -> None:
    status, reply, _ = call(deps, "POST", "/v1/contracts/list", {"customer_id": "cust_1", "limit": limit})
    assert (status, reply["field"]) == (400, "limit")


@pytest.mark.parametrize("days", [10**40, 2**53, -1, 30.0, "30"])
def test_days_until_due_is_bounded(deps: ApiDependencies, store: InMemoryStore, days: Any) -> None:
    body = {**STRIPE, "configuration": {"stripe_customer_id": "cus_N1", "days_until_due": days}}
    status, reply, _ = call(deps, "POST", "/v1/customers/cust_1/billingProviderConfigurations", body)
    assert (status, reply["field"]) == (400, "configuration.days_until_due")
    assert store.customers["cust_1"].billing_provider_configurations == [configuration(STRIPE, default=True)]


# -- class 9: validation gaps ---------------------------------------------------------------------
def _customer_with(configuration_body: dict[str, Any]) -> dict[str, Any]:
    return {"name": "Acme", "billing_provider_configurations": [configuration_body]}


@pytest.mark.parametrize(
    ("configuration_body", "field"),
    [
        ({**STRIPE, "configuration": {"stripe_customer_id": "nope"}}, "configuration.stripe_customer_id"),
        ({**STRIPE, "configuration": {"stripe_customer_id": "cus_"}}, "configuration.stripe_customer_id"),
        ({**STRIPE, "configuration": {"stripe_customer_id": "cus_a\n"}}, "configuration.stripe_customer_id"),
        (
            {"billing_provider": "aws_marketplace", "configuration": {
                "aws_product_code": "p", "aws_region": "us-east-1", "aws_license_arn": "arn:x",
                "aws_customer_account_id": "\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669\u0660\u0661\u0662"}},
            "configuration.aws_customer_account_id",
        ),
        (
            {"billing_provider": "aws_marketplace",
             "configuration": {"aws_product_code": "p", "aws_region": "mars-east-1", "aws_customer_id": "c"}},
            "configuration.aws_region",
        ),
        (
            {"billing_provider": "aws_marketplace",
             "configuration": {"aws_product_code": "p", "aws_region": "US-EAST-1", "aws_customer_id": "c"}},
            "configuration.aws_region",
        ),
    ],
)  # fmt: skip
def test_provider_identifiers_are_checked_for_their_shape(
    deps: ApiDependencies, store: InMemoryStore, configuration_body: dict[str, Any], field: str
) -> None:
    status, reply, _ = call(deps, "POST", "/v1/customers", _customer_with(configuration_body))
    assert (status, reply["field"]) == (400, f"billing_provider_configurations.0.{field}")
    status, reply, _ = call(deps, "POST", "/v1/customers/cust_1/billingProviderConfigurations", configuration_body)
    assert (status, reply["field"]) == (400, field)
    assert len(store.customers) == 1
    assert len(store.customers["cust_1"].billing_provider_configurations) == 1


@pytest.mark.parametrize("region", ["us-east-1", "eu-central-1", "cn-northwest-1", "us-gov-west-1"])
def test_regions_botocore_knows_for_marketplace_metering_are_accepted(deps: ApiDependencies, region: str) -> None:
    body = {"billing_provider": "aws_marketplace",
            "configuration": {"aws_product_code": "p", "aws_region": region, "aws_customer_id": "c"}}  # fmt: skip
    assert call(deps, "POST", "/v1/customers", _customer_with(body))[0] == 200


@pytest.mark.parametrize("name", ["", "   ", "\u200b", "\u00ad\u2060 ", "a\x00b", "tab\there", "\x1b[31mred"])
@pytest.mark.parametrize("route", ["/v1/customers", "/v1/contracts/create"])
def test_names_are_not_blank_and_hold_no_control_characters(
    deps: ApiDependencies, store: InMemoryStore, route: str, name: str
) -> None:
    body = contract_body(name=name) if "contracts" in route else {"name": name}
    status, reply, _ = call(deps, "POST", route, body)
    assert (status, reply["field"]) == (400, "name")
    assert (len(store.customers), len(store.contracts)) == (1, 1)


def test_ids_in_bodies_are_printable(deps: ApiDependencies) -> None:
    for contract_id in ["con\x00", "", "c" * 257, "con\u2028"]:
        status, reply, _ = call(
            deps, "POST", "/v1/contracts/get", {"customer_id": "cust_1", "contract_id": contract_id}
        )
        assert (status, reply["field"]) == (400, "contract_id")
    status, reply, _ = call(
        deps, "POST", "/v1/contracts/get", {"customer_id": "cust_1", "contract_id": "合同 \U0001f4c4"}
    )
    assert (status, reply["field"]) == (404, "contract_id")  # printable: a fine id, just not a known one


def test_the_openapi_document_declares_the_bounds() -> None:
    document = json.loads(openapi_json())
    for path, operations in document["paths"].items():
        if "post" in operations:
            assert "413" in operations["post"]["responses"], path
    contract_schema = document["components"]["schemas"]["CreateContractWithCommitsRequest"]["properties"]["starting_at"]
    assert "9999-12-30T00:00:00Z" in contract_schema["description"]
    assert "DESIGN" not in json.dumps(document)  # users have the repository's docs/, not the design notes
