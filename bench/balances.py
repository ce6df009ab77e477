"""Balances of a customer with 1,000 commits x 50 ledger entries, through the API handler
(`customerBalances/list`, every page of 100) against a bare DynamoDB Query of the same items.

Prints the store reads per call (GetItem, Query pages, BatchGetItem) and the best of three
timings of each, and their ratio (goal: the balances at most 1.5 x the bare Query).

DynamoDB is `_Table` below, served under botocore through its `before-send` hook: every request
is serialized and every response parsed by boto3 as against AWS (that parsing is most of a bare
Query's client-side time), but the server answers at once. moto could not be used: its Query
walks and sorts every item of the table on each call (minutes for these 51,000 items). Real
DynamoDB adds its own time to both sides, so the ratio measured here is the worst case.

python -m bench balances
"""

from __future__ import annotations

import bisect
import itertools
import json
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

import boto3
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders

from functions.api.handler import lambda_handler
from local.http_server import http_api_event
from local.lambda_context import LocalLambdaContext
from shared.adapters.dynamodb import DynamoDBStore
from shared.adapters.dynamodb.commit_items import commit_item, drawdown_item, manual_entry_item
from shared.adapters.dynamodb.keys import COMMITS_RANGE, customer_item
from shared.adapters.dynamodb.table import to_attributes
from shared.domain.commits import Commit, Segment
from shared.domain.ledger import Drawdown, LedgerEntry
from shared.services.api_dependencies import ApiDependencies
from tests.builders import customer

TABLE = "bench-balances"
TOKEN = "bench-token"
COMMITS = 1_000
ENTRIES = 50  # per commit: half manual entries, half invoice drawdowns
CUSTOMER = "cust_bench"
NOW = datetime(2025, 6, 1, tzinfo=UTC)
READS = {"get_item", "query", "batch_get_item"}
PAGE_BYTES = 1024 * 1024  # a Query page ends past 1 MB of items, as DynamoDB's does


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


class _Table:
    """The table's items in key order, answering GetItem and Query (PK = and SK BETWEEN, with
    ExclusiveStartKey, Limit and 1 MB pages) in DynamoDB's wire format."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        wire = sorted(((item["PK"], item["SK"]), json.dumps(to_attributes(item))) for item in items)
        self._keys = [key for key, _ in wire]
        self._wire = [text for _, text in wire]

    def answer(self, request: Any, **_: Any) -> AWSResponse:
        operation = request.headers["X-Amz-Target"].decode().split(".")[-1]
        body = json.loads(request.body)
        if operation == "GetItem":
            key = (body["Key"]["PK"]["S"], body["Key"]["SK"]["S"])
            found = bisect.bisect_left(self._keys, key)
            hit = found < len(self._keys) and self._keys[found] == key
            reply = '{"Item": ' + self._wire[found] + "}" if hit else "{}"
        elif operation == "Query":
            reply = self._query(body)
        else:
            raise NotImplementedError(operation)
        headers = HTTPHeaders()
        headers["Content-Type"] = "application/x-amz-json-1.0"
        return AWSResponse(request.url, 200, headers, _Raw(reply.encode()))

    def _query(self, body: dict[str, Any]) -> str:
        values = body["ExpressionAttributeValues"]
        partition, low, high = values[":pk"]["S"], values[":low"]["S"], values[":high"]["S"]
        start = body.get("ExclusiveStartKey")
        if start is not None:
            position = bisect.bisect_right(self._keys, (partition, start["SK"]["S"]))
        else:
            position = bisect.bisect_left(self._keys, (partition, low))
        page: list[str] = []
        size = 0
        last = None
        limit = body.get("Limit")
        while position < len(self._keys) and self._keys[position][0] == partition and self._keys[position][1] <= high:
            size += len(self._wire[position])
            if size > PAGE_BYTES or len(page) == limit:
                last = self._keys[position - 1]
                break
            page.append(self._wire[position])
            position += 1
        reply: dict[str, Any] = {"Count": len(page), "ScannedCount": len(page), "Items": "@ITEMS@"}
        if last is not None:
            reply["LastEvaluatedKey"] = {"PK": {"S": last[0]}, "SK": {"S": last[1]}}
        # The items are kept as wire text already: spliced in, not encoded again.
        return json.dumps(reply).replace('"@ITEMS@"', "[" + ", ".join(page) + "]")


class CountingClient:
    """The boto3 client, counting the read calls made through it (and keeping their arguments)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: Counter[str] = Counter()
        self.recorded: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name not in READS:
            return attribute

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            self.recorded.append((name, dict(kwargs)))  # a copy: a caller may change it for its next call
            return attribute(*args, **kwargs)

        return counted


