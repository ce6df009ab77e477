"""The data export of 100,000 commits and credits (1,000 customers x 100, each with a manual entry
and an invoice drawdown; one in ten billed by an invoice whose status is read): time, peak
memory, and the time of a bare read of the same items for comparison.

The store is the DynamoDB adapter itself, against `_WireTable` below, served under botocore through
its `before-send` hook (as `bench.balances` does): every request is serialized and every reply
parsed by boto3 as against AWS, but the server answers at once from items prepared beforehand.
moto's DynamoDB could not be used: its Query walks every item of the table on each call (hours
for these 300,000 items). S3 is moto, in-process. So the time is the export's own: reading and
mapping the items, the balances, building the Parquet files, handing them to S3.

Peak memory is what the export allocates (tracemalloc, in a second run: tracing slows Python),
not the prepared table, and the process's peak RSS is printed beside it.

python -m bench data_export
"""

from __future__ import annotations

import bisect
import io
import itertools
import json
import resource
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import boto3
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from moto import mock_aws

from shared.adapters.dynamodb import DynamoDBStore
from shared.adapters.dynamodb.commit_items import commit_item, drawdown_item, manual_entry_item
from shared.adapters.dynamodb.keys import COMMITS_RANGE, customer_item
from shared.adapters.dynamodb.table import to_attributes
from shared.adapters.s3_exports import S3ExportBucket
from shared.domain.commits import Commit, Segment
from shared.domain.ledger import Drawdown, LedgerEntry
from shared.services.data_export import DataExportDependencies, export_tables
from tests.builders import customer

TABLE = "bench-export"
BUCKET = "bench-exports"
CUSTOMERS = 1_000
COMMITS_PER_CUSTOMER = 100
NOW = datetime(2025, 6, 15, 3, 0, tzinfo=UTC)
PAGE_BYTES = 1024 * 1024


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


class _Partition:
    def __init__(self, entries: list[tuple[str, str]]) -> None:
        entries.sort()
        self.keys = [key for key, _ in entries]
        self.wire = [text for _, text in entries]


class _WireTable:
    """Query (table and GSI1, key order, ExclusiveStartKey, Limit, 1 MB pages) and BatchGetItem of
    invoice statuses, in DynamoDB's wire format, from items prepared once."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        partitions: dict[tuple[str | None, str], list[tuple[str, str]]] = {}
        for item in items:
            text = json.dumps(to_attributes(item))
            partitions.setdefault((None, item["PK"]), []).append((item["SK"], text))
            if "GSI1PK" in item:
                partitions.setdefault(("GSI1", item["GSI1PK"]), []).append((item["GSI1SK"], text))
        self._partitions = {key: _Partition(entries) for key, entries in partitions.items()}

    def answer(self, request: Any, **_: Any) -> AWSResponse:
        operation = request.headers["X-Amz-Target"].decode().split(".")[-1]
        body = json.loads(request.body)
        if operation == "Query":
            reply = self._query(body)
        elif operation == "BatchGetItem":
            [(table, wanted)] = body["RequestItems"].items()
            found = [{"PK": key["PK"], "status": {"S": "FINALIZED"}} for key in wanted["Keys"]]
            reply = json.dumps({"Responses": {table: found}, "UnprocessedKeys": {}})
        else:
            raise NotImplementedError(operation)
        headers = HTTPHeaders()
        headers["Content-Type"] = "application/x-amz-json-1.0"
        return AWSResponse(request.url, 200, headers, _Raw(reply.encode()))

    def _query(self, body: dict[str, Any]) -> str:
        index = body.get("IndexName")
        values = body["ExpressionAttributeValues"]
        partition = self._partitions.get((index, values[":pk"]["S"]))
        if partition is None:
            return json.dumps({"Count": 0, "ScannedCount": 0, "Items": []})
        sort_name = "GSI1SK" if index else "SK"
        low = values.get(":low", {}).get("S", "")
        high = values.get(":high", {}).get("S", "\uffff")
        start = body.get("ExclusiveStartKey")
        position = (
            bisect.bisect_right(partition.keys, start[sort_name]["S"])
            if start
            else bisect.bisect_left(partition.keys, low)
        )
        limit = body.get("Limit")
        page: list[str] = []
        size = 0
        last = None
        while position < len(partition.keys) and partition.keys[position] <= high:
            size += len(partition.wire[position])
            if size > PAGE_BYTES or len(page) == limit:
                last = json.loads(partition.wire[position - 1])
                break
            page.append(partition.wire[position])
            position += 1
        reply: dict[str, Any] = {"Count": len(page), "ScannedCount": len(page), "Items": "@ITEMS@"}
        if last is not None:
            names = ("PK", "SK", "GSI1PK", "GSI1SK") if index else ("PK", "SK")
            reply["LastEvaluatedKey"] = {name: last[name] for name in names}
        return json.dumps(reply).replace('"@ITEMS@"', "[" + ", ".join(page) + "]")


def _items() -> list[dict[str, Any]]:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    end = start + timedelta(days=365)
    items: list[dict[str, Any]] = []
    for number in range(CUSTOMERS):
        customer_id = f"cust_{number:05d}"
        items.append(customer_item(customer(customer_id).model_copy(update={"created_at": start})))
        for index in range(COMMITS_PER_CUSTOMER):
            commit_id = f"commit_{number:05d}_{index:03d}"
            segment = Segment(id=f"seg_{commit_id}", amount=Decimal("5000.00"), starting_at=start, ending_before=end)
            commit = Commit(id=commit_id, kind="commit" if index % 4 else "credit", customer_id=customer_id,
                            type="PREPAID" if index % 4 else None, name=f"commit {index}", currency="USD",
                            segments=[segment], created_at=start, custom_fields={"team": "ml"},
                            invoice_id=f"inv_billing_{commit_id}" if index % 10 == 0 else None)  # fmt: skip
            items.append(commit_item(commit))
            manual = LedgerEntry(id=f"entry_{commit_id}", commit_id=commit_id, segment_id=segment.id, type="manual",
                                 amount=Decimal("-1.25"), timestamp=start, reason="usage adjustment")  # fmt: skip
            items.append(manual_entry_item(customer_id, manual))
            drawdown = Drawdown(f"inv_{commit_id}", commit_id, 3, start, {segment.id: Decimal("12.34")})
            items.append(drawdown_item(customer_id, drawdown))
    return items


def _bare_read(client: Any) -> int:
    """The same items, Query pages only: the customer list, then each customer's commit range."""

    def pages(**kwargs: Any) -> Any:
        while True:
            response = client.query(TableName=TABLE, **kwargs)
            yield response["Items"]
            if "LastEvaluatedKey" not in response:
                return
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    count = 0
    listing = pages(IndexName="GSI1", KeyConditionExpression="#pk = :pk", ExpressionAttributeNames={"#pk": "GSI1PK"},
                    ExpressionAttributeValues={":pk": {"S": "CUSTOMERS"}})  # fmt: skip
    customers = [item for page in listing for item in page]
    for item in customers:
        values = to_attributes({":pk": item["PK"]["S"], ":low": COMMITS_RANGE[0], ":high": COMMITS_RANGE[1]})
        for page in pages(KeyConditionExpression="PK = :pk AND SK BETWEEN :low AND :high",
                          ExpressionAttributeValues=values):  # fmt: skip
            count += len(page)
    return count


