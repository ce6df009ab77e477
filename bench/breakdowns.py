"""Breakdowns of a customer with 24 months of hourly buckets: 24 monthly invoices, each with 3 lines
bucketed every hour (17,544 HOUR windows), every page of 100 read through the API handler
(`GET /v1/customers/{id}/invoices/breakdowns`, window_size HOUR over the 24 months), against a bare
read of the same items (the customer's invoice index and each invoice's items, Query pages only).

Prints the windows, the pages, the store reads the pages made, and the best of three timings of:
the breakdowns through the handler (every page an API request, as a client pages); the same walk
through the use case alone (no HTTP event, no JSON); the bare read (Query pages, items left as
DynamoDB returns them); the store's read of the same invoices with their buckets (decompressed and
validated: what any use of the items must do first); and the walk's own DynamoDB calls replayed
bare (the same calls with the same arguments, answers left unparsed: the floor that one request
per page of 100 sets, whatever is computed). The goal (the breakdowns at most 2 x the bare read)
is judged on the bare read; the ratios to the store's read and to the replayed calls are printed
beside it. Last, the walk once with every page in a function that holds nothing (no entries kept
from the page before: what a client whose pages land on different instances sees). DynamoDB is
moto, in-process, for every side (the table holds 24 invoices and their chunks: moto's per-call
walk of the table is short).

python -m bench breakdowns
"""

from __future__ import annotations

import contextlib
import itertools
import json
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from unittest import mock

import boto3
from moto import mock_aws

from bench.balances import CountingClient
from functions.api.handler import lambda_handler
from local.http_server import http_api_event
from local.lambda_context import LocalLambdaContext
from local.template import create_table
from shared.adapters.dynamodb import DynamoDBStore, invoice_lines
from shared.adapters.dynamodb.invoice_windows import EncodedWindows
from shared.domain.breakdowns import BreakdownQuery
from shared.domain.invoice import InvoiceEvent
from shared.domain.invoice_listing import InvoiceQuery
from shared.domain.paging import PageRequest
from shared.services.api_breakdowns import list_breakdowns
from shared.services.api_dependencies import ApiDependencies
from tests.builders import customer, invoice_event

TABLE = "bench-breakdowns"
TOKEN = "bench-token"
CUSTOMER = "cust_bench"
MONTHS = 24
LINES = 3
FIRST = datetime(2024, 1, 1, tzinfo=UTC)
RECEIVED = datetime(2026, 1, 1, tzinfo=UTC)


