"""Breakdown windows written with an invoice (shared/adapters/dynamodb/invoice_windows.py): an aligned
walk answers them without reading a bucket, a range off the windows' boundaries computes from the
buckets, a next page shows the version its walk met in any function (and the latest once that
version's windows expired), the invoices after the one a page stops in are served without listing,
a cursor never reaches another customer's windows, and windows past their bound are not written."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from shared.adapters.dynamodb import DynamoDBStore, from_attributes, invoice_lines, invoice_windows
from shared.domain.breakdown_json import entry_json
from shared.domain.breakdowns import BreakdownEntry, BreakdownQuery, InvoiceUsage, StoredWindows, breakdowns_of
from shared.domain.invoice import Invoice, InvoiceEvent
from shared.domain.invoice_listing import InvoiceListing, InvoiceQuery
from shared.domain.paging import Page, PageRequest, decode_cursor, encode_cursor
from shared.services.api_breakdowns import list_breakdowns
from shared.services.api_dependencies import ApiDependencies
from tests.builders import customer, large_invoice_event
from tests.conftest import TABLE_NAME

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

FEB = datetime(2025, 2, 1, tzinfo=UTC)
MAR = datetime(2025, 3, 1, tzinfo=UTC)
HOURS = 48  # each invoice: 10 lines of 48 hourly buckets (its lines go into chunk items)
ALIGNED = BreakdownQuery(FEB, MAR, "HOUR")


class CountingStore(DynamoDBStore):
    def __init__(self, client: DynamoDBClient) -> None:
        super().__init__(client, TABLE_NAME)
        self.bucket_reads: list[str] = []
        self.window_reads: list[list[str]] = []  # the invoices of each batch read
        self.lists = 0

    def get_invoice_usage(self, invoice_id: str) -> InvoiceUsage | None:
        self.bucket_reads.append(invoice_id)
        return super().get_invoice_usage(invoice_id)

    def get_invoice_windows(self, wanted: Sequence[tuple[str, str]], size: Any) -> dict[str, StoredWindows]:
        self.window_reads.append([invoice_id for invoice_id, _ in wanted])
        return super().get_invoice_windows(wanted, size)

    def list_invoices(self, customer_id: str, query: InvoiceQuery, page: PageRequest) -> Page[InvoiceListing]:
        self.lists += 1
        return super().list_invoices(customer_id, query, page)


def invoice(
    number: int, *, customer_id: str = "cust_acme", version: int = 1, scale: int = 1, currency: str = "USD"
) -> Invoice:
    """One of the customer's invoices; `scale` multiplies its amounts (a re-rated version)."""
    event = large_invoice_event(
        10, HOURS, id=f"inv_{customer_id}_{number}", customer_id=customer_id, version=version, currency=currency
    )
    detail = event["detail"]
    for line in detail["line_items"]:
        for bucket in line["buckets"]:
            bucket["total"] = str(Decimal(bucket["total"]) * scale)
        line["total"] = str(sum((Decimal(bucket["total"]) for bucket in line["buckets"]), Decimal(0)))
        line["unit_price"] = str(Decimal(line["unit_price"]) * scale)
    subtotal = sum((Decimal(line["total"]) for line in detail["line_items"]), Decimal(0))
    detail.update(subtotal=str(subtotal), total=str(subtotal.quantize(Decimal("0.01"))))
    return InvoiceEvent.model_validate(event).detail


def deps_of(store: DynamoDBStore) -> ApiDependencies:
    counter = itertools.count()
    return ApiDependencies(store, lambda: MAR, lambda prefix: f"{prefix}_{next(counter)}", lambda: "token")


@pytest.fixture
def dynamodb_with_invoices(dynamodb: DynamoDBClient) -> DynamoDBClient:
    store = DynamoDBStore(dynamodb, TABLE_NAME)
    for customer_id in ("cust_acme", "cust_other"):
        store.create_customer(customer(customer_id))
    for number in range(3):
        store.save_invoice(invoice(number), MAR)
    store.save_invoice(invoice(0, customer_id="cust_other"), MAR)
    return dynamodb


def walk(store: DynamoDBStore, query: BreakdownQuery = ALIGNED, limit: int = 20) -> list[BreakdownEntry]:
    deps, cursor = deps_of(store), None
    seen: list[BreakdownEntry] = []
    while True:
        page = list_breakdowns(deps, "cust_acme", query, PageRequest(limit, cursor))
        seen += page.items
        if (cursor := page.next_page) is None:
            return seen


def computed(store: DynamoDBStore, query: BreakdownQuery) -> list[str]:
    """Every entry of the customer's invoices computed from their buckets, as the API writes them."""
    found = []
    for number in range(3):
        read = store.get_invoice(f"inv_cust_acme_{number}")
        assert read is not None
        found += [entry_json(entry) for entry in breakdowns_of(read, query)]
    return found


