"""The router's answer to events out of bounds: a DLQ message naming the field, nothing stored, no
exception — one regression test per class (edge dates, huge integers, decimals, deep JSON, ids)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from functions.invoice_router.handler import lambda_handler
from local.lambda_context import LocalLambdaContext
from shared.adapters.sqs_queue import SQS_MAX_MESSAGE_BYTES
from shared.services.route_invoice import RouterDependencies, route_invoice_event
from tests.builders import STRIPE, configuration, customer, invoice_event
from tests.fakes.memory_store import InMemoryStore, RecordingQueue

NOW = datetime(2025, 3, 1, 0, 5, tzinfo=UTC)
EDGE_DATES = ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59-05:00", "1969-12-31T23:59:59Z", "9999-12-30T00:00:01Z"]


@pytest.fixture
def deps() -> RouterDependencies:
    store = InMemoryStore()
    store.create_customer(customer("cust_acme", configuration(STRIPE, default=True)))
    return RouterDependencies(store, RecordingQueue(), RecordingQueue(), lambda: NOW)


def _nested(depth: int, leaf: Any = "x") -> Any:
    for _ in range(depth):
        leaf = [leaf]
    return leaf


def rejected(deps: RouterDependencies, event: dict[str, Any]) -> tuple[str | None, str]:
    """The DLQ's field and reason for `event`, after checking nothing was stored or queued."""
    result = route_invoice_event(event, deps)
    assert result.outcome == "rejected", result
    store, dead_letters, stripe = deps.store, deps.dead_letters, deps.stripe_queue
    assert isinstance(store, InMemoryStore)
    assert isinstance(dead_letters, RecordingQueue)
    assert isinstance(stripe, RecordingQueue)
    assert (store.invoices, store.outbox, stripe.messages) == ({}, {}, [])
    # The one trace a rejection leaves: its invoice's sync status says failed, with the DLQ.
    assert all((sync.status, sync.dead_letter_queue) == ("failed", "RouterDLQ") for sync in store.syncs.values())
    (body, attributes), *more = dead_letters.messages
    assert not more
    assert len(json.dumps(body, default=str)) < SQS_MAX_MESSAGE_BYTES  # what the SQS adapter would send
    return attributes.get("field"), attributes["reason"]


@pytest.mark.parametrize("moment", EDGE_DATES)
@pytest.mark.parametrize("field", ["start_timestamp", "end_timestamp", "issued_at"])
def test_event_timestamps_at_the_edges_are_rejected_by_field(deps: RouterDependencies, field: str, moment: str) -> None:
    assert rejected(deps, invoice_event(**{field: moment}))[0] == f"detail.{field}"


@pytest.mark.parametrize("moment", EDGE_DATES)
def test_bucket_timestamps_at_the_edges_are_rejected_by_field(deps: RouterDependencies, moment: str) -> None:
    event = invoice_event()
    event["detail"]["line_items"][0]["buckets"][0]["starting_at"] = moment
    assert rejected(deps, event)[0] == "detail.line_items.0.buckets.0.starting_at"


def test_the_first_and_last_accepted_moments_are_routed(deps: RouterDependencies) -> None:
    event = invoice_event(start_timestamp="1970-01-01T00:00:00Z", end_timestamp="9999-12-29T19:00:00-05:00")
    assert route_invoice_event(event, deps).outcome == "queued"


@pytest.mark.parametrize("version", [10**40, 2**53, -1, 7.0, "7", True])
def test_versions_are_json_integers_below_2_to_the_53(deps: RouterDependencies, version: Any) -> None:
    assert rejected(deps, invoice_event(version=version))[0] == "detail.version"


