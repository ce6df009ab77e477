"""`contracts/create` with a monthly recurring commit over 10 years (120 periods, each its own
commit), through the API handler, against a floor: the same contract, audit entry and 120 commit
items written directly, in the fewest TransactWriteItems DynamoDB allows (100 items each), with
the items built from ready commits — no request parsing, no period rules, no handler.

Prints the store requests of each (by operation) and the best of five timings, and their ratio
(goal: the create at most 2 x the floor; what is above the floor is validation, the periods'
rules and models, and the handler).

DynamoDB is `_Table` below, served under botocore through its `before-send` hook (as in
`bench.balances`): requests are serialized and responses parsed by boto3 as against AWS, but the
server answers at once, so the ratio is the client side's, the worst case for it. Real DynamoDB
adds the same two transactions' latency to both sides.

python -m bench recurring_create
"""

from __future__ import annotations

import itertools
import json
import time
from collections import Counter
from datetime import UTC, datetime
from functools import partial
from typing import Any, cast

import boto3
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders

from functions.api.handler import lambda_handler
from local.http_server import http_api_event
from local.lambda_context import LocalLambdaContext
from shared.adapters.dynamodb import DynamoDBStore
from shared.adapters.dynamodb.audit import audit_item
from shared.adapters.dynamodb.commit_items import commit_item
from shared.adapters.dynamodb.keys import contract_item, customer_item
from shared.adapters.dynamodb.recurring_periods import TRANSACTION_MAX_ITEMS
from shared.adapters.dynamodb.table import to_attributes
from shared.domain.audit import AuditEntry, Caller
from shared.domain.commits import Commit
from shared.domain.customers import Contract
from shared.services.api_dependencies import ApiDependencies
from tests.builders import customer

TABLE = "bench-recurring"
TOKEN = "bench-token"
CUSTOMER = "cust_bench"
NOW = datetime(2025, 6, 1, tzinfo=UTC)
RUNS = 5
GOAL = 2.0
NEW = "attribute_not_exists(PK)"
BODY = {
    "customer_id": CUSTOMER,
    "name": "ten years",
    "starting_at": "2025-01-01T00:00:00Z",
    "ending_before": "2035-01-01T00:00:00Z",
    "recurring_commits": [
        {"name": "Monthly allowance", "amount": "310.00", "currency": "USD", "type": "PREPAID",
         "recurrence_frequency": "MONTHLY", "starting_at": "2025-01-01T00:00:00Z",
         "ending_before": "2035-01-01T00:00:00Z", "proration": "FIRST_AND_LAST"}
    ],
}  # fmt: skip


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


class _Table:
    """Items by key, answering GetItem, BatchGetItem and TransactWriteItems (conditions of new
    items and of the contract's plan) in DynamoDB's wire format."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}

    def answer(self, request: Any, **_: Any) -> AWSResponse:
        operation = request.headers["X-Amz-Target"].decode().split(".")[-1]
        body = json.loads(request.body)
        if operation == "GetItem":
            found = self.items.get(self._key(body["Key"]))
            reply: dict[str, Any] = {} if found is None else {"Item": found}
        elif operation == "TransactWriteItems":
            reply = self._transact(body["TransactItems"])
        else:
            raise NotImplementedError(operation)
        headers = HTTPHeaders()
        headers["Content-Type"] = "application/x-amz-json-1.0"
        return AWSResponse(request.url, 200, headers, _Raw(json.dumps(reply).encode()))

    @staticmethod
    def _key(key: dict[str, Any]) -> tuple[str, str]:
        return key["PK"]["S"], key["SK"]["S"]

    def _transact(self, operations: list[dict[str, Any]]) -> dict[str, Any]:
        puts = []
        for operation in operations:
            if "Put" in operation:
                item = operation["Put"]["Item"]
                if self._key(item) in self.items:
                    raise NotImplementedError("the bench writes new items only")
                puts.append(item)
            elif "ConditionCheck" in operation:
                check = operation["ConditionCheck"]
                stored = self.items.get(self._key(check["Key"]), {})
                name = check["ExpressionAttributeNames"]["#plan"]
                if stored.get(name) != check["ExpressionAttributeValues"][":plan"]:
                    raise NotImplementedError("the bench's plans always match")
            else:
                raise NotImplementedError(sorted(operation))
        for item in puts:
            self.items[self._key(item)] = item
        return {}


class _Counting:
    """The boto3 client, counting every call made through it."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute) or name in {"meta", "exceptions"}:
            return attribute

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return attribute(*args, **kwargs)

        return counted