def test_an_aligned_walk_answers_the_written_windows_and_reads_no_bucket(dynamodb_with_invoices: Any) -> None:
    store = CountingStore(dynamodb_with_invoices)
    seen = walk(store)
    assert all(isinstance(entry, str) for entry in seen)
    assert seen == computed(store, ALIGNED)
    assert len(seen) == 3 * HOURS
    assert store.bucket_reads == []
    # The first page lists one invoice; the page that goes on past it lists the next ten and reads
    # their windows together.
    assert store.window_reads == [["inv_cust_acme_0"], ["inv_cust_acme_1", "inv_cust_acme_2"]]


def test_the_invoices_after_the_one_a_page_stops_in_are_served_without_listing(dynamodb_with_invoices: Any) -> None:
    store = CountingStore(dynamodb_with_invoices)
    first = list_breakdowns(deps_of(store), "cust_acme", ALIGNED, PageRequest(20))
    walk(store)
    # The first page lists one invoice (and stops in it); the page after it lists the next ten
    # and stops in the first of them, naming the other in its cursor; the end of the walk lists once.
    assert store.lists <= 4
    assert decode_cursor(first.next_page or "")["windows"]


def test_a_cursor_names_after_its_invoice_only_those_the_query_keeps(dynamodb: DynamoDBClient) -> None:
    store = CountingStore(dynamodb)
    store.create_customer(customer("cust_acme"))
    for number, currency in enumerate(["USD", "USD", "EUR", "USD"]):
        store.save_invoice(invoice(number, currency=currency), MAR)
    dollars = BreakdownQuery(FEB, MAR, "HOUR", currency="USD")
    deps, cursor, positions = deps_of(store), None, []
    while True:
        page = list_breakdowns(deps, "cust_acme", dollars, PageRequest(20, cursor))
        if (cursor := page.next_page) is None:
            break
        positions.append(decode_cursor(cursor))
    inside_the_second = [position for position in positions if position["id"] == "inv_cust_acme_1"]
    assert inside_the_second
    assert all([name for name, _ in position["then"]] == ["inv_cust_acme_3"] for position in inside_the_second)
    seen = walk(store, dollars)
    assert "inv_cust_acme_2" not in "".join(str(entry) for entry in seen)
    assert len(seen) == 3 * HOURS


def test_a_range_off_the_windows_boundaries_is_computed_from_the_buckets(dynamodb_with_invoices: Any) -> None:
    store = CountingStore(dynamodb_with_invoices)
    clipped = BreakdownQuery(FEB + timedelta(hours=5, minutes=30), FEB + timedelta(days=1, hours=3), "DAY")
    seen = walk(store, clipped)
    assert [entry_json(entry) for entry in seen if not isinstance(entry, str)] == computed(store, clipped)
    assert store.window_reads == []
    assert store.bucket_reads == ["inv_cust_acme_0", "inv_cust_acme_1", "inv_cust_acme_2"]


def test_a_next_page_shows_the_version_its_walk_met_in_any_function(dynamodb_with_invoices: Any) -> None:
    warm = DynamoDBStore(dynamodb_with_invoices, TABLE_NAME)
    first = list_breakdowns(deps_of(warm), "cust_acme", ALIGNED, PageRequest(20))
    before = computed(warm, ALIGNED)
    warm.save_invoice(invoice(0, version=2, scale=3), MAR)  # re-rated while the client pages
    cold = DynamoDBStore(dynamodb_with_invoices, TABLE_NAME)  # another instance: holds nothing
    pages = [
        list_breakdowns(deps_of(store), "cust_acme", ALIGNED, PageRequest(20, first.next_page))
        for store in (warm, cold)
    ]
    assert pages[0] == pages[1]
    assert list(pages[0].items) == before[20:40]  # version 1's, as page 1 showed
    # A walk that starts now shows version 2.
    assert walk(cold)[:HOURS] == computed(cold, ALIGNED)[:HOURS] != before[:HOURS]


def test_once_the_version_s_windows_expired_a_next_page_shows_the_latest(dynamodb_with_invoices: Any) -> None:
    store = DynamoDBStore(dynamodb_with_invoices, TABLE_NAME)
    first = list_breakdowns(deps_of(store), "cust_acme", ALIGNED, PageRequest(20))
    store.save_invoice(invoice(0, version=2, scale=3), MAR)
    for item in _items(dynamodb_with_invoices, "inv_cust_acme_0"):
        if item["SK"].startswith("WINDOWS#0000000000000001#"):  # the table's TTL deleted them
            dynamodb_with_invoices.delete_item(
                TableName=TABLE_NAME, Key={"PK": {"S": item["PK"]}, "SK": {"S": item["SK"]}}
            )
    cold = DynamoDBStore(dynamodb_with_invoices, TABLE_NAME)
    page = list_breakdowns(deps_of(cold), "cust_acme", ALIGNED, PageRequest(20, first.next_page))
    assert list(page.items) == computed(cold, ALIGNED)[20:40]  # version 2's, from where page 1 stopped


