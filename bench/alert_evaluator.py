"""Alert evaluation of 1,000 / 10,000 / 100,000 contracts against a bare read of the same items.

Each customer has 10 contracts (half `tier: gold`), 2 commits and a current-period USAGE invoice per
contract; two alerts apply to everyone: a low-balance alert and a spend alert on gold contracts.

- **First run** (every state written: the customers' first `ok`s and the transitions that fire), on
  an in-memory store laid out per customer partition as the table is (`_Partitions`: one call = one
  Query / BatchGetItem / write of the DynamoDB adapter). The tests' in-memory fake scans every item
  per call, so it would measure itself.
- **Steady run** (nothing changed: reads only, no write), in memory, then for 1,000 and 10,000
  contracts (100,000 would take a quarter of an hour here) through the DynamoDB adapter and boto3, the
  table served under botocore's `before-send` hook (`_WireTable`, as bench `balances` does): every
  request serialized and every response parsed as against AWS, the server answering at once. moto
  cannot hold 100,000 contracts in reasonable time. Compared with a **bare read**: the same Queries
  (alerts, customer pages, and per customer its alert states, contracts, commits and current-period
  spend markers) with the raw client, items not mapped. Real DynamoDB adds its latency to both.

Printed: store calls per contract (goal O(1)), steady run / bare read (goal <= 2x), the peak memory a
run allocates (tracemalloc, beyond the stored data; goal <= 256 MB).

python -m bench alert_evaluator
"""

from __future__ import annotations

import bisect
import json
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar, cast

import boto3
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders

from bench.balances import PAGE_BYTES, CountingClient, _Raw
from shared.adapters.dynamodb import DynamoDBStore
from shared.adapters.dynamodb.alerts import _state_item, alert_item, spend_item
from shared.adapters.dynamodb.commit_items import commit_item
from shared.adapters.dynamodb.keys import contract_item, customer_item
from shared.adapters.dynamodb.table import to_attributes
from shared.domain.alert_transitions import AlertState
from shared.domain.alerts import LOW_BALANCE, SPEND, Alert, CustomFieldFilter, SpendInvoice
from shared.domain.commits import Commit, CommitQuery, Segment
from shared.domain.customers import Contract, Customer
from shared.domain.ledger import CommitLedger
from shared.domain.paging import Page, PageRequest, decode_cursor, encode_cursor
from shared.domain.timestamps import sortable_timestamp
from shared.services.alert_evaluation import AlertEvaluatorDependencies
from shared.services.alert_evaluator import run_scheduled
from tests.fakes.memory_store import RecordingQueue

NOW = datetime(2025, 3, 15, tzinfo=UTC)
JAN = datetime(2025, 1, 1, tzinfo=UTC)
CONTRACTS_PER_CUSTOMER = 10
# Contracts, and the rounds of the DynamoDB-adapter comparison (100,000 would take a quarter of an
# hour through boto3 here: in memory only, where the calls are counted all the same).
SIZES = ((1_000, 3), (10_000, 2), (100_000, 0))
TABLE = "bench-alerts"
T = TypeVar("T")


def _page(name: str, items: list[T], page: PageRequest) -> Page[T]:
    start = 0 if page.cursor is None else int(decode_cursor(page.cursor)[name])
    chunk = items[start : start + page.limit]
    more = start + page.limit < len(items)
    return Page(chunk, encode_cursor({name: start + page.limit}) if more else None)


