"""Large invoices end to end on the local stack: 300 lines x 720 hourly buckets (and 50 x 720) go
through `downbeat send-event --claim-check`, the router, the Stripe worker and the invoice API.

Prints per invoice: the sizes (the event inline, the claim-check object, what the table keeps:
head item and compressed chunks) and the timings (upload + put, the router's invocation, the
Stripe worker's, the invoice GET and the list over HTTP, a full read with buckets), plus the
Stripe items the lines became. Runs `downbeat local` (embedded moto) in-process.

python -m bench large_invoices
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from local.cli import main as downbeat
from local.demo_data import DEMO_STRIPE_CUSTOMERS, demo_event, seed_demo_data
from local.stack import LocalStack, StackOptions
from shared.adapters.dynamodb import DynamoDBStore, from_attributes
from tests.builders import large_invoice_event

SIZES = ((50, 720, 10), (300, 720, 40))  # lines, hours, products


def _event(invoice_id: str, lines: int, hours: int, products: int) -> dict[str, Any]:
    event = demo_event("finalized.json")
    big = large_invoice_event(lines, hours, products=products)["detail"]
    keys = ("line_items", "subtotal", "total", "applied_credits", "start_timestamp", "end_timestamp")
    event["detail"].update({"id": invoice_id, **{key: big[key] for key in keys}})
    return event


def _get(stack: LocalStack, path: str) -> tuple[float, int, Any]:
    request = urllib.request.Request(stack.url + path, headers={"Authorization": f"Bearer {stack.api_token}"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=120) as response:
        body = response.read()
    return time.perf_counter() - started, len(body), json.loads(body)["data"]


def _stored_sizes(stack: LocalStack, invoice_id: str) -> tuple[int, int, int, int, int]:
    """(head item bytes, line chunk items, their bytes, windows chunk items, their bytes) of the
    invoice in the table."""
    head, chunks, chunk_bytes, windows, windows_bytes = 0, 0, 0, 0, 0
    kwargs: dict[str, Any] = {
        "TableName": stack.table_name,
        "KeyConditionExpression": "PK = :pk",
        "ExpressionAttributeValues": {":pk": {"S": f"INVOICE#{invoice_id}"}},
    }
    while True:
        response = stack.clients.dynamodb.query(**kwargs)
        for raw in response["Items"]:
            item = from_attributes(raw)
            if item["SK"] == "#INVOICE":
                head = len(item["data"])
            elif item["SK"].startswith("LINES#"):
                chunks += 1
                chunk_bytes += len(bytes(item["data"]))
            elif item["SK"].startswith("WINDOWS#"):
                windows += 1
                windows_bytes += len(bytes(item["data"]))
        if "LastEvaluatedKey" not in response:
            return head, chunks, chunk_bytes, windows, windows_bytes
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def _timed_invocations(stack: LocalStack) -> dict[str, list[float]]:
    """Wall time of each invocation per function, recorded from now on."""
    seen: dict[str, list[float]] = {}
    invoke: Callable[[str, Any], Any] = stack.invoke

    def timed(name: str, event: Any) -> Any:
        started = time.perf_counter()
        try:
            return invoke(name, event)
        finally:
            seen.setdefault(name, []).append(time.perf_counter() - started)

    stack.invoke = timed  # type: ignore[method-assign]
    return seen


def _wait(probe: Callable[[], Any], timeout: float = 600) -> float:
    started = time.perf_counter()
    while not probe():
        if time.perf_counter() - started > timeout:
            raise TimeoutError("the invoice did not settle")
        time.sleep(0.05)
    return time.perf_counter() - started


def main() -> None:
    options = StackOptions(
        port=0,
        run_schedules=False,
        stripe_customers=DEMO_STRIPE_CUSTOMERS,
        environ={**os.environ, "LOG_LEVEL": "ERROR"},
    )
    with LocalStack(options) as stack, tempfile.TemporaryDirectory() as scratch:
        store = DynamoDBStore(stack.clients.dynamodb, stack.table_name)
        seed_demo_data(store)
        invocations = _timed_invocations(stack)
        columns = ("event", "claim", "head", "chunks", "put", "route", "stripe", "settled", "GET", "bytes", "list")
        widths = (9, 9, 8, 14, 7, 6, 6, 7, 8, 7, 8)
        header = " ".join(f"{name:>{width}}" for name, width in zip(columns, widths, strict=True))
        print(f"{'invoice':>10} {header} {'bytes':>7}  {'read+b':>6}  items")
        for lines, hours, products in SIZES:
            invoice_id = f"inv_bench_{lines}x{hours}"
            event = _event(invoice_id, lines, hours, products)
            inline = len(json.dumps(event["detail"], separators=(",", ":")).encode())
            path = Path(scratch) / f"{invoice_id}.json"
            path.write_text(json.dumps(event), encoding="utf-8")
            invocations.clear()
            started = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                assert downbeat(["send-event", "--api", stack.url, "--claim-check", str(path)]) == 0
            put = time.perf_counter() - started
            settled = put + _wait(lambda: (s := store.get_sync(invoice_id)) is not None and s.status != "pending")  # noqa: B023
            record = store.get_sync(invoice_id)
            assert record is not None
            assert record.status == "synced", record
            route = sum(invocations.get("InvoiceRouterFunction", []))
            stripe = sum(invocations.get("StripeSyncFunction", []))
            claim = len(json.dumps(event["detail"]["line_items"], separators=(",", ":")).encode())
            head, chunks, chunk_bytes, windows, windows_bytes = _stored_sizes(stack, invoice_id)
            get_s, get_bytes, got = _get(stack, f"/v1/customers/cust_acme/invoices/{invoice_id}")
            assert len(got["line_items"]) == lines
            list_s, list_bytes, _ = _get(stack, "/v1/customers/cust_acme/invoices?limit=100")
            started = time.perf_counter()
            full = store.get_invoice(invoice_id)
            read_full = time.perf_counter() - started
            assert full is not None
            assert sum(len(line.buckets) for line in full.line_items) == lines * hours
            assert stack.stripe is not None
            stripe_invoice = stack.stripe.find_invoice("downbeat_invoice_id", invoice_id)
            assert stripe_invoice is not None
            items = len(stack.stripe.invoice_items(invoice=stripe_invoice["id"]))
            print(
                f"{lines:>4}x{hours:<5} {inline / 1e6:7.2f}MB {claim / 1e6:7.2f}MB {head / 1e3:6.1f}kB "
                f"{chunks:>3} = {chunk_bytes / 1e6:5.2f}MB  {put:6.2f} {route:6.2f} {stripe:6.2f} {settled:7.2f}  "
                f"{get_s:6.3f} {get_bytes:7d}  {list_s:6.3f} {list_bytes:7d}  {read_full:6.2f}  {lines} -> {items}"
            )
            print(f"{'':>10} + its breakdown windows (HOUR, DAY): {windows} chunk items = {windows_bytes / 1e6:.2f}MB")
        print("seconds; event = detail inline (PutEvents takes < 1 MiB), claim = the S3 object, head/chunks =")
        print("the table (chunks zlib-compressed); route/stripe = the functions' invocations; settled = put to synced;")
        print("GET/list = invoice API over HTTP (no buckets; list: first lines only); read+b = full read with buckets.")


if __name__ == "__main__":
    main()
