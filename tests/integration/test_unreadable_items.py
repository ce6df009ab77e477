"""A stored item that a read cannot map (written by hand, or by an older release) is left out of its
list and reported with its key — never a failed page. Against DynamoDB (moto: the corrupt item is
written straight into the table) and the in-memory fake (the item is planted), then through the API."""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from functions.api.handler import lambda_handler
from local.http_server import http_api_event
from local.lambda_context import LocalLambdaContext
from shared.adapters.dynamodb import DynamoDBStore, to_attributes
from shared.domain.invoice import InvoiceEvent
from shared.domain.invoice_listing import InvoiceQuery
from shared.domain.paging import PageRequest
from shared.observability import report_unreadable_item
from shared.ports.store import Store
from shared.services.api_dependencies import ApiDependencies
from tests.builders import contract, customer, invoice_event
from tests.conftest import TABLE_NAME
from tests.fakes.memory_store import InMemoryStore

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

NOW = datetime(2025, 3, 1, tzinfo=UTC)
Reported = list[tuple[dict[str, Any], str]]
# What an older release could write: a year without its four digits, text that is not JSON, no data.
CORRUPT: dict[str, dict[str, Any]] = {
    "customers": {"PK": "CUSTOMER#cust_bad", "SK": "#CUSTOMER", "GSI1PK": "CUSTOMERS",
                  "GSI1SK": "2025-01-01T00:00:00Z#cust_b", "data": "{not json"},
    "contracts:cust_acme": {"PK": "CUSTOMER#cust_acme", "SK": "CONTRACT#con_b", "data": json.dumps({
        "id": "con_b", "customer_id": "cust_acme", "name": "old", "starting_at": "1-01-01T00:00:00Z",
        "created_at": "2025-01-01T00:00:00Z"})},
    "invoices:cust_acme": {"PK": "INVOICE#inv_b", "SK": "#INVOICE", "GSI1PK": "CUSTOMER#cust_acme#INVOICES",
                           "GSI1SK": "2025-02-01T00:00:00Z#inv_b", "version": 1},
}  # fmt: skip
POSITIONS = {  # where the fake sorts them: between the readable items of each list
    "customers": ["2025-01-01T00:00:00Z", "cust_b"],
    "contracts:cust_acme": ["con_b"],
    "invoices:cust_acme": ["2025-02-01T00:00:00+00:00", "inv_b"],
}


@pytest.fixture(params=["dynamodb", "memory"])
def planted(request: pytest.FixtureRequest) -> tuple[Store, Reported]:
    """A store with two readable items and one unreadable between them in each list."""
    reported: Reported = []

    def record(key: Mapping[str, Any], reason: str) -> None:
        reported.append((dict(key), reason))

    store: Store
    if request.param == "memory":
        memory = InMemoryStore(on_unreadable=record)
        for name, position in POSITIONS.items():
            memory.plant_unreadable(name, position, {"PK": CORRUPT[name]["PK"], "SK": CORRUPT[name]["SK"]})
        store = memory
    else:
        client: DynamoDBClient = request.getfixturevalue("dynamodb")
        for item in CORRUPT.values():
            client.put_item(TableName=TABLE_NAME, Item=to_attributes(item))
        store = DynamoDBStore(client, TABLE_NAME, on_unreadable=record)
    for customer_id in ("cust_a", "cust_c"):
        store.create_customer(customer(customer_id))
    store.create_customer(customer("cust_acme"))
    for contract_id in ("con_a", "con_c"):
        store.create_contract(contract(contract_id, "cust_acme"))
    for invoice_id in ("inv_a", "inv_c"):
        parsed = InvoiceEvent.model_validate(invoice_event(id=invoice_id, customer_id="cust_acme")).detail
        store.save_invoice(parsed, NOW)
    return store, reported


def test_lists_leave_an_unreadable_item_out_and_report_its_key(planted: tuple[Store, Reported]) -> None:
    store, reported = planted
    assert [c.id for c in store.list_customers(PageRequest(10)).items] == ["cust_a", "cust_acme", "cust_c"]
    assert [c.id for c in store.list_contracts("cust_acme", PageRequest(10)).items] == ["con_a", "con_c"]
    invoices = store.list_invoices("cust_acme", InvoiceQuery(), PageRequest(10)).items
    assert [listing.invoice.id for listing in invoices] == ["inv_a", "inv_c"]
    assert [key for key, _ in reported] == [
        {"PK": "CUSTOMER#cust_bad", "SK": "#CUSTOMER"},
        {"PK": "CUSTOMER#cust_acme", "SK": "CONTRACT#con_b"},
        {"PK": "INVOICE#inv_b", "SK": "#INVOICE"},
    ]
    assert all(reason for _, reason in reported)


