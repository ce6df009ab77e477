"""AWS cost of one invoice on the Stripe path, counted from the requests a run makes, vs. the floor.

The path: an `invoice.finalized` event is put on the bus → invoice_router → SQS stripe-sync →
stripe_sync → Stripe (the double) → sync record. It runs through the local stack (local/stack.py:
the real handlers against moto over HTTP), one invoice at a time, after one warm-up invoice whose
first calls (clients created, connections opened) are not counted; the totals of INVOICES
invoices are divided by INVOICES. One at a time is the worst case per invoice: under load the
event source mapping hands the worker up to 10 messages a batch, sharing a receive, a delete,
an invocation and the worker's oldest-unsynced Query among them.

Every AWS request is seen by botocore hooks on the clients that make it: the functions' (boto3's
default session) and the stack's SQS and EventBridge clients, which stand in for Lambda's SQS
event source mapping and for the publisher of the event. Each request is turned into AWS's
billing units (bench/_aws_units.py) and priced at the list prices in PRICES; nothing but the
prices is typed in.

- Lambda: a request per handler invocation; duration is the wall time of the handler call in this
  process (minus the time spent in this bench's hooks), rounded up to 1 ms, at the memory
  template.yaml gives the function.
- DynamoDB: request units from the items' sizes (moto's ReturnConsumedCapacity is a constant per
  operation, so it is not used): each item read, and each item a write changes as it was before
  and after the write (read from moto's store in-process), GSI upkeep included.
- SQS: the functions' requests, and of the event source mapping the receive that returned the
  message and the delete. Not counted: the mapping's empty long polls. Lambda's pollers keep
  long-polling a queue whether or not invoices arrive; those receives are SQS requests on the
  account's bill (not the function's), but a fixed cost per queue and hour, not a cost per
  invoice, so they are reported beside the table and left out of it. Also not counted: the
  local stack's stand-in for EventBridge → Lambda (an internal queue); in AWS the rule invokes
  the router asynchronously, which costs nothing beyond the event.
- EventBridge: PutEvents entries in 64 KB chunks, the publisher's `invoice.finalized` included.

It runs twice: for the demo customer as it is (no alert: the router asks for no alert evaluation,
so the path is as above), then with a spend alert on that customer (`WITH_ALERT`): the router also
puts the customer's evaluation request on AlertEvaluationQueue, and the alert_evaluator's
invocation, its queue hop and its reads are counted too. One invoice at a time is that case's
worst too: under load the evaluator's batching window lets a batch's requests share an
invocation, and a customer's share one evaluation.

python -m bench cost_per_invoice     (DOWNBEAT_BENCH_INVOICES sets the count, default 20)
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
import os
import statistics
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import boto3
from moto.dynamodb.models import dynamodb_backends

from bench._aws_units import (
    Item,
    billed_milliseconds,
    chunks,
    gb_seconds,
    index_entry,
    index_write_units,
    item_size,
    put_events_entry_bytes,
    read_units,
    sqs_message_bytes,
    write_units,
)
from local.demo_data import DEMO_STRIPE_CUSTOMERS, demo_event, seed_demo_data
from local.resources import LOCAL_ACCOUNT_ID
from local.stack import LocalStack, StackOptions
from shared import bootstrap
from shared.adapters.dynamodb import DynamoDBStore
from shared.domain.alerts import SPEND
from shared.domain.stripe_plan import ADD_LINES_MAX_PER_CALL
from tests.alert_world import alert, audit

if TYPE_CHECKING:
    from botocore.hooks import BaseEventHooks
    from mypy_boto3_dynamodb.client import DynamoDBClient

INVOICES = int(os.environ.get("DOWNBEAT_BENCH_INVOICES", "20"))
WAIT_SECONDS = 30.0
ROUTER, WORKER, EVALUATOR = "invoice_router", "stripe_sync", "alert_evaluator"

# us-east-1 on-demand list prices in USD, taken 2026-12-01. AWS's pricing pages (below) render
# their rate tables client-side, so each figure was read from stored copies of those pages and of
# 2026 price guides that quote them; they agree. Free tiers are left out: this is the cost per
# invoice at volume. Only these prices are typed in; every quantity they multiply is counted.
PRICES_TAKEN = "2026-12-01"
PER_MILLION = Decimal(1_000_000)
PRICES: dict[str, Decimal] = {
    # https://aws.amazon.com/lambda/pricing/ : $0.20 per 1M requests
    "lambda_request": Decimal("0.20") / PER_MILLION,
    # https://aws.amazon.com/lambda/pricing/ : Arm, first 7.5 billion GB-s a month
    "lambda_gb_second": Decimal("0.0000133334"),
    # https://aws.amazon.com/dynamodb/pricing/on-demand/ : standard table class, since 2024-11-01
    "dynamodb_rru": Decimal("0.125") / PER_MILLION,
    "dynamodb_wru": Decimal("0.625") / PER_MILLION,
    # https://aws.amazon.com/sqs/pricing/ : standard queue, first 100 billion requests a month
    "sqs_request": Decimal("0.40") / PER_MILLION,
    # https://aws.amazon.com/eventbridge/pricing/ : custom events put on an event bus
    "eventbridge_event": Decimal("1.00") / PER_MILLION,
}

PUBLISHER = "publisher"  # whoever puts invoice.finalized on the bus (the stack, here)
EVENT_SOURCE_MAPPING = "SQS event source mapping"
OUTSIDE = "outside any invocation"
EMPTY_POLLS = "empty ReceiveMessage long polls of the SQS event source mapping"
STAND_IN = "requests on the local stand-in queue for EventBridge → Lambda"
_WRITES = {"PutItem", "UpdateItem", "DeleteItem"}
_CONTEXT_KEY = "downbeat_cost"

_thread = threading.local()  # per thread: the function being invoked, the seconds spent in our hooks


def _hook_seconds() -> float:
    seconds: float = getattr(_thread, "hook_seconds", 0.0)
    return seconds


def _current_function() -> str | None:
    name: str | None = getattr(_thread, "function", None)
    return name


@contextlib.contextmanager
def _hook_time() -> Iterator[None]:
    """Time spent here is the bench's, not the function's: it is taken off the measured duration."""
    started = time.perf_counter()
    try:
        yield
    finally:
        _thread.hook_seconds = _hook_seconds() + time.perf_counter() - started


@dataclass(frozen=True)
class Index:
    keys: tuple[str, ...]
    projection: Mapping[str, Any]


@dataclass(frozen=True)
class TableShape:
    keys: tuple[str, ...]
    indexes: Mapping[str, Index]  # GSIs by name


@dataclass
class _Pending:
    """One request between its parameters and its response."""

    who: str
    params: dict[str, Any]
    counting: bool
    before: list[Item | None] = field(default_factory=list)  # DynamoDB: each write target, before


@dataclass
class Usage:
    """What the counted requests add up to (totals; divide by the invoices)."""

    # (who, service, operation, unit) → units
    units: defaultdict[tuple[str, str, str, str], Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    requests: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (who, service, op)
    billed_ms: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    hook_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # taken off billed_ms
    gb_seconds: Decimal = Decimal(0)
    stored: dict[str, Item] = field(default_factory=dict)  # last state of each item written, by key
    failed: Counter[str] = field(default_factory=Counter)
    unpriced: Counter[str] = field(default_factory=Counter)

    def total(self, unit: str) -> Decimal:
        return sum((value for (_, _, _, name), value in self.units.items() if name == unit), Decimal(0))


class AwsRequestMeter:
    """Counts the AWS requests of the stack's functions and event sources, in billing units."""

    def __init__(self, stack: LocalStack) -> None:
        assert stack.resources is not None
        self._stack = stack
        self._queues = {queue.url for queue in stack.resources.queues.values()}  # the template's queues
        self._memory = {runtime["name"]: stack.runtime(runtime["name"]).spec.memory_mb for runtime in stack.functions()}
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=stack.region
        )
        self._inspector: DynamoDBClient = session.client("dynamodb", endpoint_url=stack.moto_url)  # not hooked
        self._moto_dynamodb = dynamodb_backends[LOCAL_ACCOUNT_ID][stack.region]
        self._tables: dict[str, TableShape] = {}
        self._lock = threading.Lock()
        self._counting = False
        self._hooked: list[tuple[BaseEventHooks, str]] = []
        self._original_invoke: Callable[[str, Any], Any] | None = None
        self.usage = Usage()
        self.not_counted: Counter[str] = Counter()
        self.in_flight = 0
        self.settled_messages = 0  # messages the event source mappings deleted after their function ran
        self.first_call_ms: dict[str, int] = {}

    # -- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> AwsRequestMeter:
        # The functions create their clients from boto3's default session on their first
        # invocation after a bootstrap reset (shared/bootstrap.py), and a client copies the
        # session's hooks when it is created: so a fresh default session, hooked, then a reset.
        boto3.setup_default_session()
        assert boto3.DEFAULT_SESSION is not None
        bootstrap.reset()
        self._hook(boto3.DEFAULT_SESSION.events, "function")
        self._hook(self._stack.clients.sqs.meta.events, "stack")
        self._hook(self._stack.clients.events.meta.events, "stack")
        self._original_invoke = self._stack.invoke
        self._stack.invoke = self._invoke  # type: ignore[method-assign]  # the pollers look it up per call
        return self

    def __exit__(self, *exc: object) -> None:
        if self._original_invoke is not None:
            self._stack.invoke = self._original_invoke  # type: ignore[method-assign,assignment]
        for events, unique_id in self._hooked:
            for name in ("before-parameter-build", "before-call", "after-call"):
                events.unregister(name, unique_id=f"{unique_id}-{name}")
        self._hooked.clear()
        bootstrap.reset()  # no function keeps a hooked client

    def _hook(self, events: BaseEventHooks, source: str) -> None:
        unique_id = f"downbeat-cost-{source}-{id(events)}"
        events.register(
            "before-parameter-build", self._on_params(source), unique_id=f"{unique_id}-before-parameter-build"
        )
        events.register("before-call", self._on_send, unique_id=f"{unique_id}-before-call")
        events.register("after-call", self._on_response, unique_id=f"{unique_id}-after-call")
        self._hooked.append((events, unique_id))

    def start_counting(self) -> None:
        with self._lock:
            self.usage = Usage()
            self.not_counted.clear()
            self._counting = True

    def stop_counting(self) -> None:
        with self._lock:
            self._counting = False

    # -- Lambda ---------------------------------------------------------------------------------

    def _invoke(self, name: str, event: Any) -> Any:
        assert self._original_invoke is not None
        function = self._stack.runtime(name).spec.directory_name
        counting = self._counting
        previous = _current_function()
        _thread.function = function
        with self._lock:
            self.in_flight += 1
        hooks_before = _hook_seconds()
        started = time.perf_counter()
        try:
            return self._original_invoke(name, event)
        finally:
            ours = _hook_seconds() - hooks_before
            seconds = time.perf_counter() - started - ours
            _thread.function = previous
            billed = billed_milliseconds(seconds)
            with self._lock:
                self.in_flight -= 1
                if counting:
                    self.usage.billed_ms[function].append(billed)
                    self.usage.hook_ms[function].append(ours * 1000)
                    self.usage.gb_seconds += gb_seconds(billed, self._memory[function])
                    self.usage.units[(function, "lambda", "Invoke", "invocations")] += 1
                else:
                    self.first_call_ms.setdefault(function, billed)

    # -- botocore hooks ---------------------------------------------------------------------------

    def _on_params(self, source: str) -> Callable[..., None]:
        def on_params(params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
            with _hook_time():
                who = (_current_function() or OUTSIDE) if source == "function" else "stack"
                context[_CONTEXT_KEY] = _Pending(who, copy.deepcopy(params), self._counting)

        return on_params

    def _on_send(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        pending = context.get(_CONTEXT_KEY)
        if not isinstance(pending, _Pending) or not pending.counting or model.service_model.service_name != "dynamodb":
            return
        with _hook_time(), self._bench_errors_reported(model):
            pending.before = [self._stored(table, key) for table, key, _ in self._write_targets(model.name, pending)]

    def _on_response(
        self, http_response: Any, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        pending = context.pop(_CONTEXT_KEY, None)
        if not isinstance(pending, _Pending):
            return
        with _hook_time(), self._bench_errors_reported(model):
            service, operation = model.service_model.service_name, model.name
            if (
                service == "sqs"
                and operation == "DeleteMessageBatch"
                and pending.params.get("QueueUrl") in self._queues
            ):
                with self._lock:  # a message done with: how the run knows an invoice is through
                    self.settled_messages += len(parsed.get("Successful") or [])
            # Counted if it returned while counting: a long poll that began before start_counting
            # and returned the first measured message is that message's receive.
            if not self._counting or (service == "dynamodb" and not pending.counting):
                return
            error = None if http_response.status_code < 300 else str(parsed.get("Error", {}).get("Code", "error"))
            if error is not None:
                with self._lock:
                    self.usage.failed[f"{service} {operation} {error}"] += 1
            if service == "dynamodb":
                self._dynamodb(pending, operation, parsed, error)
            elif service == "sqs":
                self._sqs(pending, operation, parsed)
            elif service == "events" and operation == "PutEvents":
                who = PUBLISHER if pending.who == "stack" else pending.who
                events = sum(chunks(put_events_entry_bytes(entry)) for entry in pending.params.get("Entries", []))
                self._add(who, "eventbridge", operation, "events", Decimal(events))
            else:
                with self._lock:
                    self.usage.unpriced[f"{pending.who}: {service} {operation}"] += 1

    @contextlib.contextmanager
    def _bench_errors_reported(self, model: Any) -> Iterator[None]:
        """A fault in this bench must not fail the function it measures (the handler would be
        retried, and counted twice): it is reported with the table instead."""
        try:
            yield
        except Exception as error:
            with self._lock:
                self.usage.unpriced[f"bench error on {model.service_model.service_name} {model.name}: {error!r}"] += 1

    def _add(self, who: str, service: str, operation: str, unit: str, amount: Decimal, *, request: bool = True) -> None:
        with self._lock:
            self.usage.units[(who, service, operation, unit)] += amount
            if request:
                self.usage.requests[(who, service, operation)] += 1

    # -- SQS --------------------------------------------------------------------------------------

    def _sqs(self, pending: _Pending, operation: str, parsed: Mapping[str, Any]) -> None:
        params, who = pending.params, pending.who
        if who == "stack":
            if params.get("QueueUrl") not in self._queues:
                with self._lock:
                    self.not_counted[STAND_IN] += 1
                return
            who = EVENT_SOURCE_MAPPING
        payload = 0
        if operation == "SendMessage":
            payload = sqs_message_bytes(params["MessageBody"], params.get("MessageAttributes"))
        elif operation == "SendMessageBatch":
            payload = sum(sqs_message_bytes(e["MessageBody"], e.get("MessageAttributes")) for e in params["Entries"])
        elif operation == "ReceiveMessage":
            messages = parsed.get("Messages") or []
            if not messages:
                with self._lock:
                    self.not_counted[EMPTY_POLLS] += 1
                return
            payload = sum(sqs_message_bytes(m["Body"], m.get("MessageAttributes")) for m in messages)
        self._add(who, "sqs", operation, "requests", Decimal(chunks(payload)))

    # -- DynamoDB ---------------------------------------------------------------------------------

    def _shape(self, table: str) -> TableShape:
        if table not in self._tables:
            description = self._inspector.describe_table(TableName=table)["Table"]
            keys = tuple(key["AttributeName"] for key in description["KeySchema"])
            indexes = {
                index["IndexName"]: Index(
                    tuple(key["AttributeName"] for key in index["KeySchema"]), index["Projection"]
                )
                for index in description.get("GlobalSecondaryIndexes", [])
            }
            self._tables[table] = TableShape(keys, indexes)
        return self._tables[table]

    def _stored(self, table: str, key: Mapping[str, Any]) -> Item | None:
        """The item as moto stores it now, read in-process: a GetItem over HTTP would take the
        moto server's DynamoDB lock and milliseconds from the functions being measured."""
        stored = self._moto_dynamodb.get_table(table)
        hash_key, range_key = self._moto_dynamodb.get_keys_value(stored, dict(key))
        item = stored.get_item(hash_key, range_key)
        if item is None:
            return None
        return {name: value.to_regular_json() for name, value in item.attrs.items()}

    def _write_targets(self, operation: str, pending: _Pending) -> list[tuple[str, dict[str, Any], bool]]:
        """(table, key, transactional) of every item a write request changes."""
        params = pending.params
        actions: list[tuple[Mapping[str, Any], bool]] = []
        if operation in _WRITES:
            actions = [(params, False)]
        elif operation == "TransactWriteItems":
            actions = [(next(iter(action.values())), True) for action in params["TransactItems"]]
        targets = []
        for action, transactional in actions:
            shape = self._shape(action["TableName"])
            source = action.get("Key") or action["Item"]
            targets.append((action["TableName"], {name: source[name] for name in shape.keys}, transactional))
        return targets

    def _dynamodb(self, pending: _Pending, operation: str, parsed: Mapping[str, Any], error: str | None) -> None:
        params, who = pending.params, pending.who
        if operation == "GetItem":
            if error is None:
                item = parsed.get("Item")
                if "ProjectionExpression" in params or "AttributesToGet" in params:
                    item = self._stored(params["TableName"], params["Key"])  # a read costs the whole item
                units = read_units(item_size(item), consistent=bool(params.get("ConsistentRead")))
                self._add(who, "dynamodb", operation, "RRU", units)
            return
        if operation == "Query":
            if error is None:
                self._add(who, "dynamodb", operation, "RRU", self._query_units(params, parsed))
            return
        targets = self._write_targets(operation, pending)
        if not targets:
            with self._lock:
                self.usage.unpriced[f"{who}: dynamodb {operation} (no unit rule in this bench)"] += 1
            return
        table_units, index_units = Decimal(0), Decimal(0)
        for (table, key, transactional), before in zip(targets, pending.before, strict=True):
            if error is not None:
                # A write whose condition fails is still billed, by the item it found. A cancelled
                # transaction is counted the same way (not on the measured path).
                if error in {"ConditionalCheckFailedException", "TransactionCanceledException"}:
                    table_units += write_units(item_size(before), transactional=transactional)
                continue
            after = self._stored(table, key)
            table_units += write_units(max(item_size(before), item_size(after)), transactional=transactional)
            shape = self._shape(table)
            for index in shape.indexes.values():
                index_units += index_write_units(_entry(before, shape, index), _entry(after, shape, index), index.keys)
            if after is not None:
                with self._lock:
                    self.usage.stored[repr(sorted(key.items()))] = after
        self._add(who, "dynamodb", operation, "WRU", table_units)
        if index_units:
            self._add(who, "dynamodb", operation, "WRU (GSI upkeep)", index_units, request=False)

    def _query_units(self, params: Mapping[str, Any], parsed: Mapping[str, Any]) -> Decimal:
        """A Query is billed for every item it read, summed, then rounded up to 4 KB."""
        items: list[Item] = parsed.get("Items") or []
        if "FilterExpression" in params and int(parsed.get("ScannedCount", 0)) > len(items):
            with self._lock:  # the filtered-out items were read too, but the response has no trace of them
                self.usage.unpriced["dynamodb Query with a FilterExpression (items read are not in the response)"] += 1
        if "ProjectionExpression" in params or "Select" in params or "AttributesToGet" in params:
            shape = self._shape(params["TableName"])
            full = [self._stored(params["TableName"], {name: item[name] for name in shape.keys}) for item in items]
            items = [item for item in full if item is not None]
            index = shape.indexes.get(str(params.get("IndexName")))
            if index is not None:
                entries = [_entry(item, shape, index) for item in items]
                items = [entry for entry in entries if entry is not None]
        consistent = bool(params.get("ConsistentRead")) and "IndexName" not in params  # GSI reads are eventual
        return read_units(sum(item_size(item) for item in items), consistent=consistent)


def _entry(item: Item | None, shape: TableShape, index: Index) -> Item | None:
    return index_entry(item, index_keys=index.keys, table_keys=shape.keys, projection=index.projection)


# -- the run ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    label: str
    measured: Decimal
    floor: Decimal
    price: str  # a key of PRICES
    duration: bool = False  # Lambda duration: this machine's wall time, not production's


@dataclass
class Run:
    invoices: int
    usage: Usage
    stripe_calls: int
    stripe_floor: int
    memory_mb: dict[str, int]
    seconds: float
    not_counted: Counter[str]
    first_call_ms: dict[str, int]
    with_alert: bool = False


def _send_and_wait(stack: LocalStack, meter: AwsRequestMeter, store: DynamoDBStore, settled: int) -> str:
    """Put one invoice.finalized on the bus; return its id once synced and every invocation is over."""
    event = demo_event("finalized.json")
    invoice_id = f"inv_cost_{uuid.uuid4().hex[:10]}"
    event["detail"]["id"] = invoice_id
    stack.put_event(event)
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        sync = store.get_sync(invoice_id)
        if sync is not None and sync.status == "synced" and meter.settled_messages >= settled and meter.in_flight == 0:
            return invoice_id
        if sync is not None and sync.status == "failed":
            raise RuntimeError(f"invoice {invoice_id} failed to sync: {sync.reason}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"invoice {invoice_id} not synced after {WAIT_SECONDS}s (last status: {sync})")
        time.sleep(0.01)


def measure(invoices: int = INVOICES, *, with_alert: bool = False) -> Run:
    options = StackOptions(
        port=0,
        run_schedules=False,
        stripe_customers=DEMO_STRIPE_CUSTOMERS,
        # hermetic (never the developer's Stripe or AWS); the handlers' INFO lines would bury the table
        environ={"AWS_DEFAULT_REGION": "us-east-1", "LOG_LEVEL": "WARNING", "POWERTOOLS_LOG_LEVEL": "WARNING"},
    )
    with LocalStack(options) as stack:
        assert stack.stripe is not None
        store = DynamoDBStore(stack.clients.dynamodb, stack.table_name)  # the bench's own reads: not counted
        seed_demo_data(store)
        if with_alert:
            watch_with_an_alert(store)
        hops = 2 if with_alert else 1  # queue messages settled per invoice: stripe-sync (and alert-evaluation)
        with AwsRequestMeter(stack) as meter:
            # warm-up: each function's first call creates its clients
            _send_and_wait(stack, meter, store, settled=hops)
            meter.start_counting()
            stripe_before = len(stack.stripe.requests)
            started = time.perf_counter()
            for number in range(invoices):
                _send_and_wait(stack, meter, store, settled=hops * (2 + number))
            seconds = time.perf_counter() - started
            meter.stop_counting()
            stripe_calls = len(stack.stripe.requests) - stripe_before
        lines = len(demo_event("finalized.json")["detail"]["line_items"])
        return Run(
            invoices=invoices,
            usage=meter.usage,
            stripe_calls=stripe_calls,
            stripe_floor=2 + math.ceil(lines / ADD_LINES_MAX_PER_CALL),  # create, add_lines, finalize
            memory_mb={name: stack.runtime(name).spec.memory_mb for name in (ROUTER, WORKER, EVALUATOR)},
            seconds=seconds,
            not_counted=Counter(meter.not_counted),
            first_call_ms=dict(meter.first_call_ms),
            with_alert=with_alert,
        )


def _floor_item(usage: Usage, entity: str) -> Item:
    found = [item for item in usage.stored.values() if item.get("entity") == {"S": entity}]
    if not found:
        raise RuntimeError(f"no {entity!r} item was written during the run: the floor cannot be sized")
    return max(found, key=item_size)


def rows(run: Run) -> list[Row]:
    usage, n = run.usage, Decimal(run.invoices)
    invoice_item, sync_item = _floor_item(usage, "invoice"), _floor_item(usage, "sync")
    # The floor's compute: the two invocations at Lambda's 1 ms billing minimum.
    floor_gb_s = sum((gb_seconds(1, run.memory_mb[name]) for name in (ROUTER, WORKER)), Decimal(0))
    functions = (ROUTER, WORKER, EVALUATOR) if run.with_alert else (ROUTER, WORKER)
    memory = "/".join(sorted({f"{run.memory_mb[name]} MB" for name in functions}))
    return [
        Row("Lambda requests", usage.total("invocations") / n, Decimal(2), "lambda_request"),
        Row(f"Lambda GB-s ({memory} arm64)", usage.gb_seconds / n, floor_gb_s, "lambda_gb_second", duration=True),
        Row("DynamoDB RRU", usage.total("RRU") / n, Decimal(0), "dynamodb_rru"),
        Row(
            "DynamoDB WRU",
            (usage.total("WRU") + usage.total("WRU (GSI upkeep)")) / n,
            write_units(item_size(invoice_item)) + write_units(item_size(sync_item)),
            "dynamodb_wru",
        ),
        Row("SQS requests", usage.total("requests") / n, Decimal(3), "sqs_request"),
        Row("EventBridge events", usage.total("events") / n, Decimal(1), "eventbridge_event"),
    ]


def _price_text(key: str) -> str:
    price = PRICES[key]
    if key == "lambda_gb_second":
        return f"{price}/GB-s"
    text = f"{price * PER_MILLION:.3f}"
    return f"{text[:-1] if text.endswith('0') else text}/1M"


def _money(value: Decimal) -> str:
    return f"${value.quantize(Decimal('0.0001'))}"


def _ratio(measured: Decimal, floor: Decimal) -> str:
    if not floor:
        return "-" if measured else "1.00x"
    return f"{measured / floor:.2f}x"


def _number(value: Decimal) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".") if value else "0"


def print_report(run: Run) -> None:
    table = rows(run)
    usage, n = run.usage, Decimal(run.invoices)
    print("One invoice.finalized: EventBridge → invoice_router → SQS stripe-sync → stripe_sync → Stripe → sync record.")
    if run.with_alert:
        print(
            f"{WITH_ALERT}: the router also asks for the customer's evaluation → SQS alert-evaluation → alert_evaluator"
            "\n(the floor stays the invoice path's: the difference is what the alert costs)."
        )
    print(
        f"{run.invoices} invoices one at a time through the local stack (the real handlers, moto over HTTP), after 1 "
        f"warm-up;\nper invoice; USD per 1M invoices at us-east-1 on-demand list prices of {PRICES_TAKEN}."
    )
    header = f"{'':28}{'measured':>10}{'floor':>9}  {'list price':<18}{'per 1M':>10}{'floor 1M':>10}{'ratio':>8}"
    print(header)
    print("-" * len(header))
    for row in table:
        price = PRICES[row.price] * PER_MILLION
        print(
            f"{row.label:28}{_number(row.measured):>10}{_number(row.floor):>9}  {_price_text(row.price):<18}"
            f"{_money(row.measured * price):>10}{_money(row.floor * price):>10}{_ratio(row.measured, row.floor):>8}"
        )
    print("-" * len(header))
    for label, chosen in (("total", table), ("total without Lambda GB-s", [r for r in table if not r.duration])):
        cost = sum((r.measured * PRICES[r.price] for r in chosen), Decimal(0)) * PER_MILLION
        floor = sum((r.floor * PRICES[r.price] for r in chosen), Decimal(0)) * PER_MILLION
        print(f"{label:28}{'':19}  {'':18}{_money(cost):>10}{_money(floor):>10}{_ratio(cost, floor):>8}")
    stripe = Decimal(run.stripe_calls) / n
    print(f"{'Stripe API calls (not AWS)':28}{_number(stripe):>10}{run.stripe_floor:>9}{'':38}"
          f"{_ratio(stripe, Decimal(run.stripe_floor)):>8}")  # fmt: skip
    invoice_bytes, sync_bytes = (item_size(_floor_item(usage, entity)) for entity in ("invoice", "sync"))
    print(
        "floor: the router and the worker invoked once each at the 1 ms billing minimum; one PutItem of the invoice "
        f"item as\nstored ({invoice_bytes} B) and one of its sync record ({sync_bytes} B), no index; one queue hop "
        "(send, receive, delete); the\ninvoice.finalized event itself (the path's input: any design pays for it); "
        f"no reads; Stripe: create + ceil(lines / {ADD_LINES_MAX_PER_CALL})\nadd_lines + finalize."
    )

    print("\nper invoice, by who made the request:")
    for (who, service, operation), count in sorted(usage.requests.items()):
        units = {u: v for (w, s, o, u), v in usage.units.items() if (w, s, o) == (who, service, operation)}
        text = ", ".join(f"{_number(value / n)} {unit}" for unit, value in sorted(units.items()))
        print(f"  {who:26}{service + ' ' + operation:30}{_number(Decimal(count) / n):>6} x   {text}")
    print("\nLambda duration per invocation, ms: the handler call's wall time, rounded up to 1 ms")
    columns = (
        ("memory", 8),
        ("per invoice", 13),
        ("median", 8),
        ("mean", 8),
        ("hooks, taken off", 18),
        ("first call", 12),
    )
    print(f"  {'function':16}" + "".join(f"{name:>{width}}" for name, width in columns))
    for function in (ROUTER, WORKER, EVALUATOR):
        billed, hooks = usage.billed_ms.get(function, []), usage.hook_ms.get(function, [])
        if billed:
            print(
                f"  {function:16}{run.memory_mb[function]:>5} MB{_number(Decimal(len(billed)) / n):>13}"
                f"{statistics.median(billed):>8.0f}{statistics.mean(billed):>8.1f}{statistics.mean(hooks):>18.1f}"
                f"{run.first_call_ms.get(function, 0):>12}"
            )
    print(
        "  (hooks: this bench's own counting, not billed. first call: the warm-up invoice's, which creates the clients;"
        "\n  not counted. The imports of a cold start are Lambda's INIT, billed too: see bench/import_time.py)"
    )

    print("\nnot counted:")
    for reason in (EMPTY_POLLS, STAND_IN):
        count = run.not_counted[reason]
        print(f"  {reason}: {count} in the {run.seconds:.1f} s of the run")
    print(
        "  the stack's set-up (CreateTable, CreateQueue, PutRule, ...) and the warm-up invoice: before counting began"
    )
    for text, count in sorted(usage.unpriced.items()):
        print(f"  NOT PRICED by this bench: {text}: {count}")
    for text, count in sorted(usage.failed.items()):
        print(f"  failed requests (priced as AWS bills them): {text}: {count}")
    print(
        "Lambda GB-s are this machine's wall time against loopback moto and the Stripe double: in AWS every Stripe "
        "call adds\nits round trip, so production GB-s are higher; 'total without Lambda GB-s' compares requests and "
        "units alone."
    )


WITH_ALERT = "with a spend alert on the customer"


def watch_with_an_alert(store: DynamoDBStore) -> None:
    """A spend alert on the demo customer: the router asks for its evaluation with every invoice.
    The sample invoices' February 2025 is not the current period, so the spend is 0 and steady (no
    webhook): what is counted is asking, evaluating and reading, not a delivery."""
    spend = alert("alert_cost", SPEND, "10000.00", customer_id="cust_acme")
    store.create_alert_audited(spend, audit("alerts.create", spend.id))


def main() -> None:
    for with_alert in (False, True):
        with contextlib.redirect_stdout(io.StringIO()):  # the handlers' EMF metric lines go to stdout
            run = measure(with_alert=with_alert)
        if with_alert:
            print(f"\n--- the same invoices {WITH_ALERT} ---\n")
        print_report(run)


if __name__ == "__main__":
    main()
