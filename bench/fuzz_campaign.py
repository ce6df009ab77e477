"""Fuzz campaign against the local stack: hostile invoice events and API requests, counted.

10,000 events, each the sample `invoice.finalized` event with one field (any depth: the envelope,
the invoice, a line, a bucket, a credit) replaced by a hostile value, removed, or joined by an
unknown sibling, go to the router as Lambda invokes it on the stack (its handler, in-process,
against moto over HTTP). 10,000 API requests do the same to the bodies and query parameters of
every route, over HTTP to the stack's API. Each 1,000 run on a fresh stack (see in_fresh_stacks).
Goal: 0 infrastructure errors and 0 5xx; every rejection names a field (a rejection of the whole
document — JSON too deep, not an object — names none, and is counted apart). The values are
drawn from one seeded random generator, so a run is repeatable: `python -m bench fuzz_campaign`.
"""

from __future__ import annotations

import copy
import json
import random
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from local.demo_data import DEMO_STRIPE_CUSTOMERS, demo_event, seed_demo_data
from local.stack import LocalStack, StackOptions
from shared.adapters.dynamodb import DynamoDBStore

EVENTS = 10_000
REQUESTS = 10_000
SEED = 20261201
TOKEN = "fuzz-campaign-token-000000000000"
PER_STACK = 1_000


def _deep(levels: int) -> Any:
    value: Any = "x"
    for _ in range(levels):
        value = [value]
    return value