def test_the_largest_version_is_routed(deps: RouterDependencies) -> None:
    assert route_invoice_event(invoice_event(version=2**53 - 1), deps).outcome == "queued"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"subtotal": "-1530.0045"}, "detail.subtotal"),
        ({"subtotal": "1_530.0045"}, "detail.subtotal"),
        ({"total": "1e3"}, "detail.total"),
        ({"total": "-0.01"}, "detail.total"),
        ({"applied_credits": [{"id": "c", "type": "PREPAID", "amount": "-5"}]}, "detail.applied_credits.0.amount"),
        ({"subtotal": "\u0661\u0665\u0663\u0660"}, "detail.subtotal"),
        ({"subtotal": "1" * 31}, "detail.subtotal"),
    ],
)
def test_decimals_out_of_bounds_are_rejected_by_field(
    deps: RouterDependencies, overrides: dict[str, Any], field: str
) -> None:
    assert rejected(deps, invoice_event(**overrides))[0] == field


def test_a_negative_line_total_is_allowed(deps: RouterDependencies) -> None:
    event = invoice_event()
    event["detail"]["line_items"][0]["total"] = "-10.00"
    assert route_invoice_event(event, deps).outcome == "queued"


def test_thirty_digit_totals_route_without_arithmetic_errors(deps: RouterDependencies) -> None:
    big = "9" * 28 + ".00"
    assert route_invoice_event(invoice_event(subtotal=big, total=big, applied_credits=[]), deps).outcome == "queued"


@pytest.mark.parametrize("depth", [65, 10_000, 200_000])
def test_an_event_nested_too_deep_is_rejected_naming_the_key(deps: RouterDependencies, depth: int) -> None:
    event = invoice_event()
    event["detail"]["upstream_meta"] = _nested(depth)  # a key the model ignores
    field, reason = rejected(deps, event)
    assert field == "detail.upstream_meta"
    assert "nested deeper than 64 levels" in reason


@pytest.mark.parametrize(
    ("key", "value", "field"),
    [
        ("custom_fields", {"region": _nested(10_000)}, "detail.custom_fields.region"),
        ("line_items", _nested(10_000), "detail.line_items.0"),
    ],
)
def test_a_known_field_holding_nesting_is_named_by_itself(
    deps: RouterDependencies, key: str, value: Any, field: str
) -> None:
    assert rejected(deps, invoice_event(**{key: value}))[0] == field


def test_the_dlq_body_of_a_deep_event_is_the_event_clipped(deps: RouterDependencies) -> None:
    event = invoice_event()
    event["resources"] = _nested(50_000)
    assert rejected(deps, event)[0] == "resources"
    assert isinstance(deps.dead_letters, RecordingQueue)
    body = deps.dead_letters.bodies[0]
    assert body["detail"] == event["detail"]  # what is within bounds stays as received
    assert "nested deeper than 64 levels" in json.dumps(body["resources"])


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("id",), "inv\x00"),
        (("id",), "i" * 257),
        (("customer_id",), "cust\nacme"),
        (("line_items", 0, "id"), "li\u2028"),
        (("line_items", 0, "name"), "\u200b "),
        (("line_items", 0, "name"), "API\x07calls"),
        (("applied_credits", 0, "id"), ""),
        (("custom_fields",), {"region": "eu\ud800"}),
    ],
)
def test_unprintable_ids_blank_names_and_lone_surrogates_are_rejected(
    deps: RouterDependencies, path: tuple[Any, ...], value: Any
) -> None:
    event = invoice_event()
    node: Any = event["detail"]
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    expected = ".".join(["detail", *map(str, path)]) + (".region" if path == ("custom_fields",) else "")
    assert rejected(deps, event)[0] == expected


def test_printable_unicode_ids_are_routed(deps: RouterDependencies) -> None:
    event = invoice_event(id="facture n° 7 — 請求書 \U0001f9fe")
    event["detail"]["line_items"][0]["id"] = "ligne 1"
    assert route_invoice_event(event, deps).outcome == "queued"


def test_the_handler_logs_no_traceback_for_an_id_nested_deep(
    deps: RouterDependencies, capsys: pytest.CaptureFixture[str]
) -> None:
    event = invoice_event(id=_nested(50_000), customer_id={"nested": _nested(50_000)})
    result = lambda_handler(event, LocalLambdaContext("InvoiceRouterFunction"), deps=deps)
    assert (result["outcome"], result["field"]) == ("rejected", "detail.id")
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert "Logging error" not in captured.err