def _create(deps: ApiDependencies) -> dict[str, Any]:
    event = http_api_event(
        method="POST",
        target="/v1/contracts/create",
        headers=[("authorization", f"Bearer {TOKEN}"), ("content-type", "application/json")],
        body=json.dumps(BODY).encode(),
        source_ip="192.0.2.1",
    )
    reply = lambda_handler(event, LocalLambdaContext("ApiFunction"), deps=deps)
    assert reply["statusCode"] == 200, reply
    data: dict[str, Any] = json.loads(reply["body"])["data"]
    return data


def _floor(client: Any, contract: Contract, audit: AuditEntry, commits: list[Commit]) -> None:
    """The same items, written in the fewest transactions, each Put conditional as the create's are."""
    items = [contract_item(contract), audit_item(audit), *(commit_item(commit) for commit in commits)]
    for begin in range(0, len(items), TRANSACTION_MAX_ITEMS):
        client.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": TABLE,
                        "Item": to_attributes(item),
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                }
                for item in items[begin : begin + TRANSACTION_MAX_ITEMS]
            ]
        )


def main() -> None:
    table = _Table()
    raw = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="bench", aws_secret_access_key="bench")
    raw.meta.events.register("before-send.dynamodb", cast(Any, table.answer))
    table.items[("CUSTOMER#" + CUSTOMER, "#CUSTOMER")] = to_attributes(customer_item(customer(CUSTOMER)))
    counting = _Counting(raw)
    ids = itertools.count()
    store = DynamoDBStore(cast(Any, counting), TABLE)
    deps = ApiDependencies(store, lambda: NOW, lambda prefix: f"{prefix}_{next(ids):032x}", lambda: TOKEN)
    _create(deps)  # warm: imports, model schemas
    counting.calls.clear()
    created = _create(deps)
    requests = dict(counting.calls)
    contract_id = created["id"]
    (plan,) = created["recurring_commits"]
    stored = [
        key for key in table.items if key[1].startswith("COMMIT#") and contract_id in json.dumps(table.items[key])
    ]
    commits = [Commit.model_validate_json(table.items[key]["data"]["S"]) for key in stored]
    contract = Contract.model_validate_json(
        table.items[("CUSTOMER#" + CUSTOMER, f"CONTRACT#{contract_id}")]["data"]["S"]
    )
    audit = AuditEntry.for_call(entry_id="audit_floor", at=NOW, caller=Caller("tok", "192.0.2.1", "bench"),
                                action="contracts.create", resource_type="contract", resource_id=contract.id,
                                status_code=200)  # fmt: skip
    best_create = min(_timed(lambda: _create(deps)) for _ in range(RUNS))
    floor_client = _Counting(raw)
    floor_runs = []
    for run in range(RUNS):
        fresh = contract.model_copy(update={"id": f"con_floor_{run}"})
        copies = [c.model_copy(update={"id": f"{c.id}_floor_{run}", "contract_id": fresh.id}) for c in commits]
        entry = audit.model_copy(update={"id": f"audit_floor_{run}"})
        floor_runs.append(_timed(partial(_floor, floor_client, fresh, entry, copies)))
    best_floor = min(floor_runs)
    floor_requests = {name: count // RUNS for name, count in floor_client.calls.items()}
    print(f"contracts/create: 1 monthly recurring commit over 10 years -> {plan['periods']} commits "
          f"({len(commits)} stored for the contract)")  # fmt: skip
    print(f"  store requests: {requests} ({sum(requests.values())} in all)")
    print(f"  floor (the same {len(commits) + 2} items written directly): {floor_requests}")
    print(f"  time (best of {RUNS}): create {best_create * 1000:.1f} ms, floor {best_floor * 1000:.1f} ms")
    ratio = best_create / best_floor
    print(f"  ratio create / floor: {ratio:.2f}x (goal <= {GOAL}x: {'met' if ratio <= GOAL else 'NOT met'})")


def _timed(call: Any) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