def _export(store: DynamoDBStore, s3: Any, scratch: Path) -> tuple[float, Any]:
    nonces = (f"{n:08x}" for n in itertools.count(1))
    deps = DataExportDependencies(
        store=store,
        bucket=S3ExportBucket(s3, BUCKET, scratch=scratch),
        clock=lambda: NOW,
        new_nonce=lambda: next(nonces),
    )
    started = time.perf_counter()
    result = export_tables(deps)
    return time.perf_counter() - started, result


def main() -> None:
    prepared = time.perf_counter()
    items = _items()
    table = _WireTable(items)
    print(f"{len(items):,} items: {CUSTOMERS:,} customers x {COMMITS_PER_CUSTOMER} commits and credits, each with "
          f"a manual entry and a drawdown (prepared in {time.perf_counter() - prepared:.1f} s)")  # fmt: skip
    del items
    dynamodb = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="b", aws_secret_access_key="b")
    dynamodb.meta.events.register("before-send.dynamodb", cast(Any, table.answer))
    store = DynamoDBStore(dynamodb, TABLE)
    with mock_aws(), tempfile.TemporaryDirectory() as scratch:
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        seconds, result = _export(store, s3, Path(scratch))
        tracemalloc.start()
        _export(store, s3, Path(scratch))
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        manifest = result.manifest
        sizes = {name: sum(f.bytes for f in t.files) for name, t in manifest.tables.items()}
        check = s3.get_object(Bucket=BUCKET, Key=manifest.tables["balances"].files[0].key)["Body"].read()
        # Inside the same mock as the export: moto's hook sees every botocore request either way.
        bare_started = time.perf_counter()
        found = _bare_read(dynamodb)
        bare = time.perf_counter() - bare_started
    import pyarrow.parquet as pq  # noqa: PLC0415 - after the measurements: its import is not the export's

    rows = manifest.tables["commits"].rows
    balances = pq.read_table(io.BytesIO(check))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"export of {rows:,} commits and credits (both tables): {seconds:.1f} s, {rows / seconds:,.0f} rows/s")
    for name, table_ in manifest.tables.items():
        print(f"  {name}: {table_.rows:,} rows in {len(table_.files)} file(s), {sizes[name] / 2**20:.1f} MiB")
    print(f"  read back: {balances.num_rows:,} balances rows, first {balances.column('balance')[0]}")
    print(f"  peak memory the export allocates (tracemalloc): {peak / 2**20:.0f} MiB; process peak RSS {rss:.0f} MiB")
    print(f"  bare read of the same {found:,} items (Query pages only): {bare:.1f} s; "
          f"export / bare read: {seconds / bare:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