class _Partitions:
    """The evaluator's store, one dictionary per customer partition; `calls` counts the table calls."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.alerts: list[Alert] = []
        self.customers: list[Customer] = []
        self.contracts: dict[str, list[Contract]] = {}
        self.ledgers: dict[str, list[CommitLedger]] = {}
        self.spend: dict[str, list[SpendInvoice]] = {}
        self.states: dict[str, dict[tuple[str, str | None], AlertState]] = {}

    def list_alerts(self, page: PageRequest, applying_to: str | None = None) -> Page[Alert]:
        self.calls["query"] += 1
        return _page("alerts", self.alerts, page)

    def list_customers(self, page: PageRequest) -> Page[Customer]:
        self.calls["query"] += 1
        return _page("customers", self.customers, page)

    def list_contracts(self, customer_id: str, page: PageRequest) -> Page[Contract]:
        self.calls["query"] += 1
        return _page("contracts", self.contracts.get(customer_id, []), page)

    def list_commit_ledgers(self, customer_id: str, query: CommitQuery, page: PageRequest) -> Page[CommitLedger]:
        self.calls["query"] += 1
        return _page("commits", self.ledgers.get(customer_id, []), page)

    def invoice_statuses(self, invoice_ids: Collection[str]) -> dict[str, str]:
        self.calls["batch_get_item"] += 1
        return {}

    def spend_invoices(self, customer_id: str, now: datetime) -> list[SpendInvoice]:
        self.calls["query"] += 1
        return [invoice for invoice in self.spend.get(customer_id, []) if invoice.end_timestamp > now]

    def alert_states(self, customer_id: str) -> list[AlertState]:
        self.calls["query"] += 1
        return list(self.states.get(customer_id, {}).values())

    def write_alert_state(self, state: AlertState, expected_version: int) -> bool:
        self.calls["put_item"] += 1
        states = self.states.setdefault(state.customer_id, {})
        current = states.get((state.alert_id, state.contract_id))
        if (0 if current is None else current.version) != expected_version:
            return False
        states[(state.alert_id, state.contract_id)] = state
        return True

    def claim_pending(self, state: AlertState, at: datetime) -> bool:
        self.calls["update_item"] += 1
        return True

    def clear_pending(self, state: AlertState) -> None:
        self.calls["update_item"] += 1
        states = self.states[state.customer_id]
        states[(state.alert_id, state.contract_id)] = replace(state, pending=None, pending_since=None)

    # Not evaluator calls: the port's API side, unused here.
    def create_alert_audited(self, alert: Alert, audit: Any) -> None: ...
    def get_alert(self, alert_id: str) -> Alert | None: ...
    def archive_alert_audited(self, alert_id: str, at: datetime, audit: Any) -> Alert | None: ...


def _seeded(contracts: int) -> _Partitions:
    store = _Partitions()
    store.alerts = [
        Alert(
            id="alert_low", alert_type=LOW_BALANCE, name="low", threshold=Decimal(100), currency="USD", created_at=JAN
        ),
        Alert(
            id="alert_gold",
            alert_type=SPEND,
            name="gold spend",
            threshold=Decimal(900),
            currency="USD",
            custom_field_filters=[CustomFieldFilter(entity="Contract", key="tier", value="gold")],
            created_at=JAN,
        ),
    ]
    period = (datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 4, 1, tzinfo=UTC))
    for number in range(contracts // CONTRACTS_PER_CUSTOMER):
        customer_id = f"cust_{number:06d}"
        store.customers.append(Customer(id=customer_id, name=customer_id, created_at=JAN))
        owned = [
            Contract(
                id=f"con_{number:06d}_{index}",
                customer_id=customer_id,
                name="c",
                starting_at=JAN,
                custom_fields={"tier": "gold" if index % 2 else "silver"},
                created_at=JAN,
            )
            for index in range(CONTRACTS_PER_CUSTOMER)
        ]
        store.contracts[customer_id] = owned
        store.ledgers[customer_id] = [
            CommitLedger(
                Commit(
                    id=f"commit_{number:06d}_{index}",
                    kind="commit",
                    customer_id=customer_id,
                    contract_id=owned[index].id,
                    type="PREPAID",
                    name="c",
                    currency="USD",
                    segments=[
                        Segment(
                            id=f"seg_{index}",
                            amount=Decimal(40 + number % 100),
                            starting_at=JAN,
                            ending_before=period[1],
                        )
                    ],
                    created_at=JAN,
                )
            )
            for index in range(2)
        ]
        store.spend[customer_id] = [
            SpendInvoice(f"inv_{contract.id}", contract.id, "USD", *period, period[0], Decimal((number * 7 + i) % 1000))
            for i, contract in enumerate(owned)
        ]
    return store


class _WireTable:
    """The table's items in key order (the table and GSI1), answering Query (partition =, SK BETWEEN,
    ExclusiveStartKey, Limit, 1 MB pages) in DynamoDB's wire format; any write is refused (a steady
    run writes nothing)."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        base = sorted(((item["PK"], item["SK"]), json.dumps(to_attributes(item))) for item in items)
        index = sorted(
            ((item["GSI1PK"], item["GSI1SK"], item["PK"], item["SK"]), json.dumps(to_attributes(item)))
            for item in items
            if "GSI1PK" in item
        )
        self._indexes: dict[str | None, tuple[list[tuple[str, ...]], list[str]]] = {
            None: ([key for key, _ in base], [text for _, text in base]),
            "GSI1": ([key for key, _ in index], [text for _, text in index]),
        }

    def answer(self, request: Any, **_: Any) -> AWSResponse:
        operation = request.headers["X-Amz-Target"].decode().split(".")[-1]
        if operation != "Query":
            raise NotImplementedError(f"a steady run made a {operation}")
        headers = HTTPHeaders()
        headers["Content-Type"] = "application/x-amz-json-1.0"
        return AWSResponse(request.url, 200, headers, _Raw(self._query(json.loads(request.body)).encode()))

    def _query(self, body: dict[str, Any]) -> str:
        index = body.get("IndexName")
        names = ("GSI1PK", "GSI1SK", "PK", "SK") if index else ("PK", "SK")
        keys, wire = self._indexes[index]
        values = body["ExpressionAttributeValues"]
        partition = values[":pk"]["S"]
        low, high = (values[":low"]["S"], values[":high"]["S"]) if ":low" in values else ("", "\uffff")
        start = body.get("ExclusiveStartKey")
        if start is not None:
            position = bisect.bisect_right(keys, tuple(start[name]["S"] for name in names))
        else:
            position = bisect.bisect_left(keys, (partition, low))
        page: list[str] = []
        size, last, limit = 0, None, body.get("Limit")
        while position < len(keys) and keys[position][0] == partition and keys[position][1] <= high:
            size += len(wire[position])
            if size > PAGE_BYTES or len(page) == limit:
                last = keys[position - 1]
                break
            page.append(wire[position])
            position += 1
        reply: dict[str, Any] = {"Count": len(page), "ScannedCount": len(page), "Items": "@ITEMS@"}
        if last is not None:
            reply["LastEvaluatedKey"] = {name: {"S": value} for name, value in zip(names, last, strict=True)}
        return json.dumps(reply).replace('"@ITEMS@"', "[" + ", ".join(page) + "]")


