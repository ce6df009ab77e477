"""Breakdown pages over invoices that span several pages: each invoice's buckets are read once per
walk, a page resumes in the invoice it stopped in, a new version between pages is what later pages
show, a cursor of the earlier format still resumes at the same entry, and a cursor never carries
one customer's entries into another's list."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

import pytest

from shared.domain.breakdowns import BreakdownQuery, InvoiceUsage
from shared.domain.invoice import Invoice
from shared.domain.invoice_listing import InvoiceListing, InvoiceQuery
from shared.domain.paging import InvalidCursor, Page, PageRequest, decode_cursor, encode_cursor
from shared.services.api_breakdowns import list_breakdowns
from shared.services.api_dependencies import ApiDependencies
from shared.services.api_errors import NotFound
from tests.builders import customer
from tests.fakes.memory_store import InMemoryStore
from tests.unit.test_breakdowns import FEB, MAR, bucket, invoice, line, query, stamp

HOURS = 50  # each invoice has usage in 50 hours: 50 HOUR windows, several pages of 20


class CountingStore(InMemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads: list[str] = []  # invoices read with their buckets
        self.customer_reads = 0
        self.lists = 0
        self.version_reads = 0

    def get_invoice(self, invoice_id: str, *, buckets: bool = True) -> Invoice | None:
        if buckets:
            self.reads.append(invoice_id)
        return super().get_invoice(invoice_id, buckets=buckets)

    def list_invoices(self, customer_id: str, query: InvoiceQuery, page: PageRequest) -> Page[InvoiceListing]:
        self.lists += 1
        return super().list_invoices(customer_id, query, page)

    def get_invoice_usage(self, invoice_id: str) -> InvoiceUsage | None:
        self.reads.append(invoice_id)
        return super().get_invoice_usage(invoice_id)

    def invoice_version(self, invoice_id: str) -> int | None:
        self.version_reads += 1
        return super().invoice_version(invoice_id)

    def get_customer(self, customer_id: str) -> Any:
        self.customer_reads += 1
        return super().get_customer(customer_id)


def monthly(number: int, total: str = "0.01", customer_id: str = "cust_acme", version: int = 1) -> Invoice:
    start = FEB + timedelta(days=3 * number)
    lines = [line("a", [bucket(72 * number + hour, total) for hour in range(HOURS)])]
    return invoice(lines, id=f"inv_{customer_id}_{number}", customer_id=customer_id, version=version,
                   start_timestamp=stamp(start), end_timestamp=stamp(start + timedelta(days=3)))  # fmt: skip


@pytest.fixture
def store() -> CountingStore:
    store = CountingStore()
    for customer_id in ("cust_acme", "cust_other"):
        store.create_customer(customer(customer_id))
    for number in range(3):
        store.save_invoice(monthly(number), MAR)
    store.save_invoice(monthly(0, customer_id="cust_other"), MAR)
    return store


def deps_of(store: InMemoryStore) -> ApiDependencies:
    counter = itertools.count()
    return ApiDependencies(
        store=store, clock=lambda: MAR, new_id=lambda p: f"{p}_{next(counter)}", api_token=lambda: "t"
    )


def page_of(deps: ApiDependencies, cursor: str | None, customer_id: str = "cust_acme", limit: int = 20) -> Page[Any]:
    return list_breakdowns(deps, customer_id, query("HOUR", end=MAR + timedelta(days=30)), PageRequest(limit, cursor))


def walk(deps: ApiDependencies, limit: int = 20) -> list[tuple[str, datetime, str]]:
    seen, cursor = [], None
    while True:
        page = page_of(deps, cursor, limit=limit)
        seen += [(e.invoice_id, e.breakdown_start_timestamp, str(e.subtotal)) for e in page.items]
        if (cursor := page.next_page) is None:
            return seen


def test_each_invoice_s_buckets_are_read_once_however_many_pages_it_spans(store: CountingStore) -> None:
    seen = walk(deps_of(store), limit=7)  # 150 windows in 22 pages
    assert len(seen) == len(set(seen)) == 3 * HOURS
    assert store.reads == ["inv_cust_acme_0", "inv_cust_acme_1", "inv_cust_acme_2"]
    assert store.customer_reads == 1  # the first page's; a cursor came from this customer's list


def test_every_limit_walks_the_same_entries_in_the_same_order(store: CountingStore) -> None:
    expected = walk(deps_of(store), limit=100)
    for limit in (1, 3, 49, 50, 51):
        assert walk(deps_of(store), limit=limit) == expected


def test_a_new_version_between_pages_is_what_the_later_pages_show(store: CountingStore) -> None:
    deps = deps_of(store)
    first = page_of(deps, None)
    assert {str(e.subtotal) for e in first.items} == {"0.01"}
    store.save_invoice(monthly(0, total="0.02", version=2), MAR)
    second = page_of(deps, first.next_page)
    assert {str(e.subtotal) for e in second.items} == {"0.02"}  # not the first version's, kept from page 1
    assert second.items[0].breakdown_start_timestamp == FEB + timedelta(hours=20)


def test_a_cursor_of_the_earlier_format_resumes_at_the_same_entry(store: CountingStore) -> None:
    deps = deps_of(store)
    everything = walk(deps_of(store), limit=100)
    # The earlier build's cursor: the stretch's cursor and the entries served of the whole stretch.
    old = encode_cursor({"invoices": None, "skip": HOURS + 5})
    page = page_of(deps, old)
    assert [(e.invoice_id, e.breakdown_start_timestamp) for e in page.items] == [
        (invoice_id, start) for invoice_id, start, _ in everything[HOURS + 5 : HOURS + 25]
    ]


def test_a_cursor_never_brings_one_customer_s_entries_into_another_s_list(store: CountingStore) -> None:
    deps = deps_of(store)
    acme = page_of(deps, None)
    assert acme.next_page is not None
    other = page_of(deps, acme.next_page, customer_id="cust_other")
    assert {e.invoice_id for e in other.items} <= {"inv_cust_other_0"}
    with pytest.raises(NotFound):
        page_of(deps, acme.next_page, customer_id="cust_nobody")
    with pytest.raises((NotFound, InvalidCursor)):
        page_of(deps, encode_cursor({"invoices": None, "skip": 3, "at": 1}), customer_id="cust_nobody")


def test_a_page_that_stops_inside_an_invoice_says_so_in_its_cursor(store: CountingStore) -> None:
    page = page_of(deps_of(store), None, limit=20)
    assert decode_cursor(page.next_page or "") == {
        "invoices": None, "skip": 20, "at": 0, "id": "inv_cust_acme_0", "version": 1
    }  # fmt: skip


def test_a_page_inside_the_invoice_it_resumes_in_lists_nothing(store: CountingStore) -> None:
    deps = deps_of(store)
    first = page_of(deps, None, limit=20)  # entries 0-19 of invoice 0 (50 windows)
    lists_before = store.lists
    second = page_of(deps, first.next_page, limit=20)  # 20-39: inside invoice 0
    assert store.lists == lists_before
    assert store.version_reads == 1  # whether invoice 0 is still the version its entries came from
    third = page_of(deps, second.next_page, limit=20)  # 40-49 of invoice 0, then invoice 1: a list
    assert store.lists > lists_before
    assert [e.invoice_id for e in third.items] == ["inv_cust_acme_0"] * 10 + ["inv_cust_acme_1"] * 10
    assert [e.breakdown_start_timestamp for e in [*second.items, *third.items[:10]]] == [
        FEB + timedelta(hours=hour) for hour in range(20, 50)
    ]


@pytest.mark.parametrize(
    "extra", [{"id": "inv_cust_acme_0"}, {"version": 1}, {"id": 7, "version": 1}, {"id": "x" * 300, "version": 1},
              {"id": "inv_cust_acme_0", "version": -1}, {"id": "inv_cust_acme_0", "version": True},
              {"windows": "w"}, {"id": "inv_cust_acme_0", "windows": 7}, {"id": "inv_cust_acme_0", "windows": ""},
              {"id": "inv_cust_acme_0", "windows": "w" * 101}, {"id": "inv_cust_acme_0", "version": 1, "then": "w"},
              {"id": "inv_cust_acme_0", "version": 1, "then": [["inv_1"]]},
              {"id": "inv_cust_acme_0", "version": 1, "then": [["inv_1", 5]]},
              {"id": "inv_cust_acme_0", "version": 1, "then": [["inv_1", "w"]] * 10}],
)  # fmt: skip
def test_a_cursor_naming_its_invoice_badly_is_refused(store: CountingStore, extra: dict[str, Any]) -> None:
    with pytest.raises(InvalidCursor):
        page_of(deps_of(store), encode_cursor({"invoices": None, "skip": 0, "at": 0, **extra}))


@pytest.mark.parametrize("at", [-1, 10, True, "1", 1.5])
def test_a_cursor_with_an_impossible_position_is_refused(store: CountingStore, at: Any) -> None:
    with pytest.raises(InvalidCursor):
        page_of(deps_of(store), encode_cursor({"invoices": None, "skip": 0, "at": at}))


def test_the_query_is_part_of_what_is_kept(store: CountingStore) -> None:
    deps = deps_of(store)
    hourly = list_breakdowns(deps, "cust_acme", query("HOUR"), PageRequest(100)).items
    daily = list_breakdowns(deps, "cust_acme", BreakdownQuery(FEB, MAR, "DAY"), PageRequest(100)).items
    assert len(hourly) == 100
    assert len(daily) == 9  # 3 invoices x 3 UTC days (50 hours from the start of each)
