"""Walks over the table where some invoices had their windows written and some not (hypothesis):
any set of invoices, any limit, HOUR or DAY, ranges that leave invoices out, a currency filter,
every page in a warm function or in one that holds nothing — the walk loses and repeats nothing,
and answers the entries computed from the buckets."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import boto3
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws

from local.template import create_table
from shared.adapters.dynamodb import DynamoDBStore, invoice_lines
from shared.domain.breakdown_json import entry_json
from shared.domain.breakdowns import breakdowns_of
from shared.services.api_dependencies import ApiDependencies
from tests.builders import customer
from tests.unit.test_breakdowns import FEB, MAR, bucket, invoice, line, query, stamp
from tests.unit.test_breakdowns_walks import walk_entries

TABLE = "walks"
INLINE = invoice_lines.INLINE_LINES_MAX_BYTES


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 20), st.integers(1, 60), st.integers(0, 2), st.booleans(), st.sampled_from(["USD", "EUR"])
        ),
        min_size=1,
        max_size=12,
    ),
    st.integers(1, 40),
    st.sampled_from(["HOUR", "DAY"]),
    st.booleans(),
    st.integers(0, 10),
    st.sampled_from([None, "USD"]),
)
def test_walks_over_written_and_computed_invoices_lose_and_repeat_nothing(
    invoices: list[tuple[int, int, int, bool, str]],
    limit: int,
    window: str,
    forget: bool,
    first_day: int,
    currency: str | None,
) -> None:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, TABLE)
        store = DynamoDBStore(client, TABLE)
        store.create_customer(customer("cust_acme"))
        billed = []
        for number, (day, hours, flat, chunked, billed_in) in enumerate(invoices):
            start = FEB + timedelta(days=day)
            lines: list[dict[str, Any]] = [line("u", [bucket(24 * day + hour, "0.01") for hour in range(hours)])]
            lines += [line(f"f{index}", [], total="1.00", quantity="1") for index in range(flat)]
            billed.append(invoice(lines, id=f"inv_{number}", start_timestamp=stamp(start), currency=billed_in,
                                  end_timestamp=stamp(start + timedelta(days=4))))  # fmt: skip
            # Chunked invoices (their lines in chunk items) have their windows written.
            invoice_lines.INLINE_LINES_MAX_BYTES = 0 if chunked else INLINE
            try:
                store.save_invoice(billed[-1], MAR)
            finally:
                invoice_lines.INLINE_LINES_MAX_BYTES = INLINE
        counter = itertools.count()
        deps = ApiDependencies(store, lambda: MAR, lambda prefix: f"{prefix}_{next(counter)}", lambda: "t")
        # A range of whole days (aligned to both window sizes) that may leave invoices out, and a filter.
        start = FEB + timedelta(days=first_day)
        breakdown_query = query(window, start=start, end=MAR + timedelta(days=30), currency=currency)
        ordered = sorted(billed, key=lambda item: (item.start_timestamp, item.id))
        expected = [entry_json(entry) for item in ordered for entry in breakdowns_of(item, breakdown_query)]
        walked = walk_entries(deps, breakdown_query, limit, forget)
        assert [entry if isinstance(entry, str) else entry_json(entry) for entry in walked] == expected