def _items(store: _Partitions) -> list[dict[str, Any]]:
    """The partitions as the table's items (states as the first run left them)."""
    items = [alert_item(alert) for alert in store.alerts]
    for found in store.customers:
        items.append(customer_item(found))
        items += [contract_item(contract) for contract in store.contracts[found.id]]
        items += [commit_item(ledger.commit) for ledger in store.ledgers[found.id]]
        items += [spend_item(found.id, invoice) for invoice in store.spend[found.id]]
        items += [_state_item(state) for state in store.states.get(found.id, {}).values()]
    return items


def _bare_read(client: Any, table: str) -> int:
    """The Queries a steady run makes, with the raw client: items counted, not mapped."""

    def query(partition: str, low: str | None, high: str | None, index: str | None = None) -> list[Any]:
        name = "GSI1PK" if index else "PK"
        condition = f"{name} = :pk" + (
            "" if low is None else f" AND {'GSI1SK' if index else 'SK'} BETWEEN :low AND :high"
        )
        values = {":pk": partition} if low is None else {":pk": partition, ":low": low, ":high": high}
        kwargs: dict[str, Any] = {
            "TableName": table,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": to_attributes(values),
        }
        if index:
            kwargs["IndexName"] = index
        found: list[Any] = []
        while True:
            response = client.query(**kwargs)
            found += response["Items"]
            if "LastEvaluatedKey" not in response:
                return found
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    items = len(query("ALERTS", None, None, "GSI1"))
    customers = query("CUSTOMERS", None, None, "GSI1")
    for raw in customers:
        partition = raw["PK"]["S"]
        items += len(query(partition, "ALERTSTATE#", "ALERTSTATE$"))
        items += len(query(partition, "CONTRACT#", "CONTRACT$"))
        items += len(query(partition, "COMMIT#", "COMMIT$"))
        items += len(query(partition, f"SPEND#{sortable_timestamp(NOW)}#~", "SPEND$"))
    return items + len(customers)