def _month(number: int) -> datetime:
    return FIRST.replace(year=FIRST.year + number // 12, month=number % 12 + 1)


def _invoice(number: int) -> dict[str, Any]:
    start, end = _month(number), _month(number + 1)
    hours = int((end - start).total_seconds() // 3600)
    lines: list[dict[str, Any]] = []
    for index in range(LINES):
        buckets: list[dict[str, str]] = []
        for hour in range(hours):
            at = start.timestamp() + hour * 3600
            quantity = Decimal((hour * 7 + index) % 1000) + Decimal("0.5")
            buckets.append({"starting_at": f"{datetime.fromtimestamp(at, UTC):%Y-%m-%dT%H:%M:%SZ}",
                            "ending_before": f"{datetime.fromtimestamp(at + 3600, UTC):%Y-%m-%dT%H:%M:%SZ}",
                            "quantity": str(quantity), "total": str(quantity * Decimal("0.001"))})  # fmt: skip
        quantity = sum((Decimal(b["quantity"]) for b in buckets), Decimal(0))
        lines.append({"id": f"li_{index}", "name": f"Product {index} usage", "product_id": f"prod_{index}",
                      "quantity": str(quantity), "unit_price": "0.001", "total": str(quantity * Decimal("0.001")),
                      "custom_fields": {}, "buckets": buckets})  # fmt: skip
    subtotal = sum((Decimal(line["total"]) for line in lines), Decimal(0))
    return invoice_event(
        id=f"inv_{number:02d}", customer_id=CUSTOMER, contract_id=None, line_items=lines, subtotal=str(subtotal),
        total=str(subtotal.quantize(Decimal("0.01"))), applied_credits=[], version=1,
        start_timestamp=f"{start:%Y-%m-%dT%H:%M:%SZ}", end_timestamp=f"{end:%Y-%m-%dT%H:%M:%SZ}",
        issued_at=f"{end:%Y-%m-%dT%H:%M:%SZ}",
    )  # fmt: skip


def _breakdowns(deps: ApiDependencies) -> tuple[int, int]:
    """Every page of HOUR windows over the 24 months through the handler: (windows, pages)."""
    windows, pages, cursor = 0, 0, None
    while True:
        query = f"starting_on={FIRST:%Y-%m-%d}&ending_before={_month(MONTHS):%Y-%m-%d}&window_size=HOUR&limit=100"
        if cursor:
            query += f"&next_page={cursor}"
        event = http_api_event(
            method="GET",
            target=f"/v1/customers/{CUSTOMER}/invoices/breakdowns?{query}",
            headers=[("authorization", f"Bearer {TOKEN}")],
            body=b"",
            source_ip="192.0.2.1",
        )
        reply = lambda_handler(event, LocalLambdaContext("ApiFunction"), deps=deps)
        assert reply["statusCode"] == 200, reply["body"][:500]
        body = json.loads(reply["body"])
        windows += len(body["data"])
        pages += 1
        if (cursor := body["next_page"]) is None:
            return windows, pages


def _use_case_walk(deps: ApiDependencies) -> int:
    """The same walk through the use case, pages of 100, without the HTTP handler."""
    query = BreakdownQuery(FIRST, _month(MONTHS), "HOUR")
    windows, cursor = 0, None
    while True:
        page = list_breakdowns(deps, CUSTOMER, query, PageRequest(100, cursor))
        windows += len(page.items)
        if (cursor := page.next_page) is None:
            return windows


def _cold_walk(fresh: Any) -> int:
    """The same walk through the use case with every page in a function that holds nothing (a new
    store each page): each page lists up to its invoice and reads that invoice's buckets again."""
    query = BreakdownQuery(FIRST, _month(MONTHS), "HOUR")
    windows, cursor = 0, None
    while True:
        page = list_breakdowns(fresh(), CUSTOMER, query, PageRequest(100, cursor))
        windows += len(page.items)
        if (cursor := page.next_page) is None:
            return windows


def _store_read(store: DynamoDBStore) -> int:
    """The customer's invoices read whole through the store, buckets decompressed and validated."""
    buckets, cursor = 0, None
    while True:
        page = store.list_invoices(CUSTOMER, InvoiceQuery(), PageRequest(100, cursor))
        for listing in page.items:
            invoice = store.get_invoice(listing.invoice.id, buckets=True)
            assert invoice is not None
            buckets += sum(len(line.buckets) for line in invoice.line_items)
        if (cursor := page.next_page) is None:
            return buckets


def _bare_read(client: Any) -> int:
    """The same items, Query pages only: the customer's invoice index, then each invoice's partition."""
    listing = _pages(client, IndexName="GSI1", KeyConditionExpression="GSI1PK = :pk",
                     ExpressionAttributeValues={":pk": {"S": f"CUSTOMER#{CUSTOMER}#INVOICES"}})  # fmt: skip
    count = len(listing)
    for head in listing:
        count += len(_pages(client, KeyConditionExpression="PK = :pk", ExpressionAttributeValues={":pk": head["PK"]}))
    return count


def _bare_read_of_what_the_walk_reads(client: Any) -> int:
    """Only the items the walk reads, Query pages only: the invoice index, then each invoice's HOUR
    windows (the chunks its head names)."""
    listing = _pages(client, IndexName="GSI1", KeyConditionExpression="GSI1PK = :pk",
                     ExpressionAttributeValues={":pk": {"S": f"CUSTOMER#{CUSTOMER}#INVOICES"}})  # fmt: skip
    count = len(listing)
    for head in listing:
        prefix = {"S": f"WINDOWS#{head['lines_key']['S']}#H#"}
        count += len(_pages(client, KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
                            ExpressionAttributeValues={":pk": head["PK"], ":prefix": prefix}))  # fmt: skip
    return count


def _bare_read_without_windows(client: Any) -> int:
    """The invoices' items as they were before their windows were written: the index, then each
    partition's head and line chunks (the keys before `WINDOWS#`)."""
    listing = _pages(client, IndexName="GSI1", KeyConditionExpression="GSI1PK = :pk",
                     ExpressionAttributeValues={":pk": {"S": f"CUSTOMER#{CUSTOMER}#INVOICES"}})  # fmt: skip
    count = len(listing)
    for head in listing:
        count += len(_pages(client, KeyConditionExpression="PK = :pk AND SK < :windows",
                            ExpressionAttributeValues={":pk": head["PK"], ":windows": {"S": "WINDOWS#"}}))  # fmt: skip
    return count


def _pages(client: Any, **kwargs: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while True:
        response = client.query(TableName=TABLE, **kwargs)
        found += response["Items"]
        if "LastEvaluatedKey" not in response:
            return found
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def _replay(client: Any, calls: list[tuple[str, dict[str, Any]]]) -> int:
    """The recorded calls again, bare: their answers are not parsed."""
    for name, kwargs in calls:
        getattr(client, name)(**kwargs)
    return len(calls)


def _best(runs: int, call: Any) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(runs):
        started = time.perf_counter()
        result = call()
        best = min(best, time.perf_counter() - started)
    return best, result


def _windows_items(client: Any, invoice_id: str) -> list[dict[str, Any]]:
    values = {":pk": {"S": f"INVOICE#{invoice_id}"}, ":windows": {"S": "WINDOWS#"}}
    condition = "PK = :pk AND begins_with(SK, :windows)"
    return _pages(client, KeyConditionExpression=condition, ExpressionAttributeValues=values)


def _writes(without_windows: bool) -> tuple[float, int, int]:
    """The 24 invoices saved into an empty table: (seconds, windows chunk items, their bytes)."""
    with mock_aws(), contextlib.ExitStack() as patches:
        if without_windows:
            unwritten = EncodedWindows({}, {})
            patches.enter_context(mock.patch.object(invoice_lines, "encode_windows", return_value=unwritten))
        raw = boto3.client("dynamodb", region_name="us-east-1")
        create_table(raw, TABLE)
        store = DynamoDBStore(raw, TABLE)
        store.create_customer(customer(CUSTOMER))
        invoices = [InvoiceEvent.model_validate(_invoice(number)).detail for number in range(MONTHS)]
        started = time.perf_counter()
        for invoice in invoices:
            store.save_invoice(invoice, RECEIVED)
        elapsed = time.perf_counter() - started
        chunks = [item for number in range(MONTHS) for item in _windows_items(raw, f"inv_{number:02d}")]
        return elapsed, len(chunks), sum(len(item["data"]["B"]) for item in chunks)


def main() -> None:
    with mock_aws():
        raw = boto3.client("dynamodb", region_name="us-east-1")
        create_table(raw, TABLE)
        store = DynamoDBStore(raw, TABLE)
        store.create_customer(customer(CUSTOMER))
        for number in range(MONTHS):
            store.save_invoice(InvoiceEvent.model_validate(_invoice(number)).detail, RECEIVED)
        counting = CountingClient(raw)
        ids = itertools.count()

        def fresh(client: Any = raw) -> ApiDependencies:
            """A new store on the table: no entries kept from an earlier walk (each timed walk starts
            cold, as a client's first page would)."""
            return ApiDependencies(
                DynamoDBStore(client, TABLE), lambda: RECEIVED, lambda prefix: f"{prefix}_{next(ids)}", lambda: TOKEN
            )

        _breakdowns(fresh())  # warm: imports, model schemas
        windows, pages = _breakdowns(fresh(counting))
        reads = dict(counting.calls)
        breakdown_time, _ = _best(3, lambda: _breakdowns(fresh()))
        use_case_time, _ = _best(3, lambda: _use_case_walk(fresh()))
        bare_counter = CountingClient(raw)
        bare_time, found = _best(3, lambda: _bare_read(bare_counter))
        bare_queries = bare_counter.calls["query"] // 3
        walk_items_time, walk_items = _best(3, lambda: _bare_read_of_what_the_walk_reads(raw))
        before_time, before_items = _best(3, lambda: _bare_read_without_windows(raw))
        store_time, buckets = _best(3, lambda: _store_read(DynamoDBStore(raw, TABLE)))
        replay_time, replayed = _best(3, lambda: _replay(raw, counting.recorded))
        cold_time, _ = _best(1, lambda: _cold_walk(fresh))
    with_windows, without = min(_writes(False) for _ in range(2)), min(_writes(True) for _ in range(2))
    print(f"{MONTHS} monthly invoices x {LINES} lines with hourly buckets: {windows:,} HOUR windows in {pages} pages")
    print(f"  store reads, all pages: {reads}")
    print(f"  bare read of the same {found:,} items (the invoices' partitions, their windows included): "
          f"{bare_queries} Query pages")  # fmt: skip
    print(f"  time (best of 3): breakdowns through the handler {breakdown_time:.2f} s, through the use case "
          f"{use_case_time:.2f} s; bare read {bare_time:.2f} s; the store's read of the invoices "
          f"({buckets:,} buckets) {store_time:.2f} s; the walk's {replayed} calls replayed bare "
          f"{replay_time:.2f} s")  # fmt: skip
    ratio = breakdown_time / bare_time
    print(f"  ratio breakdowns / bare read: {ratio:.2f}x (goal <= 2x: {'met' if ratio <= 2 else 'NOT met'}); "
          f"breakdowns / the store's read: {breakdown_time / store_time:.2f}x; "
          f"use case / the store's read: {use_case_time / store_time:.2f}x")  # fmt: skip
    print(f"  against narrower bare reads: only the {walk_items} items the walk reads (index and HOUR windows) "
          f"{walk_items_time:.2f} s, breakdowns {breakdown_time / walk_items_time:.2f}x; the {before_items} items "
          f"without the windows (as stored before them) {before_time:.2f} s, breakdowns "
          f"{breakdown_time / before_time:.2f}x")  # fmt: skip
    print(f"  the floor of one request per page: the walk's calls replayed bare / bare read "
          f"{replay_time / bare_time:.2f}x; breakdowns / those calls {breakdown_time / replay_time:.2f}x")  # fmt: skip
    print(f"  every page in a function that holds nothing (use case, one run): {cold_time:.2f} s, "
          f"{cold_time / bare_time:.2f}x the bare read")  # fmt: skip
    per_invoice = with_windows[2] / MONTHS / 1024
    print(f"  writing the windows: {with_windows[1] / MONTHS:.0f} chunk item(s), {per_invoice:.0f} KiB per invoice;"
          f" saving the {MONTHS} invoices {with_windows[0]:.2f} s against {without[0]:.2f} s without them"
          f" ({with_windows[0] / without[0]:.2f}x, best of 2)")  # fmt: skip


if __name__ == "__main__":
    main()