def test_paging_walks_past_an_unreadable_item(planted: tuple[Store, Reported]) -> None:
    store, reported = planted
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        page = store.list_contracts("cust_acme", PageRequest(1, cursor))
        seen += [c.id for c in page.items]
        cursor = page.next_page
        if cursor is None:
            break
    assert seen == ["con_a", "con_c"]
    assert {key["SK"] for key, _ in reported} == {"CONTRACT#con_b"}


def test_the_reason_names_the_failing_fields_not_the_data(dynamodb: DynamoDBClient) -> None:
    reported: Reported = []
    store = DynamoDBStore(dynamodb, TABLE_NAME, on_unreadable=lambda key, reason: reported.append((dict(key), reason)))
    dynamodb.put_item(TableName=TABLE_NAME, Item=to_attributes(CORRUPT["contracts:cust_acme"]))
    assert store.list_contracts("cust_acme", PageRequest(10)).items == []
    ((_, reason),) = reported
    assert "starting_at" in reason
    assert "1-01-01" not in reason  # the stored value itself stays out of logs


def test_the_api_answers_the_page_and_counts_the_unreadable_item(
    dynamodb: DynamoDBClient, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    store = DynamoDBStore(dynamodb, TABLE_NAME, on_unreadable=report_unreadable_item)  # as shared/bootstrap.py wires it
    store.create_customer(customer("cust_acme"))
    for item in CORRUPT.values():
        dynamodb.put_item(TableName=TABLE_NAME, Item=to_attributes(item))
    counter = itertools.count(1)
    deps = ApiDependencies(store, lambda: NOW, lambda prefix: f"{prefix}_{next(counter)}", lambda: "t")
    for target in ["/v1/customers", "/v1/customers/cust_acme/invoices"]:
        headers = {"authorization": "Bearer t"}.items()
        event = http_api_event(method="GET", target=target, headers=headers, body=b"", source_ip="192.0.2.1")
        response = lambda_handler(event, LocalLambdaContext("ApiFunction"), deps=deps)
        assert response["statusCode"] == 200, response
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    metrics = [line["UnreadableStoredItems"] for line in lines if "UnreadableStoredItems" in line]
    assert metrics == [[1.0], [1.0]]  # once per request that met one
    logged = [(r.key, r.reason) for r in caplog.records if r.getMessage().startswith("a stored item")]  # type: ignore[attr-defined]
    assert logged == [
        ({"PK": "CUSTOMER#cust_bad", "SK": "#CUSTOMER"}, "Customer does not validate ((item): json_invalid)"),
        ({"PK": "INVOICE#inv_b", "SK": "#INVOICE"}, "no attribute 'data'"),
    ]


def test_every_function_store_reports_unreadable_items_as_a_metric(monkeypatch: pytest.MonkeyPatch) -> None:
    from shared import bootstrap

    monkeypatch.setenv("TABLE_NAME", TABLE_NAME)
    monkeypatch.setenv("DOWNBEAT_API_TOKEN", "t")
    bootstrap.reset()
    try:
        store = bootstrap.api().store
        assert isinstance(store, DynamoDBStore)
        assert store._on_unreadable is report_unreadable_item
    finally:
        bootstrap.reset()


def test_the_audit_log_leaves_an_unreadable_entry_out(dynamodb: DynamoDBClient) -> None:
    from shared.domain.audit import AuditEntry, AuditQuery, Caller

    reported: Reported = []
    store = DynamoDBStore(dynamodb, TABLE_NAME, on_unreadable=lambda key, reason: reported.append((dict(key), reason)))
    caller = Caller("tok_1", None, None)
    for number in (1, 2):
        store.record_audit(AuditEntry.for_call(
            entry_id=f"aud_{number}", at=NOW, caller=caller, action="customers.create", resource_type="customer",
            resource_id=None, status_code=200))  # fmt: skip
    bad = {"PK": "AUDIT#0", "SK": "2025-03-01T00:00:00.000000Z#aud_bad", "data": "{}"}
    dynamodb.put_item(TableName=TABLE_NAME, Item=to_attributes(bad))
    assert sorted(entry.id for entry in store.list_audit_entries(AuditQuery(), PageRequest(10)).items) == [
        "aud_1",
        "aud_2",
    ]
    assert [key for key, _ in reported] == [{"PK": "AUDIT#0", "SK": "2025-03-01T00:00:00.000000Z#aud_bad"}]
