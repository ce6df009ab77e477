"""API latency: through the local HTTP server vs. the handler called directly with the same event.

Per endpoint: the median of N requests each way, their ratio, and the DynamoDB calls one request
makes (counted on the store's boto3 client). Runs `downbeat local` (embedded moto) in-process.

python -m bench api_latency          (DOWNBEAT_BENCH_N sets N, default 50)
"""

from __future__ import annotations

import json
import os
import statistics
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from local.http_server import http_api_event
from local.stack import LocalStack, StackOptions
from shared import bootstrap
from shared.adapters.dynamodb import DynamoDBStore
from shared.domain.invoice import InvoiceEvent
from tests.builders import STRIPE, invoice_event

TOKEN = "bench-token"
N = int(os.environ.get("DOWNBEAT_BENCH_N", "50"))


def _http(base: str, method: str, path: str, body: bytes) -> int:
    request = urllib.request.Request(
        base + path,
        data=body or None,
        method=method,
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json", "User-Agent": "bench"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def _median_ms(run: Callable[[], object]) -> float:
    samples = []
    for _ in range(N):
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    options = StackOptions(port=0, run_schedules=False, environ={**os.environ, "DOWNBEAT_API_TOKEN": TOKEN})
    with LocalStack(options) as stack:
        base = stack.url
        customer = json.loads(
            urllib.request.urlopen(
                urllib.request.Request(
                    base + "/v1/customers",
                    data=json.dumps({"name": "Bench", "billing_provider_configurations": [STRIPE]}).encode(),
                    headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
                )
            ).read()
        )["data"]
        cid = customer["id"]
        assert stack.resources is not None
        store = DynamoDBStore(stack.clients.dynamodb, stack.resources.table_name)
        invoice = InvoiceEvent.model_validate(invoice_event(id="inv_bench", customer_id=cid)).detail
        store.save_invoice(invoice, datetime.now(UTC))
        contract = json.dumps({"customer_id": cid, "name": "c", "starting_at": "2025-01-01T00:00:00Z"}).encode()
        _http(base, "POST", "/v1/contracts/create", contract)
        endpoints: list[tuple[str, str, bytes]] = [
            ("POST", "/v1/customers", b'{"name": "bench"}'),
            ("GET", "/v1/customers?limit=25", b""),
            ("GET", f"/v1/customers/{cid}", b""),
            ("POST", f"/v1/customers/{cid}/billingProviderConfigurations", json.dumps(STRIPE).encode()),
            ("POST", "/v1/contracts/create", contract),
            ("POST", "/v1/contracts/list", json.dumps({"customer_id": cid}).encode()),
            ("GET", f"/v1/customers/{cid}/invoices", b""),
            ("GET", f"/v1/customers/{cid}/invoices/inv_bench", b""),
            ("GET", "/v1/invoices/inv_bench/sync", b""),
            ("GET", "/v1/auditLogs?limit=25", b""),
            ("POST", "/v1/customers", b"{malformed"),
        ]
        calls: list[str] = []
        client: Any = getattr(bootstrap.api().store, "_client")  # noqa: B009 - the handler store's own client
        client.meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
        print(f"N = {N} per way; median milliseconds; DynamoDB calls per request")
        print(f"{'endpoint':62} {'http':>7} {'direct':>7} {'ratio':>6}  store calls")
        for method, path, body in endpoints:
            headers = [("authorization", f"Bearer {TOKEN}"), ("content-type", "application/json"), ("user-agent", "b")]
            event = http_api_event(method=method, target=path, headers=headers, body=body, source_ip="127.0.0.1")
            calls.clear()
            status = stack.invoke_api(dict(event))["statusCode"]
            per_request = list(calls)
            direct = _median_ms(lambda event=event: stack.invoke_api(dict(event)))  # type: ignore[misc]
            over_http = _median_ms(lambda m=method, p=path, b=body: _http(base, m, p, b))  # type: ignore[misc]
            label = f"{method} {path.replace(cid, '{id}')} [{status}]"
            summary = ", ".join(f"{name} x{per_request.count(name)}" for name in sorted(set(per_request)))
            ratio = over_http / direct
            print(f"{label[:62]:62} {over_http:7.2f} {direct:7.2f} {ratio:6.2f}  {len(per_request)}: {summary}")


if __name__ == "__main__":
    main()
