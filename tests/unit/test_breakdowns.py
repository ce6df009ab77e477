"""Invoice breakdowns: windows from buckets, placement of lines without buckets, range, filters,
paging that walks every entry once in one order, and the cursor refusing what it did not hand out."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.breakdown_json import as_breakdown
from shared.domain.breakdowns import BreakdownQuery, breakdowns_of
from shared.domain.invoice import Invoice, InvoiceEvent
from shared.domain.paging import InvalidCursor, PageRequest, encode_cursor
from shared.domain.validation import FieldError
from shared.services.api_breakdowns import list_breakdowns
from shared.services.api_dependencies import ApiDependencies
from shared.services.api_errors import NotFound
from tests.builders import customer, invoice_event
from tests.fakes.memory_store import InMemoryStore

FEB = datetime(2025, 2, 1, tzinfo=UTC)
MAR = datetime(2025, 3, 1, tzinfo=UTC)


def stamp(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%SZ}"


def bucket(hour: int, total: str, quantity: str = "1") -> dict[str, str]:
    start = FEB + timedelta(hours=hour)
    return {
        "starting_at": stamp(start),
        "ending_before": stamp(start + timedelta(hours=1)),
        "quantity": quantity,
        "total": total,
    }


def line(line_id: str, buckets: list[dict[str, str]], total: str = "0", quantity: str = "0") -> dict[str, Any]:
    if buckets:
        total = str(sum((Decimal(b["total"]) for b in buckets), Decimal(0)))
        quantity = str(sum((Decimal(b["quantity"]) for b in buckets), Decimal(0)))
    return {"id": line_id, "name": f"Line {line_id}", "product_id": f"prod_{line_id}", "quantity": quantity,
            "total": total, "buckets": buckets}  # fmt: skip


def invoice(lines: list[dict[str, Any]], **overrides: Any) -> Invoice:
    subtotal = str(sum((Decimal(item["total"]) for item in lines), Decimal(0)))
    fields = {"line_items": lines, "subtotal": subtotal, "total": "0.00", "applied_credits": [], **overrides}
    return InvoiceEvent.model_validate(invoice_event(**fields)).detail


def query(window: str = "HOUR", start: datetime = FEB, end: datetime = MAR, **filters: Any) -> BreakdownQuery:
    return BreakdownQuery(start, end, window, **filters)  # type: ignore[arg-type]


def test_hourly_windows_hold_each_bucket_and_sum_lines_per_window() -> None:
    entries = breakdowns_of(
        invoice([line("a", [bucket(0, "1.10"), bucket(1, "2.20")]), line("b", [bucket(1, "0.05", "5")])]),
        query("HOUR"),
    )
    assert [(e.breakdown_start_timestamp, e.breakdown_end_timestamp) for e in entries] == [
        (FEB, FEB + timedelta(hours=1)),
        (FEB + timedelta(hours=1), FEB + timedelta(hours=2)),
    ]
    assert [[(x.id, x.quantity, x.total) for x in e.line_items] for e in entries] == [
        [("a", Decimal(1), Decimal("1.10"))],
        [("a", Decimal(1), Decimal("2.20")), ("b", Decimal(5), Decimal("0.05"))],
    ]
    assert [e.subtotal for e in entries] == [Decimal("1.10"), Decimal("2.25")]


def test_daily_windows_are_utc_days_and_add_a_day_of_buckets() -> None:
    entries = breakdowns_of(invoice([line("a", [bucket(h, "1.00") for h in (0, 23, 24, 47, 48)])]), query("DAY"))
    assert [(e.breakdown_start_timestamp.day, e.subtotal) for e in entries] == [
        (1, Decimal("2.00")),
        (2, Decimal("2.00")),
        (3, Decimal("1.00")),
    ]
    assert all(e.breakdown_end_timestamp - e.breakdown_start_timestamp == timedelta(days=1) for e in entries)


def test_a_line_without_buckets_counts_in_the_window_of_the_invoice_start() -> None:
    flat = line("flat", [], total="99.00", quantity="1")
    entries = breakdowns_of(invoice([line("a", [bucket(5, "1.00")]), flat]), query("HOUR"))
    assert [(e.breakdown_start_timestamp, [x.id for x in e.line_items]) for e in entries] == [
        (FEB, ["flat"]),
        (FEB + timedelta(hours=5), ["a"]),
    ]
    # outside the range, it counts nowhere
    later = query("HOUR", start=FEB + timedelta(hours=1))
    assert [[x.id for x in e.line_items] for e in breakdowns_of(invoice([flat]), later)] == []


def test_only_usage_inside_the_range_counts() -> None:
    billed = invoice([line("a", [bucket(h, "1.00") for h in range(6)])])
    entries = breakdowns_of(billed, query("DAY", start=FEB + timedelta(hours=2), end=FEB + timedelta(hours=4)))
    assert [(e.breakdown_start_timestamp, e.subtotal) for e in entries] == [(FEB, Decimal("2.00"))]


def test_filters_on_status_and_currency() -> None:
    billed = invoice([line("a", [bucket(0, "1.00")])])
    assert breakdowns_of(billed, query(status="DRAFT")) == []
    assert breakdowns_of(billed, query(currency="EUR")) == []
    assert len(breakdowns_of(billed, query(status="FINALIZED", currency="USD"))) == 1


@pytest.mark.parametrize("end", [FEB, FEB - timedelta(seconds=1)])
def test_an_empty_or_inverted_range_names_ending_before(end: datetime) -> None:
    with pytest.raises(FieldError) as refused:
        query(end=end)
    assert refused.value.field == "ending_before"


totals = st.decimals(min_value=0, max_value=10**6, places=4, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.dictionaries(st.integers(0, 24 * 27), totals, min_size=1, max_size=30), min_size=1, max_size=4),
    st.integers(0, 24 * 27),
    st.integers(1, 24 * 28),
)
def test_hour_and_day_windows_add_up_to_the_buckets_in_range(
    lines: list[dict[int, Decimal]], start_hour: int, span: int
) -> None:
    billed = invoice([line(f"l{n}", [bucket(h, str(t)) for h, t in sorted(hours.items())]) for n, hours in
                      enumerate(lines)])  # fmt: skip
    start = FEB + timedelta(hours=start_hour)
    end = start + timedelta(hours=span)
    expected = sum((t for hours in lines for h, t in hours.items() if start_hour <= h < start_hour + span), Decimal(0))
    hourly = breakdowns_of(billed, query("HOUR", start, end))
    daily = breakdowns_of(billed, query("DAY", start, end))
    assert sum((e.subtotal for e in hourly), Decimal(0)) == expected
    assert sum((e.subtotal for e in daily), Decimal(0)) == expected
    assert [e.breakdown_start_timestamp for e in hourly] == sorted({e.breakdown_start_timestamp for e in hourly})
    assert all(e.line_items for e in hourly + daily)  # no entry without usage


# -- paging over the store ------------------------------------------------------------------------
@pytest.fixture
def deps() -> ApiDependencies:
    store = InMemoryStore()
    store.create_customer(customer("cust_acme"))
    for n in range(7):  # 7 invoices, each with usage in 3 hours
        start = FEB + timedelta(days=n)
        lines = [line("a", [bucket(24 * n + h, f"{n}.0{h}") for h in range(3)])]
        store.save_invoice(
            invoice(lines, id=f"inv_{n}", start_timestamp=stamp(start), end_timestamp=stamp(start + timedelta(days=1))),
            MAR,
        )
    counter = itertools.count()
    return ApiDependencies(
        store=store, clock=lambda: MAR, new_id=lambda p: f"{p}_{next(counter)}", api_token=lambda: "t"
    )


def walk(deps: ApiDependencies, limit: int, breakdown_query: BreakdownQuery) -> list[tuple[str, datetime]]:
    seen: list[tuple[str, datetime]] = []
    cursor = None
    while True:
        page = list_breakdowns(deps, "cust_acme", breakdown_query, PageRequest(limit, cursor))
        assert len(page.items) <= limit
        seen += [(e.invoice_id, e.breakdown_start_timestamp) for e in map(as_breakdown, page.items)]
        if page.next_page is None:
            return seen
        cursor = page.next_page


@pytest.mark.parametrize("limit", [1, 2, 5, 100])
def test_pages_walk_every_entry_once_in_invoice_then_window_order(deps: ApiDependencies, limit: int) -> None:
    seen = walk(deps, limit, query("HOUR"))
    expected = [(f"inv_{n}", FEB + timedelta(hours=24 * n + h)) for n in range(7) for h in range(3)]
    assert seen == expected


def test_the_range_stops_the_walk_and_clips_windows(deps: ApiDependencies) -> None:
    seen = walk(deps, 4, query("DAY", start=FEB + timedelta(days=2, hours=1), end=FEB + timedelta(days=4)))
    assert seen == [("inv_2", FEB + timedelta(days=2)), ("inv_3", FEB + timedelta(days=3))]


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor!",
        encode_cursor({"invoices": None}),
        encode_cursor({"invoices": None, "skip": -1}),
        encode_cursor({"invoices": None, "skip": True}),
        encode_cursor({"invoices": 7, "skip": 0}),
        encode_cursor([1, 2]),
    ],
)
def test_a_cursor_not_handed_out_is_refused(deps: ApiDependencies, cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        list_breakdowns(deps, "cust_acme", query(), PageRequest(10, cursor))


def test_an_unknown_customer_is_404(deps: ApiDependencies) -> None:
    with pytest.raises(NotFound):
        list_breakdowns(deps, "cust_nobody", query(), PageRequest())
