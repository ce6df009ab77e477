"""Invoice responses read their products in batches: one read for a page (the fake counts them),
BatchGetItem of 100 keys at most against DynamoDB, unprocessed keys asked for again."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from shared.adapters.dynamodb import DynamoDBStore
from shared.api.schemas import InvoiceView
from shared.domain.audit import AuditEntry, Caller
from shared.domain.invoice import InvoiceEvent
from shared.domain.invoice_listing import InvoiceQuery
from shared.domain.paging import PageRequest
from shared.domain.products import Product
from shared.ports.errors import RetryableError
from shared.services import api_products
from shared.services.api_dependencies import ApiDependencies
from tests.builders import customer, invoice_event
from tests.conftest import TABLE_NAME
from tests.fakes.memory_store import InMemoryStore

NOW = datetime(2025, 3, 1, tzinfo=UTC)
CALLER = Caller("tok_0123456789ab", "203.0.113.7", "pytest")


def audit(entry_id: str) -> AuditEntry:
    return AuditEntry.for_call(
        entry_id=entry_id,
        at=NOW,
        caller=CALLER,
        action="products.create",
        resource_type="product",
        resource_id=None,
        status_code=200,
    )


def add_product(store: Any, product_id: str) -> None:
    product = Product(id=product_id, name="P", custom_fields={"id": product_id}, created_at=NOW)
    store.create_product_audited(product, audit(f"audit_{product_id}"))


def test_a_page_of_invoices_reads_its_products_once() -> None:
    store = InMemoryStore()
    store.create_customer(customer("cust_acme"))
    for product_id in ("p0", "p1", "p2"):
        add_product(store, product_id)
    for month in range(1, 5):
        lines = [
            {"id": f"l{n}", "name": "n", "product_id": f"p{n % 4}", "quantity": "1", "total": "1.00"} for n in range(6)
        ]
        event = invoice_event(id=f"inv_{month}", line_items=lines, subtotal="6.00",
                              start_timestamp=f"2025-0{month}-01T00:00:00Z",
                              end_timestamp=f"2025-0{month + 1}-01T00:00:00Z")  # fmt: skip
        store.save_invoice(InvoiceEvent.model_validate(event).detail, NOW)
    deps = ApiDependencies(store=store, clock=lambda: NOW, new_id=lambda prefix: prefix, api_token=lambda: "t")
    page = store.list_invoices("cust_acme", InvoiceQuery(), PageRequest(25, None))
    fields = api_products.product_fields(deps, [listing.invoice for listing in page.items])
    assert store.product_batch_reads == 1  # 4 invoices, 24 lines, 4 product ids: one read
    shown = [InvoiceView.of_listing(listing, fields) for listing in page.items]
    assert [line.product_custom_fields for line in shown[0].line_items] == [
        {"id": "p0"},
        {"id": "p1"},
        {"id": "p2"},
        {},  # p3 was never created
        {"id": "p0"},
        {"id": "p1"},
    ]
    assert api_products.product_fields(deps, []) == {}
    assert store.product_batch_reads == 1  # nothing to read: no read


@pytest.fixture
def counted(dynamodb: Any) -> tuple[DynamoDBStore, list[dict[str, Any]]]:
    calls: list[dict[str, Any]] = []
    original = dynamodb.batch_get_item

    def batch_get_item(**kwargs: Any) -> Any:
        calls.append(kwargs)
        return original(**kwargs)

    dynamodb.batch_get_item = batch_get_item
    return DynamoDBStore(dynamodb, TABLE_NAME), calls


def test_dynamodb_reads_100_keys_a_request(counted: tuple[DynamoDBStore, list[dict[str, Any]]]) -> None:
    store, calls = counted
    for index in range(0, 250, 5):
        add_product(store, f"p{index}")
    found = store.get_products([f"p{index}" for index in range(250)])
    assert sorted(found) == sorted(f"p{index}" for index in range(0, 250, 5))
    assert [len(call["RequestItems"][TABLE_NAME]["Keys"]) for call in calls] == [100, 100, 50]
    assert all(call["RequestItems"][TABLE_NAME]["ConsistentRead"] for call in calls)


def test_unprocessed_keys_are_asked_for_again(dynamodb: Any) -> None:
    store = DynamoDBStore(dynamodb, TABLE_NAME)
    for product_id in ("a", "b", "c"):
        add_product(store, product_id)
    original = dynamodb.batch_get_item
    sent: list[int] = []

    def holding_back(**kwargs: Any) -> Any:
        request = kwargs["RequestItems"][TABLE_NAME]
        sent.append(len(request["Keys"]))
        first, *rest = request["Keys"]
        response = original(RequestItems={TABLE_NAME: {**request, "Keys": [first]}})
        if rest:
            response["UnprocessedKeys"] = {TABLE_NAME: {"Keys": rest}}
        return response

    dynamodb.batch_get_item = holding_back
    assert sorted(DynamoDBStore(dynamodb, TABLE_NAME).get_products(["a", "b", "c"])) == ["a", "b", "c"]
    assert sent == [3, 2, 1]

    def always_holding_back(**kwargs: Any) -> Any:
        return {"Responses": {TABLE_NAME: []}, "UnprocessedKeys": kwargs["RequestItems"]}

    dynamodb.batch_get_item = always_holding_back
    with pytest.raises(RetryableError):
        DynamoDBStore(dynamodb, TABLE_NAME).get_products(["a"])


def test_an_unreadable_product_is_reported_and_left_out(dynamodb: Any) -> None:
    reported: list[tuple[Any, str]] = []
    store = DynamoDBStore(dynamodb, TABLE_NAME, on_unreadable=lambda key, reason: reported.append((key, reason)))
    add_product(store, "good")
    dynamodb.put_item(
        TableName=TABLE_NAME,
        Item={"PK": {"S": "PRODUCT#bad"}, "SK": {"S": "#PRODUCT"}, "data": {"S": '{"id": "bad"}'}},
    )
    assert sorted(store.get_products(["good", "bad"])) == ["good"]
    assert [key for key, _ in reported] == [{"PK": "PRODUCT#bad", "SK": "#PRODUCT"}]