HOSTILE: tuple[Any, ...] = (
    None,
    "",
    " ",
    "\u200b\u2060",  # format characters only: blank
    "\x00",
    "a\x07b",
    "\ud800",
    "x" * 10_000,
    "١٢٣٤٥٦٧٨٩٠١٢",  # Arabic-Indic digits
    "inv_Ω_ünïcødé_🧾",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59-05:00",
    "2025-02-30T00:00:00Z",
    "2025-03-01T00:00:00",  # no offset
    "1e5",
    "1_234.56",
    "-1",
    "-0.00",
    "NaN",
    "Infinity",
    "0." + "1" * 40,
    "9" * 40,
    0,
    -1,
    2**53,
    10**40,
    1.5,
    True,
    [],
    {},
    {"nested": {"deeper": [1, 2, 3]}},
    _deep(100),
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path into a JSON document (the root excluded)."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield (*prefix, key)
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield (*prefix, index)
            yield from _paths(child, (*prefix, index))


def mutate(document: dict[str, Any], rng: random.Random) -> tuple[dict[str, Any], str]:
    """One hostile change to a copy of `document`, and the dotted path it made."""
    mutated = copy.deepcopy(document)
    path = rng.choice(list(_paths(mutated)))
    parent: Any = mutated
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    action = rng.random()
    if action < 0.1 and isinstance(parent, dict):
        del parent[last]
    elif action < 0.15 and isinstance(parent, dict):
        parent[f"unknown_{rng.randrange(100)}"] = rng.choice(HOSTILE)
    else:
        parent[last] = rng.choice(HOSTILE)
    return mutated, ".".join(str(step) for step in path)


@dataclass
class Tally:
    counts: Counter[str] = field(default_factory=Counter)
    fields: set[str] = field(default_factory=set)
    examples: dict[str, str] = field(default_factory=dict)

    def add(self, kind: str, example: str = "") -> None:
        self.counts[kind] += 1
        if example and kind not in self.examples:
            self.examples[kind] = example[:300]


def fuzz_events(stack: LocalStack, rng: random.Random, count: int) -> Tally:
    base = demo_event("finalized.json")
    tally = Tally()
    for index in range(count):
        event, path = mutate(base, rng)
        if isinstance(event.get("detail"), dict) and isinstance(event["detail"].get("id"), str):
            event["detail"]["id"] = f"{event['detail']['id']}_{index}"  # a new invoice each time
        try:
            result = stack.invoke("invoice_router", event)
        except Exception as error:  # an infrastructure error: what the campaign hunts
            tally.add("error", f"{path}: {type(error).__name__}: {error}")
            continue
        outcome = result.get("outcome")
        if outcome == "rejected":
            if result.get("field"):
                tally.add("rejected with field")
                tally.fields.add(str(result["field"]))
            else:
                tally.add("rejected, whole document", f"{path}: {result.get('reason')}")
        else:
            tally.add(f"accepted ({outcome})")
    return tally


Request = tuple[str, str, Any]  # method, path (with query), body (None: no body)


def request_templates(customer_id: str, contract_id: str, invoice_id: str) -> list[Callable[[random.Random], Request]]:
    customer_body = {
        "name": "Fuzz Co",
        "custom_fields": {"tier": "gold"},
        "billing_provider_configurations": [
            {
                "billing_provider": "stripe",
                "default": True,
                "configuration": {"stripe_customer_id": "cus_fuzz", "days_until_due": 30},
            },
            {
                "billing_provider": "aws_marketplace",
                "configuration": {
                    "aws_customer_account_id": "111122223333",
                    "aws_license_arn": "arn:aws:license-manager::111122223333:license:l-1",
                    "aws_product_code": "prod-x",
                    "aws_region": "us-east-1",
                },
            },
        ],
    }
    configuration_body = {"billing_provider": "azure_marketplace", "configuration": {
        "azure_subscription_id": "sub-1", "azure_plan_id": "gold"}}  # fmt: skip
    contract_body = {
        "customer_id": customer_id,
        "name": "Fuzz contract",
        "starting_at": "2025-01-01T00:00:00Z",
        "ending_before": "2026-01-01T00:00:00Z",
        "custom_fields": {"team": "ml"},
    }
    get_body = {"customer_id": customer_id, "contract_id": contract_id}
    list_body = {"customer_id": customer_id, "limit": 10}
    queries = {
        "/v1/customers": {"limit": "10"},
        f"/v1/customers/{customer_id}/invoices": {
            "status": "FINALIZED", "starting_on": "2025-01-01", "ending_before": "2026-01-01T00:00:00Z", "limit": "5"},
        "/v1/auditLogs": {"resource_type": "customer", "starting_on": "2025-01-01", "limit": "5"},
    }  # fmt: skip

    def body_route(method: str, path: str, body: dict[str, Any]) -> Callable[[random.Random], Request]:
        return lambda rng: (method, path, mutate(body, rng)[0])

    def query_route(path: str, query: dict[str, str]) -> Callable[[random.Random], Request]:
        def build(rng: random.Random) -> Request:
            mutated = dict(query)
            name = rng.choice([*mutated, "next_page", "unknown"])
            value = rng.choice(HOSTILE)
            mutated[name] = value if isinstance(value, str) else json.dumps(value)
            return "GET", f"{path}?{urllib.parse.urlencode(mutated, encoding='utf-8', errors='surrogatepass')}", None

        return build

    def path_route(template: str) -> Callable[[random.Random], Request]:
        def build(rng: random.Random) -> Request:
            value = rng.choice(HOSTILE)
            text = (value if isinstance(value, str) else json.dumps(value))[:3000] or "%20"
            return "GET", template.format(urllib.parse.quote(text.encode("utf-8", "surrogatepass"), safe="")), None

        return build

    return [
        body_route("POST", "/v1/customers", customer_body),
        body_route("POST", f"/v1/customers/{customer_id}/billingProviderConfigurations", configuration_body),
        body_route("POST", "/v1/contracts/create", contract_body),
        body_route("POST", "/v1/contracts/get", get_body),
        body_route("POST", "/v1/contracts/list", list_body),
        *(query_route(path, query) for path, query in queries.items()),
        path_route("/v1/customers/{}"),
        path_route(f"/v1/customers/{customer_id}/invoices/{{}}"),
        path_route("/v1/invoices/{}/sync"),
        lambda rng: ("GET", f"/v1/invoices/{invoice_id}/sync", None),
    ]


def send(base: str, request: Request) -> tuple[int, Any]:
    method, path, body = request
    data = None if body is None else json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    http_request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(http_request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        raw = error.read()
        try:
            return error.code, json.loads(raw)
        except json.JSONDecodeError:
            return error.code, {"message": raw[:200].decode(errors="replace"), "not_json": True}


def fuzz_requests(stack: LocalStack, rng: random.Random, count: int) -> Tally:
    templates = request_templates("cust_demo_acme", "con_demo_acme", "inv_demo_stripe")
    tally = Tally()
    for _ in range(count):
        request = rng.choice(templates)(rng)
        status, reply = send(stack.url, request)
        where = f"{request[0]} {request[1][:120]}"
        if status >= 500:
            tally.add("5xx", f"{where}: {status} {reply}")
        elif isinstance(reply, dict) and reply.get("not_json"):
            tally.add("not JSON", f"{where}: {status}")
        elif status >= 400 and isinstance(reply, dict) and reply.get("field"):
            tally.add(f"{status} with field")
            tally.fields.add(str(reply["field"]))
        elif status >= 400:
            tally.add(f"{status} without field")
        else:
            tally.add(f"{status}")
    return tally


def report(title: str, tally: Tally, seconds: float, goal_keys: tuple[str, ...]) -> None:
    total = sum(tally.counts.values())
    print(f"{title}: {total} in {seconds:.1f} s ({total / seconds:.0f}/s), {len(tally.fields)} distinct fields named")
    for kind, number in sorted(tally.counts.items(), key=lambda item: -item[1]):
        print(f"  {kind:<28} {number:>6}  ({number / total:.1%})")
    for key in goal_keys:
        found = tally.counts.get(key, 0)
        print(f"  goal {key} = 0: {'ok' if found == 0 else 'MISS'} ({found})")
    for kind, example in tally.examples.items():
        print(f"  e.g. {kind}: {example}")


def _stack_options() -> StackOptions:
    return StackOptions(
        port=0,
        run_schedules=False,
        stripe_customers=DEMO_STRIPE_CUSTOMERS,
        environ={"AWS_DEFAULT_REGION": "us-east-1", "DOWNBEAT_API_TOKEN": TOKEN, "LOG_LEVEL": "ERROR",
                 "POWERTOOLS_LOG_LEVEL": "ERROR"},
    )  # fmt: skip


def in_fresh_stacks(
    total: int, run: Callable[[LocalStack, int], Tally], *, health: bool = False
) -> tuple[Tally, list[int]]:
    """`run` `total` times, `PER_STACK` at a time, each on a new stack seeded with the demo data.

    moto copies its whole table for every TransactWriteItems, so on one stack each write costs more
    as the table grows (10,000 events in one stack took over 15 minutes and 13 GB); fresh stacks
    keep every request's cost and the process's memory flat. With `health`, each stack is asked
    `GET /health` after its share, and the statuses are returned.
    """
    tally, statuses = Tally(), []
    for start in range(0, total, PER_STACK):
        with LocalStack(_stack_options()) as stack:
            seed_demo_data(DynamoDBStore(stack.clients.dynamodb, stack.table_name))
            part = run(stack, min(PER_STACK, total - start))
            if health:
                statuses.append(send(stack.url, ("GET", "/health", None))[0])
        tally.counts.update(part.counts)
        tally.fields |= part.fields
        for kind, example in part.examples.items():
            tally.examples.setdefault(kind, example)
    return tally, statuses


def main(events: int = EVENTS, requests: int = REQUESTS) -> None:
    rng = random.Random(SEED)
    started = time.perf_counter()
    event_tally, _ = in_fresh_stacks(events, lambda stack, count: fuzz_events(stack, rng, count))
    report("events", event_tally, time.perf_counter() - started, ("error",))
    started = time.perf_counter()
    request_tally, statuses = in_fresh_stacks(
        requests, lambda stack, count: fuzz_requests(stack, rng, count), health=True
    )
    report("requests", request_tally, time.perf_counter() - started, ("5xx", "not JSON"))
    print(f"after each stack's share of the campaign: GET /health → {sorted(set(statuses))}")


if __name__ == "__main__":
    main()
