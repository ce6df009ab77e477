"""How the DynamoDB store keeps a large invoice's lines (shared/adapters/dynamodb/invoice_lines.py):
chunk items under the invoice, written before the head that names them; replaced chunks expire
through the table's TTL; a write that crashed or lost leaves the stored version whole."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from shared.adapters.aws_errors import TransactionConflict
from shared.adapters.dynamodb import DynamoDBStore, from_attributes
from shared.adapters.dynamodb.invoice_lines import STALE_CHUNKS_TTL_SECONDS
from shared.domain.invoice import Invoice, InvoiceEvent
from shared.ports.errors import RetryableError
from shared.ports.store import InvoiceWriteOutcome
from tests.builders import customer, large_invoice_event
from tests.conftest import TABLE_NAME

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

NOW = datetime(2025, 3, 1, tzinfo=UTC)
MAX_ITEM_BYTES = 400 * 1024


def large(count: int, hours: int, **overrides: Any) -> Invoice:
    return InvoiceEvent.model_validate(large_invoice_event(count, hours, **overrides)).detail


def items_of(client: DynamoDBClient, invoice_id: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    kwargs: dict[str, Any] = {
        "TableName": TABLE_NAME,
        "KeyConditionExpression": "PK = :pk",
        "ExpressionAttributeValues": {":pk": {"S": f"INVOICE#{invoice_id}"}},
    }
    while True:
        response = client.query(**kwargs)
        for raw in response["Items"]:
            item = from_attributes(raw)
            found[item["SK"]] = item
        if "LastEvaluatedKey" not in response:
            return found
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def chunks(items: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {key: item for key, item in items.items() if key.startswith("LINES#")}


@pytest.fixture
def store(dynamodb: DynamoDBClient) -> DynamoDBStore:
    store = DynamoDBStore(dynamodb, TABLE_NAME)
    store.create_customer(customer("cust_acme"))
    return store


def test_small_invoices_stay_in_one_item(store: DynamoDBStore, dynamodb: DynamoDBClient) -> None:
    store.save_invoice(large(3, 2), NOW)
    assert list(items_of(dynamodb, "inv_1")) == ["#INVOICE"]


def test_a_large_invoice_is_a_small_head_and_chunks_of_its_version(
    store: DynamoDBStore, dynamodb: DynamoDBClient
) -> None:
    invoice = large(50, 720)
    store.save_invoice(invoice, NOW)
    items = items_of(dynamodb, "inv_1")
    head = items["#INVOICE"]
    assert head["lines_key"].startswith(f"{7:016d}#")
    assert int(head["line_items_count"]) == 50
    parts = chunks(items)
    assert len(parts) == int(head["line_chunks"]) + int(head["bucket_chunks"])
    assert all(key.startswith(f"LINES#{head['lines_key']}#") for key in parts)
    assert all(len(bytes(item["data"])) < MAX_ITEM_BYTES for item in parts.values())
    assert len(head["data"]) < MAX_ITEM_BYTES
    assert not any("expires_at" in item for item in parts.values())


def test_replaced_chunks_expire_a_day_later_and_the_new_ones_do_not(
    store: DynamoDBStore, dynamodb: DynamoDBClient
) -> None:
    store.save_invoice(large(40, 720, version=1), NOW)
    old = set(chunks(items_of(dynamodb, "inv_1")))
    store.save_invoice(large(45, 720, version=2), NOW)
    items = items_of(dynamodb, "inv_1")
    expected = int(NOW.timestamp()) + STALE_CHUNKS_TTL_SECONDS
    for key, item in chunks(items).items():
        if key in old:
            assert int(item["expires_at"]) == expected, key
        else:
            assert "expires_at" not in item, key
    assert store.get_invoice("inv_1") == large(45, 720, version=2)


def test_a_write_that_fails_before_its_head_leaves_the_stored_version_whole(
    store: DynamoDBStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = large(40, 720, version=1), large(45, 720, version=2)
    store.save_invoice(first, NOW)

    def unreachable(**_: Any) -> Any:
        raise RetryableError("DynamoDB TransactWriteItems did not answer (injected)", code="connection")

    with monkeypatch.context() as patched:
        patched.setattr(store._client, "transact_write_items", unreachable)
        with pytest.raises(RetryableError):
            store.save_invoice(second, NOW)
    assert store.get_invoice("inv_1") == first  # the new chunks are there, no head names them
    assert store.save_invoice(second, NOW).outcome is InvoiceWriteOutcome.UPDATED  # the retry
    assert store.get_invoice("inv_1") == second


def test_a_write_that_loses_to_a_newer_version_expires_its_own_chunks(
    store: DynamoDBStore, dynamodb: DynamoDBClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.save_invoice(large(3, 1, version=1), NOW)
    winner, loser = large(30, 720, version=3), large(35, 720, version=2)
    transact = store._client.transact_write_items

    def newer_version_first(**kwargs: Any) -> Any:
        monkeypatch.setattr(store._client, "transact_write_items", transact)
        DynamoDBStore(dynamodb, TABLE_NAME).save_invoice(winner, NOW)  # gets there in between
        raise TransactionConflict("injected: the head changed", code="conflict")

    monkeypatch.setattr(store._client, "transact_write_items", newer_version_first)
    assert store.save_invoice(loser, NOW).outcome is InvoiceWriteOutcome.STALE
    items = items_of(dynamodb, "inv_1")
    live = items["#INVOICE"]["lines_key"]
    for key, item in chunks(items).items():
        assert ("expires_at" in item) == (not key.startswith(f"LINES#{live}#")), key
    assert store.get_invoice("inv_1") == winner


def test_a_read_that_finds_chunks_missing_reads_again_then_asks_for_a_retry(
    store: DynamoDBStore, dynamodb: DynamoDBClient
) -> None:
    store.save_invoice(large(40, 720), NOW)
    [first_key, *_] = sorted(chunks(items_of(dynamodb, "inv_1")))
    dynamodb.delete_item(TableName=TABLE_NAME, Key={"PK": {"S": "INVOICE#inv_1"}, "SK": {"S": first_key}})
    with pytest.raises(RetryableError, match="line items changed"):
        store.get_invoice("inv_1")


def test_a_read_without_buckets_reads_only_the_lines_chunks(store: DynamoDBStore, dynamodb: DynamoDBClient) -> None:
    store.save_invoice(large(40, 720), NOW)
    bucket_chunks = [key for key in chunks(items_of(dynamodb, "inv_1")) if "#B#" in key]
    assert bucket_chunks
    for key in bucket_chunks:  # gone: a read that needed them would fail
        dynamodb.delete_item(TableName=TABLE_NAME, Key={"PK": {"S": "INVOICE#inv_1"}, "SK": {"S": key}})
    bare = store.get_invoice("inv_1", buckets=False)
    assert bare is not None
    assert len(bare.line_items) == 40
    assert all(line.buckets == [] for line in bare.line_items)


def test_a_head_at_its_bounds_in_four_byte_characters_still_fits_one_item(
    store: DynamoDBStore, dynamodb: DynamoDBClient
) -> None:
    wide = {f"k{n}": "\N{GRINNING FACE}" * 1_000 for n in range(50)}  # 200 KB of UTF-8 outside the lines
    event = large_invoice_event(200, 24, custom_fields=wide)
    for line in event["detail"]["line_items"]:
        line["name"] = "\N{GRINNING FACE}" * 500  # the longest name, 2 KB each
    invoice = InvoiceEvent.model_validate(event).detail
    store.save_invoice(invoice, NOW)
    head = items_of(dynamodb, "inv_1")["#INVOICE"]
    assert "lines_key" in head
    assert len(head["data"].encode()) < MAX_ITEM_BYTES - 20_000  # room for keys and attributes
    assert store.get_invoice("inv_1") == invoice