def _items() -> list[dict[str, Any]]:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    items: list[dict[str, Any]] = [customer_item(customer(CUSTOMER))]
    for number in range(COMMITS):
        commit_id = f"commit_{number:032x}"
        segment = Segment(id=f"seg_{number:032x}", amount=Decimal("5000.00"), starting_at=start,
                          ending_before=start + timedelta(days=365))  # fmt: skip
        commit = Commit(id=commit_id, kind="commit" if number % 4 else "credit", customer_id=CUSTOMER,
                        type="PREPAID" if number % 4 else None, name=f"commit {number}", currency="USD",
                        segments=[segment], created_at=start)  # fmt: skip
        items.append(commit_item(commit))
        for entry in range(ENTRIES // 2):
            manual = LedgerEntry(id=f"entry_{number}_{entry}", commit_id=commit_id, segment_id=segment.id,
                                 type="manual", amount=Decimal("-1.25"), timestamp=start + timedelta(days=entry),
                                 reason="usage adjustment")  # fmt: skip
            items.append(manual_entry_item(CUSTOMER, manual))
            drawdown = Drawdown(f"inv_{number}_{entry}", commit_id, 3, start + timedelta(days=entry),
                                {segment.id: Decimal("12.34")})  # fmt: skip
            items.append(drawdown_item(CUSTOMER, drawdown))
    return items


def _balances(deps: ApiDependencies) -> tuple[int, str]:
    """Every page of customerBalances/list through the handler: (commits listed, a balance)."""
    listed, cursor, sample = 0, None, ""
    while True:
        body = {"customer_id": CUSTOMER, "limit": 100, **({"next_page": cursor} if cursor else {})}
        event = http_api_event(
            method="POST",
            target="/v1/contracts/customerBalances/list",
            headers=[("authorization", f"Bearer {TOKEN}"), ("content-type", "application/json")],
            body=json.dumps(body).encode(),
            source_ip="192.0.2.1",
        )
        reply = json.loads(lambda_handler(event, LocalLambdaContext("ApiFunction"), deps=deps)["body"])
        listed += len(reply["data"])
        sample = sample or reply["data"][0]["balance"]
        if (cursor := reply["next_page"]) is None:
            return listed, sample


def _bare_query(client: Any) -> int:
    """The same items, Query pages only: no mapping, no balances."""
    kwargs: dict[str, Any] = {
        "TableName": TABLE,
        "KeyConditionExpression": "PK = :pk AND SK BETWEEN :low AND :high",
        "ExpressionAttributeValues": to_attributes(
            {":pk": f"CUSTOMER#{CUSTOMER}", ":low": COMMITS_RANGE[0], ":high": COMMITS_RANGE[1]}
        ),
        "ConsistentRead": True,
    }
    count = 0
    while True:
        response = client.query(**kwargs)
        count += len(response["Items"])
        if "LastEvaluatedKey" not in response:
            return count
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def _best(runs: int, call: Any) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(runs):
        started = time.perf_counter()
        result = call()
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> None:
    items = _items()
    table = _Table(items)
    raw = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="bench", aws_secret_access_key="bench")
    raw.meta.events.register("before-send.dynamodb", cast(Any, table.answer))
    print(f"{len(items):,} items: {COMMITS:,} commits and credits x {ENTRIES} ledger entries, and their customer")
    counting = CountingClient(raw)
    ids = itertools.count()
    deps = ApiDependencies(
        DynamoDBStore(cast(Any, counting), TABLE), lambda: NOW, lambda prefix: f"{prefix}_{next(ids)}", lambda: TOKEN
    )
    _balances(deps)  # warm: imports, model schemas
    counting.calls.clear()
    listed, sample = _balances(deps)
    pages = -(-listed // 100)
    reads = dict(counting.calls)
    balances_time, _ = _best(3, lambda: _balances(deps))
    bare_counter = CountingClient(raw)
    bare_time, found = _best(3, lambda: _bare_query(bare_counter))
    bare_pages = bare_counter.calls["query"] // 3
    print(f"customerBalances/list: {listed:,} balances in {pages} calls of 100 (each {sample})")
    print(f"  store reads, all calls: {reads} = {sum(reads.values()) / pages:.1f} per call")
    print(f"  bare Query of the same {found:,} items: {bare_pages} Query pages")
    print(f"  time (best of 3): balances {balances_time:.3f} s, bare Query {bare_time:.3f} s")
    ratio = balances_time / bare_time
    print(f"  ratio balances / bare Query: {ratio:.2f}x (goal <= 1.5x: {'met' if ratio <= 1.5 else 'NOT met'})")


if __name__ == "__main__":
    main()
