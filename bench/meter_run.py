"""One marketplace meter run over customers with waiting invoices.

Prints, from one run each:
- records per provider call and the packing (records per call / the 25 allowed), calls per customer;
- the meter run's wall time vs. the time merely to page through the same outbox entries (the
  run's own first read), as a ratio (goal: at most 2x);
- on DynamoDB (moto, in process): DynamoDB requests per customer, by operation (botocore's event
  hooks count them), and the run's time without moto's TransactWriteItems (see below).

10,000 customers run on the in-memory store (METER_BENCH_CUSTOMERS). On moto the run is smaller
(METER_BENCH_MOTO_CUSTOMERS, default 150): moto's TransactWriteItems deep-copies the whole table
for each item of a transaction, so its time grows with the table and says nothing of DynamoDB's;
the request counts per customer are what carries over.
The customers buy 3 products, half of them licence-based (a call per product and identifier
style), one invoice each.

python -m bench meter_run
"""

from __future__ import annotations

import os
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import boto3
from moto import mock_aws

from local.template import create_table
from shared.adapters.dynamodb import DynamoDBStore
from shared.adapters.dynamodb.keys import customer_item, id_part, outbox_key
from shared.adapters.dynamodb.table import to_attributes
from shared.domain.customers import Customer
from shared.ports.store import MeterOutboxEntry
from shared.services.marketplace_meter import MeterDependencies, MeterRunReport, run_meter
from tests.builders import configuration, customer
from tests.fakes.marketplace_metering import FakeMarketplace
from tests.fakes.memory_store import InMemoryStore

TABLE = "downbeat-bench"
NOW = datetime(2025, 3, 10, 12, 5, tzinfo=UTC)
PRODUCTS = ("prod-a", "prod-b", "prod-c")
GOAL_RATIO = 2.0


def _customers(customers: int) -> list[tuple[Customer, MeterOutboxEntry]]:
    made = []
    for number in range(customers):
        customer_id = f"cust_{number:05d}"
        raw: dict[str, Any] = {"aws_product_code": PRODUCTS[number % 3], "aws_region": "us-east-1"}
        if number % 2:
            raw.update(aws_customer_account_id=f"{100000000000 + number}", aws_license_arn=f"arn:aws:lm::1:l-{number}")
        else:
            raw["aws_customer_id"] = f"c-{number}"
        config = {"billing_provider": "aws_marketplace", "configuration": raw}
        entry = MeterOutboxEntry(
            f"inv_{number:05d}", "aws_marketplace", customer_id, "USD", 1, "FINALIZED", Decimal("12.34")
        )
        made.append((customer(customer_id, configuration(config, default=True)), entry))
    return made


def _seed(client: Any, customers: int) -> None:
    """Customers and outbox entries as the API and the router write them, 25 to a BatchWriteItem."""
    items: list[dict[str, Any]] = []
    for made, entry in _customers(customers):
        items.append(customer_item(made))
        items.append(
            {
                **outbox_key(entry.invoice_id, "aws_marketplace"),
                "entity": "meter_outbox",
                "GSI1PK": "OUTBOX#aws_marketplace",
                "GSI1SK": f"{id_part(entry.customer_id)}#{id_part(entry.invoice_id)}",
                "customer_id": entry.customer_id,
                "currency": "USD",
                "invoice_version": 1,
                "invoice_status": "FINALIZED",
                "target_amount": entry.target_amount,
                "metered_cents": 0,
                "allocations": {},
            }
        )
    for start in range(0, len(items), 25):
        chunk = [{"PutRequest": {"Item": to_attributes(item)}} for item in items[start : start + 25]]
        client.batch_write_item(RequestItems={TABLE: chunk})


def _read_all(store: Any) -> int:
    cursor, read = None, 0
    while True:
        page = store.meter_work("aws_marketplace", cursor, 100)
        read += sum(len(invoices) for _, invoices in page.customers)
        if page.next_cursor is None:
            return read
        cursor = page.next_cursor


def _measure(
    store: Any, customers: int, run_starts: Callable[[], None] = lambda: None
) -> tuple[float, float, MeterRunReport, FakeMarketplace]:
    started = time.perf_counter()
    read = _read_all(store)
    read_seconds = time.perf_counter() - started
    assert read == customers, (read, customers)
    run_starts()
    market = FakeMarketplace("aws_marketplace", lambda: NOW)
    deps = MeterDependencies(store=store, meters={"aws_marketplace": market}, clock=lambda: NOW)
    started = time.perf_counter()
    report = run_meter(deps, lambda: 900_000)
    return read_seconds, time.perf_counter() - started, report, market


def _print_run(label: str, customers: int, read_seconds: float, run_seconds: float, report: MeterRunReport,
               market: FakeMarketplace) -> None:  # fmt: skip
    records = sum(len(call) for call in market.calls)
    calls = len(market.calls)
    ratio = run_seconds / read_seconds
    print(f"{label}: {customers} customers, accepted {report.accepted} records ({report.accepted_cents} cents)")
    print(
        f"  provider calls {calls}: {records / calls:.2f} records per call, packing"
        f" {100 * records / (25 * calls):.1f}%, {calls / customers:.3f} calls per customer"
    )
    print(
        f"  meter run {run_seconds:.2f} s vs reading the outbox {read_seconds:.3f} s: ratio {ratio:.1f}x"
        f" (goal <= {GOAL_RATIO:.0f}x: {'met' if ratio <= GOAL_RATIO else 'NOT met'})"
    )


def main() -> None:
    customers = int(os.environ.get("METER_BENCH_CUSTOMERS", "10000"))
    on_moto = int(os.environ.get("METER_BENCH_MOTO_CUSTOMERS", "150"))
    print(f"{len(PRODUCTS)} products, half the customers licence-based, one invoice each")

    memory = InMemoryStore()
    for item_customer, entry in _customers(customers):
        memory.create_customer(item_customer)
        memory.upsert_meter_outbox(entry)
    _print_run("in-memory store", customers, *_measure(memory, customers))

    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, TABLE)
        _seed(client, on_moto)
        requests: Counter[str] = Counter()
        seconds: defaultdict[str, float] = defaultdict(float)
        started: dict[str, float] = {}

        def before(model: Any, **_: Any) -> None:
            requests.update([model.name])
            started[model.name] = time.perf_counter()

        def after(model: Any, **_: Any) -> None:
            seconds[model.name] += time.perf_counter() - started.pop(model.name)

        def run_starts() -> None:
            requests.clear()
            seconds.clear()

        store = DynamoDBStore(client, TABLE)
        client.meta.events.register("before-call.dynamodb", before)
        client.meta.events.register("after-call.dynamodb", after)
        read_seconds, run_seconds, report, market = _measure(store, on_moto, run_starts)
    _print_run("DynamoDB (moto, in process)", on_moto, read_seconds, run_seconds, report, market)
    per_customer = ", ".join(f"{name} {count / on_moto:.2f}" for name, count in sorted(requests.items()))
    print(f"  DynamoDB requests per customer in the run: {sum(requests.values()) / on_moto:.2f} ({per_customer})")
    transactions = seconds.get("TransactWriteItems", 0.0)
    rest = run_seconds - transactions
    print(
        f"  of the run, moto's TransactWriteItems took {transactions:.2f} s (it copies the whole table for each item);"
        f" the rest {rest:.2f} s: ratio {rest / read_seconds:.1f}x"
    )


if __name__ == "__main__":
    main()
