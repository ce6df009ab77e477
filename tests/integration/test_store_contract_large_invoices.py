"""The Store contract for large invoices, run against DynamoDB (moto) and the in-memory fake: any
number of lines and buckets round-trips, versions never mix, lists stay small."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from shared.domain.invoice import Invoice, InvoiceEvent
from shared.domain.invoice_listing import LIST_LINE_ITEMS_MAX, LIST_PAGE_BYTES_MAX, InvoiceQuery, without_buckets
from shared.domain.paging import PageRequest
from shared.ports.store import InvoiceWriteOutcome, Store
from tests.builders import customer, hourly_lines, large_invoice_event
from tests.integration.test_store_contract import store

__all__ = ["store"]  # the fixture: both stores
NOW = datetime(2025, 3, 1, tzinfo=UTC)


def large(count: int, hours: int, **overrides: Any) -> Invoice:
    return InvoiceEvent.model_validate(large_invoice_event(count, hours, **overrides)).detail


def test_an_invoice_of_any_size_comes_back_whole(store: Store) -> None:
    store.create_customer(customer("cust_acme"))
    invoice = large(30, 720)  # ~2.5 MB of JSON: chunks in DynamoDB
    assert store.save_invoice(invoice, NOW).outcome is InvoiceWriteOutcome.CREATED
    assert store.get_invoice("inv_1") == invoice
    bare = store.get_invoice("inv_1", buckets=False)
    assert bare is not None
    assert bare.line_items == without_buckets(invoice.line_items)
    assert bare.model_copy(update={"line_items": invoice.line_items}) == invoice


def test_thousands_of_lines_are_stored_and_counted(store: Store) -> None:
    store.create_customer(customer("cust_acme"))
    invoice = large(2_600, 1)  # past what one DynamoDB item held before chunks
    assert store.save_invoice(invoice, NOW).outcome is InvoiceWriteOutcome.CREATED
    assert store.get_invoice("inv_1") == invoice
    assert store.get_customer("cust_acme").lifetime_billings == {"USD": invoice.total}  # type: ignore[union-attr]


def test_a_new_version_replaces_every_line_and_never_mixes_with_the_old(store: Store) -> None:
    store.create_customer(customer("cust_acme"))
    first = large(3_000, 2, version=1)
    lines = hourly_lines(1_200, 3, prefix="second")
    subtotal = sum((Decimal(line["total"]) for line in lines), Decimal(0))
    second = large(1, 1, version=2, line_items=lines, subtotal=str(subtotal), total=str(round(subtotal, 2)))
    store.save_invoice(first, NOW)
    assert store.save_invoice(second, NOW).outcome is InvoiceWriteOutcome.UPDATED
    assert store.get_invoice("inv_1") == second
    assert store.save_invoice(first, NOW).outcome is InvoiceWriteOutcome.STALE  # a late redelivery
    assert store.get_invoice("inv_1") == second
    assert store.save_invoice(second, NOW).outcome is InvoiceWriteOutcome.DUPLICATE
    assert store.get_invoice("inv_1") == second
    small = large(3, 0, version=3)  # back to lines that fit the invoice's own item
    store.save_invoice(small, NOW)
    assert store.get_invoice("inv_1") == small
    assert store.get_customer("cust_acme").lifetime_billings == {"USD": small.total}  # type: ignore[union-attr]


def test_a_list_item_shows_the_first_lines_without_buckets_and_says_how_many(store: Store) -> None:
    store.create_customer(customer("cust_acme"))
    big, few = large(300, 24, id="inv_big"), large(3, 24, id="inv_few", start_timestamp="2025-02-02T00:00:00Z")
    store.save_invoice(big, NOW)
    store.save_invoice(few, NOW)
    page = store.list_invoices("cust_acme", InvoiceQuery(), PageRequest(limit=10))
    listed = {listing.invoice.id: listing for listing in page.items}
    assert set(listed) == {"inv_big", "inv_few"}
    shown = listed["inv_big"].invoice.line_items
    assert 0 < len(shown) <= LIST_LINE_ITEMS_MAX
    assert shown == without_buckets(big.line_items)[: len(shown)]
    assert (listed["inv_big"].line_items_count, listed["inv_big"].line_items_truncated) == (300, True)
    assert listed["inv_few"].invoice.line_items == without_buckets(few.line_items)
    assert (listed["inv_few"].line_items_count, listed["inv_few"].line_items_truncated) == (3, False)
    # Everything but the lines is the invoice itself.
    assert listed["inv_big"].invoice.model_copy(update={"line_items": big.line_items}) == big


def test_a_page_ends_early_rather_than_outgrow_a_lambda_response(store: Store) -> None:
    store.create_customer(customer("cust_acme"))
    heavy = {f"field_{n}": "x" * 1_000 for n in range(200)}  # ~200 KB per invoice outside its lines
    for number in range(30):
        invoice = large(2, 0, id=f"inv_{number:02d}", custom_fields=heavy)
        store.save_invoice(invoice, NOW)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = store.list_invoices("cust_acme", InvoiceQuery(), PageRequest(limit=100, cursor=cursor))
        assert 0 < len(page.items) < 30
        assert sum(listing.size for listing in page.items) <= LIST_PAGE_BYTES_MAX
        seen += [listing.invoice.id for listing in page.items]
        pages += 1
        cursor = page.next_page
        if cursor is None:
            break
    assert seen == [f"inv_{number:02d}" for number in range(30)]
    assert pages >= 2
