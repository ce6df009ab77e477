"""Breakdowns of whole invoices and walks over many: 72 hourly buckets are 72 HOUR windows and 3
DAY windows whose sums are the lines', and paging through any set of invoices with any limit
loses and repeats nothing (hypothesis), whether pages resume in entries kept in memory or not."""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.breakdown_json import as_breakdown
from shared.domain.breakdowns import Breakdown, BreakdownEntry, BreakdownQuery, breakdowns_of
from shared.domain.paging import PageRequest
from shared.services import api_breakdowns, breakdown_positions
from shared.services.api_dependencies import ApiDependencies
from tests.builders import customer
from tests.fakes.memory_store import InMemoryStore
from tests.unit.test_breakdowns import FEB, MAR, bucket, invoice, line, query, stamp


def test_72_hourly_buckets_are_72_hour_windows_and_3_days_adding_up_to_the_lines() -> None:
    lines = [line(name, [bucket(hour, f"0.{hour + index:02d}5", str(hour + 1)) for hour in range(72)])
             for index, name in enumerate(("a", "b"))]  # fmt: skip
    billed = invoice(lines)
    hourly, daily = breakdowns_of(billed, query("HOUR")), breakdowns_of(billed, query("DAY"))
    assert len(hourly) == 72
    assert len(daily) == 3
    assert [e.breakdown_start_timestamp for e in daily] == [FEB + timedelta(days=day) for day in range(3)]
    for entries in (hourly, daily):
        for item in billed.line_items:
            sums = [x for e in entries for x in e.line_items if x.id == item.id]
            assert sum((x.total for x in sums), Decimal(0)) == item.total
            assert sum((x.quantity for x in sums), Decimal(0)) == item.quantity
        assert sum((e.subtotal for e in entries), Decimal(0)) == billed.subtotal


def walk_entries(
    deps: ApiDependencies, breakdown_query: BreakdownQuery, limit: int, forget: bool
) -> list[BreakdownEntry]:
    """Every page of the walk, as the use case answers them (each page in a fresh function with `forget`)."""
    seen: list[BreakdownEntry] = []
    cursor = None
    while True:
        if forget:  # as if every page ran in a function that holds nothing
            breakdown_positions.recent(deps.store).forget()
        page = api_breakdowns.list_breakdowns(deps, "cust_acme", breakdown_query, PageRequest(limit, cursor))
        assert len(page.items) <= limit
        seen += page.items
        if (cursor := page.next_page) is None:
            return seen


def _walk(deps: ApiDependencies, breakdown_query: BreakdownQuery, limit: int, forget: bool) -> list[Breakdown]:
    return [as_breakdown(entry) for entry in walk_entries(deps, breakdown_query, limit, forget)]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 20), st.integers(1, 60), st.integers(0, 3)), min_size=1, max_size=6),
    st.integers(1, 40),
    st.sampled_from(["HOUR", "DAY"]),
    st.booleans(),
)
def test_paging_loses_and_repeats_nothing(
    invoices: list[tuple[int, int, int]], limit: int, window: str, forget: bool
) -> None:
    store = InMemoryStore()
    store.create_customer(customer("cust_acme"))
    billed = []
    for number, (day, hours, flat) in enumerate(invoices):  # start day, hours of usage, flat-fee lines
        start = FEB + timedelta(days=day)
        lines = [line("u", [bucket(24 * day + hour, "0.01") for hour in range(hours)])]
        lines += [line(f"f{index}", [], total="1.00", quantity="1") for index in range(flat)]
        billed.append(invoice(lines, id=f"inv_{number}", start_timestamp=stamp(start),
                              end_timestamp=stamp(start + timedelta(days=4))))  # fmt: skip
        store.save_invoice(billed[-1], MAR)
    counter = itertools.count()
    deps = ApiDependencies(store, lambda: MAR, lambda prefix: f"{prefix}_{next(counter)}", lambda: "t")
    breakdown_query = query(window, end=MAR + timedelta(days=30))
    ordered = sorted(billed, key=lambda item: (item.start_timestamp, item.id))
    expected = [entry for item in ordered for entry in breakdowns_of(item, breakdown_query)]
    assert _walk(deps, breakdown_query, limit, forget) == expected
