"""The handler called directly with payload-2.0 events (no socket): error mapping and failed-call audit."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from functions.api.handler import lambda_handler
from local.http_server import http_api_event
from local.lambda_context import LocalLambdaContext
from shared.api.app import openapi_json
from shared.services.api_dependencies import ApiDependencies
from tests.builders import STRIPE
from tests.fakes.memory_store import InMemoryStore

TOKEN = "unit-token"
NOW = datetime(2025, 3, 1, tzinfo=UTC)


@pytest.fixture
def store() -> InMemoryStore:
    return InMemoryStore()


@pytest.fixture
def deps(store: InMemoryStore) -> ApiDependencies:
    counter = itertools.count(1)
    return ApiDependencies(store, lambda: NOW, lambda prefix: f"{prefix}_{next(counter)}", lambda: TOKEN)


def call(deps: ApiDependencies, method: str, target: str, body: bytes = b"", **headers: str) -> tuple[int, Any]:
    sent = {"authorization": f"Bearer {TOKEN}", "content-type": "application/json", "user-agent": "unit/1", **headers}
    event = http_api_event(method=method, target=target, headers=sent.items(), body=body, source_ip="192.0.2.1")
    response = lambda_handler(event, LocalLambdaContext("ApiFunction"), deps=deps)
    return response["statusCode"], json.loads(response["body"])


def test_nested_field_path_without_union_tags(deps: ApiDependencies) -> None:
    body = {"name": "x", "billing_provider_configurations": [{"billing_provider": "aws_marketplace", "configuration": {
        "aws_product_code": "p", "aws_region": "r"}}]}  # fmt: skip
    status, reply = call(deps, "POST", "/v1/customers", json.dumps(body).encode())
    assert (status, reply["field"]) == (400, "billing_provider_configurations.0.configuration.aws_customer_id")


def test_lone_surrogates_are_refused_by_field(deps: ApiDependencies) -> None:
    status, reply = call(deps, "POST", "/v1/customers", b'{"name": "a\\ud800b"}')
    assert (status, reply["field"]) == (400, "name")
    body = b'{"billing_provider": "azure_marketplace", "configuration": {"azure_subscription_id": "\\udfff",'
    body += b' "azure_plan_id": "g"}}'
    status, reply = call(deps, "POST", "/v1/customers/c/billingProviderConfigurations", body)
    assert (status, reply["field"]) == (400, "configuration.azure_subscription_id")


def test_non_json_bodies_are_400(deps: ApiDependencies) -> None:
    status, reply = call(deps, "POST", "/v1/customers", b"\xff\xfe", **{"content-type": "application/octet-stream"})
    assert (status, reply["field"]) == (400, None)
    status, reply = call(deps, "POST", "/v1/customers", b"name=x", **{"content-type": "text/plain"})
    assert (status, reply["field"]) == (400, None)


def test_failed_mutating_calls_are_audited_alone(deps: ApiDependencies, store: InMemoryStore) -> None:
    call(deps, "POST", "/v1/customers", b"{oops")
    call(deps, "POST", "/v1/customers/cust_none/billingProviderConfigurations", json.dumps(STRIPE).encode())
    call(deps, "POST", "/v1/contracts/list", b"{oops")  # read-only POST: not audited
    call(deps, "GET", "/v1/customers/cust_none")  # read: not audited
    assert [(e.action, e.resource_id, e.status_code, e.ip_address, e.user_agent) for e in store.audit_entries] == [
        ("customers.create", None, 400, "192.0.2.1", "unit/1"),
        ("billingProviderConfigurations.set", "cust_none", 404, "192.0.2.1", "unit/1"),
    ]


class BrokenStore(InMemoryStore):
    def create_customer_audited(self, customer: Any, audit: Any) -> None:
        raise RuntimeError("the table is on fire")


def test_an_unexpected_error_is_a_500_in_the_error_shape_and_audited() -> None:
    store = BrokenStore()
    deps = ApiDependencies(store, lambda: NOW, lambda prefix: f"{prefix}_1", lambda: TOKEN)
    status, reply = call(deps, "POST", "/v1/customers", b'{"name": "x"}')
    assert status == 500
    assert set(reply) == {"message", "field"}
    assert "fire" not in reply["message"]
    assert [(e.action, e.status_code) for e in store.audit_entries] == [("customers.create", 500)]


def test_openapi_declares_errors_and_never_422() -> None:
    document = json.loads(openapi_json())
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            public = operation.get("security") == []  # the marketplace landing: no bearer token
            assert {"200", "400"} | (set() if public else {"401"}) <= set(responses), (method, path)
            assert "422" not in responses
            error = responses["400"]["content"]["application/json"]["schema"]
            assert error == {"$ref": "#/components/schemas/ErrorBody"}
    assert document["security"] == [{"bearer": []}]


def test_powertools_still_validates_through_our_json_object_middleware(deps: ApiDependencies) -> None:
    """shared/api/app.py replaces a private Powertools attribute; this fails first if a release stops
    reading it (then a form or text/plain body would be parsed as a form, a list body unwrapped)."""
    from shared.api.app import _JsonObjectBodies, app

    assert isinstance(app._request_validation_middleware, _JsonObjectBodies)
    seen: list[Any] = []
    original = _JsonObjectBodies._get_body

    def spy(self: _JsonObjectBodies, resolver: Any) -> dict[str, Any]:
        seen.append(self)
        return original(self, resolver)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_JsonObjectBodies, "_get_body", spy)
        status, _ = call(deps, "POST", "/v1/customers", b'{"name": "typed"}', **{"content-type": "text/plain"})
    assert status == 200
    assert seen == [app._request_validation_middleware], "Powertools did not call our request validation"
