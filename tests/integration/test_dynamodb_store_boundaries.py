"""Cursors reused with other filters must not send DynamoDB a start key outside the key condition.

Real DynamoDB answers such a Query with ValidationException ("The provided starting key is outside
query boundaries"); moto does not check, so a strict client wrapper plays DynamoDB's part here.
Also: a filtered page reads each stored invoice once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError

from shared.adapters.dynamodb import DynamoDBStore, from_attributes
from shared.domain.invoice import Invoice, InvoiceEvent
from shared.domain.invoice_listing import InvoiceQuery
from shared.domain.paging import PageRequest
from tests.builders import customer, invoice_event
from tests.conftest import TABLE_NAME

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient


class BoundaryCheckingClient:
    """Forwards to moto, refusing an ExclusiveStartKey outside `BETWEEN :low AND :high` as DynamoDB does."""

    def __init__(self, client: DynamoDBClient) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def query(self, **kwargs: Any) -> Any:
        start = kwargs.get("ExclusiveStartKey")
        condition = kwargs.get("KeyConditionExpression", "")
        if start is not None and "BETWEEN" in condition:
            sort_name = kwargs["ExpressionAttributeNames"]["#sk"]
            values = from_attributes(kwargs["ExpressionAttributeValues"])
            position = from_attributes(start)[sort_name]
            if not values[":low"] <= position <= values[":high"]:
                error = {"Error": {"Code": "ValidationException", "Message": "outside query boundaries"}}
                raise ClientError(error, "Query")  # type: ignore[arg-type]
        return self._client.query(**kwargs)


def test_an_invoice_cursor_reused_with_a_narrower_range(dynamodb: DynamoDBClient) -> None:
    store = DynamoDBStore(BoundaryCheckingClient(dynamodb), TABLE_NAME)  # type: ignore[arg-type]
    store.create_customer(customer("cust_acme"))
    for month in range(1, 7):
        event = invoice_event(
            id=f"inv_{month}",
            start_timestamp=f"2025-{month:02d}-01T00:00:00Z",
            end_timestamp=f"2025-{month + 1:02d}-01T00:00:00Z",
        )
        store.save_invoice(InvoiceEvent.model_validate(event).detail, datetime(2025, 8, 1, tzinfo=UTC))
    first = store.list_invoices("cust_acme", InvoiceQuery(), PageRequest(limit=2))
    assert [listing.invoice.id for listing in first.items] == ["inv_1", "inv_2"]
    assert first.next_page is not None

    later = InvoiceQuery(starting_on=datetime(2025, 4, 1, tzinfo=UTC))  # the cursor lies before this range
    page = store.list_invoices("cust_acme", later, PageRequest(limit=10, cursor=first.next_page))
    assert [listing.invoice.id for listing in page.items] == ["inv_4", "inv_5", "inv_6"]

    earlier = InvoiceQuery(ending_before=datetime(2025, 1, 15, tzinfo=UTC))  # the cursor lies after this range
    page = store.list_invoices("cust_acme", earlier, PageRequest(limit=10, cursor=first.next_page))
    assert (page.items, page.next_page) == ([], None)


def test_the_strict_client_does_refuse_an_out_of_range_start(dynamodb: DynamoDBClient) -> None:
    client = BoundaryCheckingClient(dynamodb)
    with pytest.raises(ClientError, match="outside query boundaries"):
        client.query(
            TableName=TABLE_NAME,
            KeyConditionExpression="#pk = :pk AND #sk BETWEEN :low AND :high",
            ExpressionAttributeNames={"#pk": "PK", "#sk": "SK"},
            ExpressionAttributeValues={":pk": {"S": "x"}, ":low": {"S": "b"}, ":high": {"S": "c"}},
            ExclusiveStartKey={"PK": {"S": "x"}, "SK": {"S": "a"}},
        )


def test_an_invoice_page_reads_each_stored_invoice_once(
    dynamodb: DynamoDBClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The filter and the page share one parse of each invoice (up to 10,000 line items each)."""
    store = DynamoDBStore(dynamodb, TABLE_NAME)
    store.create_customer(customer("cust_acme"))
    for number, status in enumerate(["FINALIZED", "DRAFT", "FINALIZED", "FINALIZED", "FINALIZED"], start=1):
        event = invoice_event(
            id=f"inv_{number}",
            status=status,
            start_timestamp=f"2025-{number:02d}-01T00:00:00Z",
            end_timestamp=f"2025-{number + 1:02d}-01T00:00:00Z",
        )
        store.save_invoice(InvoiceEvent.model_validate(event).detail, datetime(2025, 8, 1, tzinfo=UTC))
    parsed: list[str] = []
    parse = Invoice.model_validate_json

    def counted(data: Any) -> Invoice:
        invoice = parse(data)
        parsed.append(invoice.id)
        return invoice

    monkeypatch.setattr(Invoice, "model_validate_json", counted)
    page = store.list_invoices("cust_acme", InvoiceQuery(status="FINALIZED"), PageRequest(limit=2))
    assert [listing.invoice.id for listing in page.items] == ["inv_1", "inv_3"]
    assert page.next_page is not None
    assert parsed == ["inv_1", "inv_2", "inv_3", "inv_4"]  # inv_4 proves a next page exists


def test_a_handled_marketplace_message_is_remembered_for_ninety_days(dynamodb: DynamoDBClient) -> None:
    store = DynamoDBStore(dynamodb, TABLE_NAME)
    at = datetime(2025, 3, 1, tzinfo=UTC)
    store.remember_marketplace_operation("aws_event", "evt-1", at, "changed")
    assert store.marketplace_operation_done("aws_event", "evt-1")
    item = dynamodb.get_item(TableName=TABLE_NAME, Key={"PK": {"S": "OPERATION#aws_event"}, "SK": {"S": "evt-1"}})
    assert int(item["Item"]["expires_at"]["N"]) == int((at + timedelta(days=90)).timestamp())
