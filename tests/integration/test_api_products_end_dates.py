"""Products, product custom fields on invoice lines, and the contract end-date guard, through
`downbeat local`: real sockets, the real handler, DynamoDB on the embedded moto.

Every new path and error (400 naming the field, 401, 404, 409) and the audit entry of every
mutating call, with its IP address and user agent.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.domain.invoice import InvoiceEvent
from tests.builders import invoice_event
from tests.integration.api_harness import USER_AGENT, ApiClient, LocalApi

RECEIVED = datetime(2025, 3, 1, tzinfo=UTC)


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def new_customer(api: ApiClient) -> str:
    customer_id: str = api.post("/v1/customers", {"name": "Acme"}).data["id"]
    return customer_id


def new_contract(api: ApiClient, customer_id: str, **fields: Any) -> dict[str, Any]:
    body = {"customer_id": customer_id, "name": "2025", "starting_at": "2025-01-01T00:00:00Z", **fields}
    contract: dict[str, Any] = api.post("/v1/contracts/create", body).data
    return contract


def save_invoice(local_api: LocalApi, **overrides: Any) -> None:
    local_api.store.save_invoice(InvoiceEvent.model_validate(invoice_event(**overrides)).detail, RECEIVED)


def audit_entries(api: ApiClient, user_agent: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = api.get("/v1/auditLogs?limit=100").data
    return [entry for entry in entries if entry["user_agent"] == user_agent]


def test_new_paths_refuse_a_missing_token(api: ApiClient) -> None:
    for method, path in [
        ("POST", "/v1/products/create"),
        ("GET", "/v1/products/prod_x"),
        ("POST", "/v1/contracts/updateEndDate"),
    ]:
        reply = api.call(method, path, raw=b"{not json" if method == "POST" else None, authorization=None)
        assert reply.error() == (401, None), path


# -- products --------------------------------------------------------------------------------------
def test_product_create_and_get(api: ApiClient) -> None:
    created = api.post("/v1/products/create", {"name": "API calls", "custom_fields": {"sku": "API-1"}}).data
    assert created["id"].startswith("prod_")
    assert (created["name"], created["custom_fields"]) == ("API calls", {"sku": "API-1"})
    assert created["created_at"].endswith("Z")
    assert api.get(f"/v1/products/{created['id']}").data == created


def test_a_product_takes_the_callers_id_once(api: ApiClient) -> None:
    product_id = unique("prod_Ω")
    created = api.post("/v1/products/create", {"id": product_id, "name": "Storage"}).data
    assert created["id"] == product_id
    assert created["custom_fields"] == {}
    again = api.post("/v1/products/create", {"id": product_id, "name": "Other", "custom_fields": {"a": "b"}})
    assert again.error() == (409, "id")
    assert product_id in again.body["message"]
    encoded = product_id.replace("Ω", "%CE%A9")
    assert api.get(f"/v1/products/{encoded}").data == created  # the first create stays


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": " \u200b"}, "name"),
        ({"name": 7}, "name"),
        ({"name": "x", "id": ""}, "id"),
        ({"name": "x", "id": "a" * 257}, "id"),
        ({"name": "x", "id": "bad\u0000id"}, "id"),
        ({"name": "x", "custom_fields": {"a": 1}}, "custom_fields.a"),
        ({"name": "x", "custom_fields": {"": "v"}}, "custom_fields"),
        ({"name": "x", "price": "1.00"}, "price"),
    ],
)
def test_product_create_names_the_invalid_field(api: ApiClient, body: dict[str, Any], field: str) -> None:
    assert api.post("/v1/products/create", body).error() == (400, field)


def test_an_unknown_product_is_404(api: ApiClient) -> None:
    assert api.get("/v1/products/prod_missing").error() == (404, None)
    assert api.get("/v1/products/" + "x" * 300).error() == (404, None)


def test_product_creates_are_audited_with_ip_and_user_agent(api: ApiClient) -> None:
    agent = f"products-audit/{uuid.uuid4().hex}"
    product_id = unique("prod")
    assert api.post("/v1/products/create", {"id": product_id, "name": "A"}, user_agent=agent).status == 200
    assert api.post("/v1/products/create", {"id": product_id, "name": "A"}, user_agent=agent).status == 409
    assert api.post("/v1/products/create", {}, user_agent=agent).status == 400
    api.get(f"/v1/products/{product_id}", user_agent=agent)  # read-only: not audited
    entries = audit_entries(api, agent)
    assert [(e["action"], e["resource_type"], e["resource_id"], e["status_code"]) for e in entries] == [
        ("products.create", "product", None, 400),
        ("products.create", "product", None, 409),
        ("products.create", "product", product_id, 200),
    ]
    assert all(entry["ip_address"] == "127.0.0.1" for entry in entries)


# -- product custom fields on invoice lines --------------------------------------------------------
def test_invoice_lines_show_their_products_custom_fields(local_api: LocalApi, api: ApiClient) -> None:
    customer_id = new_customer(api)
    api_calls, storage = unique("prod_api"), unique("prod_storage")
    api.post("/v1/products/create", {"id": api_calls, "name": "API", "custom_fields": {"sku": "API-1", "team": "ml"}})
    api.post("/v1/products/create", {"id": storage, "name": "Storage", "custom_fields": {"sku": "ST-9"}})

    def line(line_id: str, product_id: str | None, **fields: str) -> dict[str, Any]:
        return {"id": line_id, "name": line_id, "product_id": product_id, "quantity": "1", "total": "1.00",
                "custom_fields": fields}  # fmt: skip

    lines = [
        line("l1", api_calls, region="eu"),
        line("l2", storage),
        line("l3", None),
        line("l4", "prod_never_created"),
        line("l5", api_calls),
    ]
    save_invoice(local_api, id=f"{customer_id}-1", customer_id=customer_id, line_items=lines, subtotal="5.00")
    save_invoice(local_api, id=f"{customer_id}-2", customer_id=customer_id, line_items=lines[1:2], subtotal="1.00",
                 start_timestamp="2025-02-02T00:00:00Z")  # fmt: skip
    expected = [
        ({"region": "eu"}, {"sku": "API-1", "team": "ml"}),
        ({}, {"sku": "ST-9"}),
        ({}, {}),  # no product_id
        ({}, {}),  # an unknown product
        ({}, {"sku": "API-1", "team": "ml"}),
    ]
    invoice = api.get(f"/v1/customers/{customer_id}/invoices/{customer_id}-1").data
    assert [(shown["custom_fields"], shown["product_custom_fields"]) for shown in invoice["line_items"]] == expected
    listed = api.get(f"/v1/customers/{customer_id}/invoices").data
    assert [(shown["custom_fields"], shown["product_custom_fields"]) for shown in listed[0]["line_items"]] == expected
    assert listed[1]["line_items"][0]["product_custom_fields"] == {"sku": "ST-9"}


# -- updateEndDate ----------------------------------------------------------------------------------
@pytest.fixture
def guarded(local_api: LocalApi, api: ApiClient) -> dict[str, str]:
    """A contract with a finalized usage invoice ending 2025-03-01 (and later invoices that do not count)."""
    customer_id = new_customer(api)
    contract_id = new_contract(api, customer_id, ending_before="2026-01-01T00:00:00Z")["id"]
    invoice_id = f"{customer_id}-feb"
    common = {"customer_id": customer_id, "contract_id": contract_id, "version": 1}
    save_invoice(local_api, id=invoice_id, start_timestamp="2025-02-01T00:00:00Z",
                 end_timestamp="2025-03-01T00:00:00Z", **common)  # fmt: skip
    save_invoice(local_api, id=f"{customer_id}-mar-draft", status="DRAFT", start_timestamp="2025-03-01T00:00:00Z",
                 end_timestamp="2025-04-01T00:00:00Z", **common)  # fmt: skip
    save_invoice(local_api, id=f"{customer_id}-sched", type="SCHEDULED", start_timestamp="2025-05-01T00:00:00Z",
                 end_timestamp="2025-06-01T00:00:00Z", **common)  # fmt: skip
    return {"customer_id": customer_id, "contract_id": contract_id, "invoice_id": invoice_id}


def update(api: ApiClient, ids: dict[str, str], ending_before: str | None, **fields: Any) -> Any:
    body = {"customer_id": ids["customer_id"], "contract_id": ids["contract_id"], "ending_before": ending_before}
    return api.post("/v1/contracts/updateEndDate", {**body, **fields})


def test_an_end_before_a_finalized_invoice_is_refused_when_not_allowed(api: ApiClient, guarded: dict[str, str]) -> None:
    reply = update(api, guarded, "2025-02-15T00:00:00Z", allow_ending_before_finalized_invoice=False)
    assert reply.error() == (400, "ending_before")
    assert guarded["invoice_id"] in reply.body["message"]
    contract = api.post("/v1/contracts/get", {k: guarded[k] for k in ("customer_id", "contract_id")}).data
    assert contract["ending_before"] == "2026-01-01T00:00:00Z"  # unchanged


def test_an_end_before_a_finalized_invoice_is_allowed_with_a_warning(api: ApiClient, guarded: dict[str, str]) -> None:
    for allowed in ({"allow_ending_before_finalized_invoice": True}, {}):  # true is the default
        reply = update(api, guarded, "2025-02-15T00:00:00Z", **allowed)
        assert reply.status == 200, reply.body
        assert set(reply.body) == {"data", "warnings"}
        assert reply.body["data"]["ending_before"] == "2025-02-15T00:00:00Z"
        (warning,) = reply.body["warnings"]
        assert warning.startswith("Finalized invoices will be unchanged")
        assert guarded["invoice_id"] in warning
    contract = api.post("/v1/contracts/get", {k: guarded[k] for k in ("customer_id", "contract_id")}).data
    assert contract["ending_before"] == "2025-02-15T00:00:00Z"


def test_an_end_at_the_finalized_invoices_end_has_no_warning(api: ApiClient, guarded: dict[str, str]) -> None:
    for allowed in (False, True):
        reply = update(api, guarded, "2025-03-01T00:00:00Z", allow_ending_before_finalized_invoice=allowed)
        assert reply.status == 200, reply.body
        assert reply.body == {"data": reply.body["data"], "warnings": []}
        assert reply.body["data"]["ending_before"] == "2025-03-01T00:00:00Z"
    # later, or open-ended: never before the invoice
    assert update(api, guarded, "2025-03-01T00:00:01Z", allow_ending_before_finalized_invoice=False).status == 200
    reply = update(api, guarded, None, allow_ending_before_finalized_invoice=False)
    assert (reply.status, reply.body["data"]["ending_before"], reply.body["warnings"]) == (200, None, [])


def test_a_voided_invoice_no_longer_guards_the_end(
    local_api: LocalApi, api: ApiClient, guarded: dict[str, str]
) -> None:
    save_invoice(local_api, id=guarded["invoice_id"], customer_id=guarded["customer_id"],
                 contract_id=guarded["contract_id"], status="VOID", version=2)  # fmt: skip
    reply = update(api, guarded, "2025-02-15T00:00:00Z", allow_ending_before_finalized_invoice=False)
    assert (reply.status, reply.body["warnings"]) == (200, [])


def test_a_contract_without_finalized_invoices_moves_freely(api: ApiClient) -> None:
    customer_id = new_customer(api)
    contract_id = new_contract(api, customer_id)["id"]
    ids = {"customer_id": customer_id, "contract_id": contract_id}
    reply = update(api, ids, "2025-01-01T00:00:01Z", allow_ending_before_finalized_invoice=False)
    assert (reply.status, reply.body["warnings"]) == (200, [])


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"ending_before": "2025-01-01T00:00:00Z"}, "ending_before"),  # = starting_at
        ({"ending_before": "2024-12-31T00:00:00Z"}, "ending_before"),  # before it
        ({"ending_before": "2025-13-01T00:00:00Z"}, "ending_before"),
        ({"ending_before": "10000-01-01T00:00:00Z"}, "ending_before"),
        ({"ending_before": 1735689600}, "ending_before"),
        ({"allow_ending_before_finalized_invoice": "false"}, "allow_ending_before_finalized_invoice"),
        ({"allow_ending_before_finalized_invoice": None}, "allow_ending_before_finalized_invoice"),
        ({"customer_id": ""}, "customer_id"),
        ({"contract_id": None}, "contract_id"),
        ({"starting_at": "2025-01-01T00:00:00Z"}, "starting_at"),
    ],
)
def test_update_end_date_names_the_invalid_field(
    api: ApiClient, guarded: dict[str, str], fields: dict[str, Any], field: str
) -> None:
    body = {"customer_id": guarded["customer_id"], "contract_id": guarded["contract_id"],
            "ending_before": "2025-06-01T00:00:00Z", **fields}  # fmt: skip
    assert api.post("/v1/contracts/updateEndDate", body).error() == (400, field)


def test_ending_before_is_required(api: ApiClient, guarded: dict[str, str]) -> None:
    body = {"customer_id": guarded["customer_id"], "contract_id": guarded["contract_id"]}
    assert api.post("/v1/contracts/updateEndDate", body).error() == (400, "ending_before")


def test_update_end_date_unknown_ids_are_404(api: ApiClient, guarded: dict[str, str]) -> None:
    other_customer = new_customer(api)
    for ids, field in [
        ({**guarded, "customer_id": "cust_missing"}, "customer_id"),
        ({**guarded, "contract_id": "con_missing"}, "contract_id"),
        ({**guarded, "customer_id": other_customer}, "contract_id"),  # another customer's contract
    ]:
        assert update(api, ids, "2025-06-01T00:00:00Z").error() == (404, field)


def test_update_end_date_is_audited_with_ip_and_user_agent(api: ApiClient, guarded: dict[str, str]) -> None:
    agent = f"end-date-audit/{uuid.uuid4().hex}"
    body = {"customer_id": guarded["customer_id"], "contract_id": guarded["contract_id"]}
    calls = [
        ({**body, "ending_before": "2025-06-01T00:00:00Z"}, 200),
        ({**body, "ending_before": "2025-02-01T00:00:00Z", "allow_ending_before_finalized_invoice": False}, 400),
        ({**body, "contract_id": "con_missing", "ending_before": None}, 404),
        ({**body, "ending_before": "2025-02-01T00:00:00Z"}, 200),  # allowed, with a warning
    ]
    for sent, status in calls:
        assert api.post("/v1/contracts/updateEndDate", sent, user_agent=agent).status == status
    entries = audit_entries(api, agent)
    assert [(e["action"], e["resource_type"], e["resource_id"], e["status_code"]) for e in reversed(entries)] == [
        ("contracts.updateEndDate", "contract", guarded["contract_id"], 200),
        ("contracts.updateEndDate", "contract", None, 400),
        ("contracts.updateEndDate", "contract", None, 404),
        ("contracts.updateEndDate", "contract", guarded["contract_id"], 200),
    ]
    assert all((entry["ip_address"], entry["user_agent"]) == ("127.0.0.1", agent) for entry in entries)
    assert USER_AGENT not in {entry["user_agent"] for entry in entries}


def test_the_openapi_document_has_the_new_paths(api: ApiClient) -> None:
    paths = api.get("/openapi.json", authorization=None).body["paths"]
    assert {"/v1/products/create", "/v1/products/{product_id}", "/v1/contracts/updateEndDate"} <= set(paths)
    responses = paths["/v1/products/create"]["post"]["responses"]
    assert {"200", "400", "401", "409"} <= set(responses)
    assert "422" not in responses