def _peak(action: Callable[[], object]) -> int:
    """What `action` allocates at most (tracemalloc: beyond what was allocated before it)."""
    tracemalloc.start()
    action()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def _best(action: Callable[[], T], rounds: int = 3) -> tuple[T, float]:
    best, result = float("inf"), None
    for _ in range(rounds):
        began = time.perf_counter()
        result = action()
        best = min(best, time.perf_counter() - began)
    return result, best  # type: ignore[return-value]


def _forever() -> int:
    return 10**9  # one invocation with time enough: the whole pass is timed


def _measure(contracts: int, wire_rounds: int) -> None:
    store = _seeded(contracts)
    memory = AlertEvaluatorDependencies(cast(Any, store), RecordingQueue(), RecordingQueue(), lambda: NOW)
    first_peak = _peak(lambda: run_scheduled(memory, _forever))
    store.states.clear()  # and again untraced, for its time: every state written anew
    memory = replace(memory, notifications=RecordingQueue())
    first, first_time = _best(lambda: run_scheduled(memory, _forever), rounds=1)
    first_calls = sum(store.calls.values()) / 2  # the traced run and this one
    store.calls.clear()
    _, memory_time = _best(lambda: run_scheduled(memory, _forever), rounds=1)
    memory_calls = sum(store.calls.values())
    print(
        f"{contracts:>7,} contracts, {contracts // CONTRACTS_PER_CUSTOMER:,} customers, in memory: first run "
        f"{first_time:.2f} s ({first.transitions:,} states written, {first.notifications:,} webhooks, "
        f"{first_calls / contracts:.2f} store calls per contract, peak {first_peak / 2**20:.1f} MB), steady run "
        f"{memory_time:.2f} s ({memory_calls / contracts:.2f} store calls per contract)"
    )
    if not wire_rounds:
        return

    table = _WireTable(_items(store))
    raw = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="bench", aws_secret_access_key="bench")
    raw.meta.events.register("before-send.dynamodb", cast(Any, table.answer))
    counting = CountingClient(raw)
    wire = replace(memory, store=DynamoDBStore(cast(Any, counting), TABLE))
    steady_peak = _peak(lambda: run_scheduled(wire, _forever))  # and warm: model schemas
    counting.calls.clear()
    steady, steady_time = _best(lambda: run_scheduled(wire, _forever), wire_rounds)
    steady_calls = sum(counting.calls.values()) / wire_rounds
    bare = CountingClient(raw)
    _, bare_time = _best(lambda: _bare_read(bare, TABLE), wire_rounds)
    bare_calls = sum(bare.calls.values()) / wire_rounds
    ratio = steady_time / bare_time
    verdict = "met" if ratio <= 2 else "NOT met"
    print(
        f"          through the DynamoDB adapter: steady run {steady_time:.2f} s ({steady.transitions} written, "
        f"{steady_calls / contracts:.2f} calls per contract, peak {steady_peak / 2**20:.1f} MB), bare read "
        f"{bare_time:.2f} s ({bare_calls / contracts:.2f} calls per contract), best of {wire_rounds}: "
        f"ratio {ratio:.2f}x (goal <= 2x: {verdict})"
    )


def main() -> None:
    print(f"{CONTRACTS_PER_CUSTOMER} contracts per customer, 2 commits each, an invoice per contract; 2 alerts")
    print("(goals: store calls per contract O(1), steady run / bare read <= 2x, peak memory <= 256 MB)")
    for contracts, wire_rounds in SIZES:
        _measure(contracts, wire_rounds)


if __name__ == "__main__":
    main()