def test_a_named_invoice_whose_windows_expired_is_listed_again_at_its_latest(dynamodb_with_invoices: Any) -> None:
    table = dynamodb_with_invoices
    store = DynamoDBStore(table, TABLE_NAME)
    before = computed(store, ALIGNED)
    cursor: str | None = None
    seen: list[BreakdownEntry] = []
    for _ in range(3):  # the third page stops inside inv_1 and names inv_2 after it
        page = list_breakdowns(deps_of(store), "cust_acme", ALIGNED, PageRequest(20, cursor))
        seen += page.items
        cursor = page.next_page
    assert [name for name, _ in decode_cursor(cursor or "")["then"]] == ["inv_cust_acme_2"]
    store.save_invoice(invoice(2, version=2, scale=3), MAR)
    for item in _items(table, "inv_cust_acme_2"):
        if item["SK"].startswith("WINDOWS#0000000000000001#"):
            table.delete_item(TableName=TABLE_NAME, Key={"PK": {"S": item["PK"]}, "SK": {"S": item["SK"]}})
    while cursor is not None:  # each page in a function that holds nothing
        page = list_breakdowns(deps_of(DynamoDBStore(table, TABLE_NAME)), "cust_acme", ALIGNED, PageRequest(20, cursor))
        seen += page.items
        cursor = page.next_page
    assert seen == before[: 2 * HOURS] + computed(store, ALIGNED)[2 * HOURS :]


def test_a_replaced_version_s_windows_expire_with_its_lines(dynamodb_with_invoices: Any) -> None:
    store = DynamoDBStore(dynamodb_with_invoices, TABLE_NAME)
    store.save_invoice(invoice(0, version=2, scale=3), MAR)
    old = [item for item in _items(dynamodb_with_invoices, "inv_cust_acme_0") if "#0000000000000001#" in item["SK"]]
    assert {item["SK"].split("#")[0] for item in old} == {"LINES", "WINDOWS"}
    assert all("expires_at" in item for item in old)


def test_a_cursor_never_reaches_another_customer_s_windows(dynamodb_with_invoices: Any) -> None:
    store = DynamoDBStore(dynamodb_with_invoices, TABLE_NAME)
    theirs = list_breakdowns(deps_of(store), "cust_other", ALIGNED, PageRequest(20))
    position = decode_cursor(theirs.next_page or "")
    # Edited to resume in the other customer's invoice, from an instance that holds nothing.
    forged = encode_cursor({**position, "invoices": None, "then": [[position["id"], position["windows"]]]})
    cold = DynamoDBStore(dynamodb_with_invoices, TABLE_NAME)
    for cursor in (theirs.next_page, forged):
        page = list_breakdowns(deps_of(cold), "cust_acme", ALIGNED, PageRequest(100, cursor))
        assert all("inv_cust_other" not in str(entry) for entry in page.items)


def test_a_windows_name_the_store_did_not_write_falls_back_to_the_list(dynamodb_with_invoices: Any) -> None:
    store = DynamoDBStore(dynamodb_with_invoices, TABLE_NAME)
    first = list_breakdowns(deps_of(store), "cust_acme", ALIGNED, PageRequest(20))
    edited = encode_cursor({**decode_cursor(first.next_page or ""), "windows": "not-ours"})
    page = list_breakdowns(deps_of(DynamoDBStore(dynamodb_with_invoices, TABLE_NAME)), "cust_acme", ALIGNED,
                           PageRequest(20, edited))  # fmt: skip
    assert list(page.items) == computed(store, ALIGNED)[20:40]


def test_windows_past_their_bound_are_not_written(dynamodb: DynamoDBClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(invoice_windows, "WINDOW_TEXT_MAX_BYTES", 1_000)
    store = CountingStore(dynamodb)
    store.create_customer(customer("cust_acme"))
    for number in range(3):
        store.save_invoice(invoice(number), MAR)
    listed = store.list_invoices("cust_acme", InvoiceQuery(), PageRequest(10)).items
    assert [listing.windows for listing in listed] == [None, None, None]
    assert [entry_json(entry) for entry in walk(store) if not isinstance(entry, str)] == computed(store, ALIGNED)
    assert store.window_reads == []


def _items(client: DynamoDBClient, invoice_id: str) -> list[dict[str, Any]]:
    response = client.query(
        TableName=TABLE_NAME,
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": f"INVOICE#{invoice_id}"}},
    )
    return [from_attributes(raw) for raw in response["Items"]]


def test_windows_in_many_chunks_read_in_bounded_batches_answer_the_same(
    dynamodb: DynamoDBClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(invoice_lines, "CHUNK_BYTES", 2_000)  # each invoice's windows in several chunk items
    monkeypatch.setattr(invoice_lines, "CHUNKS_PER_BATCH_GET", 2)
    monkeypatch.setattr(invoice_lines, "WINDOWS_READ_CHUNKS", 1)  # no invoice read beyond the first of a batch
    store = CountingStore(dynamodb)
    store.create_customer(customer("cust_acme"))
    for number in range(3):
        store.save_invoice(invoice(number), MAR)
    assert all(int(name.split("#")[2]) > 2 for name in _names(store))  # HOUR chunks per invoice
    assert walk(store) == computed(store, ALIGNED)
    assert store.bucket_reads == []


def _names(store: DynamoDBStore) -> list[str]:
    listed = store.list_invoices("cust_acme", InvoiceQuery(), PageRequest(10)).items
    return [listing.windows or "" for listing in listed]
