"""What the end-date guard, invoice product fields and recurring periods cost, measured in one run.

On an in-process moto table (no stack):

- the end-date guard: the latest FINALIZED USAGE invoice of a contract whose customer has 1,000
  invoices — items read and time of the guard's one-item Query, against a bare Query of the
  customer's invoice index (what reading the invoices would cost);
- `product_custom_fields` for a page of 25 invoices x 100 lines naming 50 products: BatchGetItem
  requests and time, against one GetItem per line;
- recurring periods: `recurring_periods` of a monthly item over 10 years (120 periods), per call.

python -m bench contract_reads
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from moto import mock_aws

from local.template import create_table
from shared.adapters.dynamodb import DynamoDBStore, to_attributes
from shared.adapters.dynamodb.keys import product_key
from shared.domain.audit import AuditEntry, Caller
from shared.domain.invoice import InvoiceEvent
from shared.domain.invoice_listing import InvoiceQuery
from shared.domain.paging import PageRequest
from shared.domain.products import Product
from shared.domain.recurring import RecurringCommit, recurring_periods
from tests.builders import contract, customer, invoice_event

TABLE = "downbeat-bench"
INVOICES = 1_000
PAGE_INVOICES, PAGE_LINES, PRODUCTS = 25, 100, 50
REPEATS = 20
NOW = datetime(2025, 3, 1, tzinfo=UTC)


def _best(call: Callable[[], Any], repeats: int = REPEATS) -> float:
    """The fastest of `repeats` runs: the least disturbed by the other work on this machine."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - started)
    return best


def _counting(client: Any, operation: str) -> list[dict[str, Any]]:
    """Every response of `operation` the client gets from now on (its items are counted from them)."""
    responses: list[dict[str, Any]] = []
    original = getattr(client, operation)

    def counted(**kwargs: Any) -> Any:
        response = original(**kwargs)
        responses.append(response)
        return response

    setattr(client, operation, counted)
    return responses


def _invoices(store: DynamoDBStore) -> None:
    start = datetime(2020, 1, 1, tzinfo=UTC)
    for n in range(INVOICES):
        begins = start + timedelta(days=n)
        lines = [
            {"id": f"l{k}", "name": "n", "product_id": f"prod_{(n + k) % PRODUCTS}", "quantity": "1", "total": "1.00"}
            for k in range(PAGE_LINES if n < PAGE_INVOICES else 1)
        ]
        event = invoice_event(
            id=f"inv_{n:04d}",
            contract_id="con_acme_2025",
            start_timestamp=begins.isoformat(),
            end_timestamp=(begins + timedelta(days=1 + n % 40)).isoformat(),
            line_items=lines,
            subtotal=f"{len(lines)}.00",
            total="0.00",
            applied_credits=[],
            version=1,
        )
        store.save_invoice(InvoiceEvent.model_validate(event).detail, NOW)


def _products(store: DynamoDBStore) -> None:
    caller = Caller("tok_bench", None, None)
    for n in range(PRODUCTS):
        product = Product(id=f"prod_{n}", name=f"P{n}", custom_fields={"sku": f"SKU-{n}"}, created_at=NOW)
        audit = AuditEntry.for_call(
            entry_id=f"audit_{n}",
            at=NOW,
            caller=caller,
            action="products.create",
            resource_type="product",
            resource_id=product.id,
            status_code=200,
        )
        store.create_product_audited(product, audit)


def main() -> None:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "bench")
    with mock_aws():
        client = boto3.client("dynamodb")
        create_table(client, TABLE)
        store = DynamoDBStore(client, TABLE)
        store.create_customer(customer("cust_acme"))
        store.create_contract(contract("con_acme_2025", "cust_acme"))
        print(f"storing {INVOICES} FINALIZED USAGE invoices of one contract and {PRODUCTS} products ...", flush=True)
        _invoices(store)
        _products(store)
        _guard(client, store)
        _product_fields(client, store)
    _recurring()


def _guard(client: Any, store: DynamoDBStore) -> None:
    queries = _counting(client, "query")
    found = store.latest_finalized_usage_invoice("cust_acme", "con_acme_2025")
    guard_items = sum(response["Count"] for response in queries)
    guard_time = _best(lambda: store.latest_finalized_usage_invoice("cust_acme", "con_acme_2025"))

    def bare_index_query() -> int:
        items, start = 0, None
        while True:
            kwargs: dict[str, Any] = {
                "TableName": TABLE,
                "IndexName": "GSI1",
                "KeyConditionExpression": "GSI1PK = :pk",
                "ExpressionAttributeValues": to_attributes({":pk": "CUSTOMER#cust_acme#INVOICES"}),
            }
            if start:
                kwargs["ExclusiveStartKey"] = start
            response = client.query(**kwargs)
            items += int(response["Count"])
            if not (start := response.get("LastEvaluatedKey")):
                return items

    index_items = bare_index_query()
    index_time = _best(bare_index_query, repeats=5)
    assert found is not None
    latest = f"{found.invoice_id}, ending {found.end_timestamp:%Y-%m-%d}"
    print(f"\nend-date guard, {INVOICES} invoices on the contract (the latest finalized: {latest}):")
    print(f"  guard Query                      {guard_items:>6} item(s)   {guard_time * 1000:8.2f} ms")
    print(f"  bare Query of the invoice index  {index_items:>6} items     {index_time * 1000:8.2f} ms")
    items, spent = guard_items / index_items, guard_time / index_time
    print(f"  ratio (guard / index)            {items:>8.4f}x items {spent:.4f}x time")


def _product_fields(client: Any, store: DynamoDBStore) -> None:
    page = store.list_invoices("cust_acme", InvoiceQuery(), PageRequest(PAGE_INVOICES, None))
    wanted = [line.product_id for listing in page.items for line in listing.invoice.line_items if line.product_id]
    batches = _counting(client, "batch_get_item")
    fields = store.get_products(wanted)
    batch_calls = len(batches)
    batch_time = _best(lambda: store.get_products(wanted))

    def one_get_per_line() -> None:
        for product_id in wanted:
            client.get_item(TableName=TABLE, Key=to_attributes(product_key(product_id)), ConsistentRead=True)

    per_line_time = _best(one_get_per_line, repeats=1)
    shape = f"{len(page.items)} invoices, {len(wanted)} lines, {len(fields)} products"
    print(f"\nproduct_custom_fields, a page of {shape}:")
    print(f"  BatchGetItem of the distinct ids  {batch_calls:>5} request(s)  {batch_time * 1000:8.2f} ms")
    print(f"  one GetItem per line              {len(wanted):>5} requests    {per_line_time * 1000:8.2f} ms")
    requests, spent = batch_calls / len(wanted), batch_time / per_line_time
    print(f"  ratio (batch / per line)          {requests:>8.4f}x requests {spent:.4f}x time")


def _recurring() -> None:
    item = RecurringCommit.model_validate(
        {
            "name": "Monthly allowance",
            "amount": "310.00",
            "currency": "USD",
            "type": "PREPAID",
            "recurrence_frequency": "MONTHLY",
            "starting_at": "2025-01-01T00:00:00Z",
            "ending_before": "2035-01-01T00:00:00Z",
        }
    )
    start = datetime(2025, 1, 1, tzinfo=UTC)
    periods = recurring_periods(start, None, item)
    per_call = _best(lambda: recurring_periods(start, None, item), repeats=200)
    print(f"\nrecurring periods, monthly over 10 years: {len(periods)} periods, {per_call * 1e6:.0f} µs per call")
