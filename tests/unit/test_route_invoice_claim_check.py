"""The router with claim checks, on fakes: read, validated and stored as inline lines; an object
that cannot be read is a rejection naming detail.line_items_uri; S3 trouble is retried."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.domain.invoice_storage import MAX_HEAD_BYTES
from shared.ports.claim_checks import ClaimCheckUnreadable
from shared.ports.errors import RetryableError
from shared.services.route_invoice import RouterDependencies, route_invoice_event
from tests.builders import STRIPE, configuration, customer, hourly_lines, invoice_event, large_invoice_event
from tests.fakes.memory_store import InMemoryStore, RecordingQueue

NOW = datetime(2025, 3, 1, 0, 5, tzinfo=UTC)
URI = "s3://claims-bucket/inv_1.json"


class FakeClaimChecks:
    """Objects by uri; a missing one is unreadable, `failing` raises what S3 trouble raises."""

    def __init__(self, objects: dict[str, bytes] | None = None, failing: Exception | None = None) -> None:
        self.objects = objects or {}
        self.failing = failing
        self.reads: list[str] = []

    def read(self, uri: str) -> bytes:
        self.reads.append(uri)
        if self.failing is not None:
            raise self.failing
        if uri not in self.objects:
            raise ClaimCheckUnreadable(f"{uri}: no such object")
        return self.objects[uri]


def deps_with(claim_checks: Any = None) -> RouterDependencies:
    store = InMemoryStore()
    store.create_customer(customer("cust_acme", configuration(STRIPE, default=True)))
    deps = RouterDependencies(
        store=store, stripe_queue=RecordingQueue(), dead_letters=RecordingQueue(), clock=lambda: NOW
    )
    if claim_checks is not None:
        deps.claim_checks = claim_checks
    return deps


def as_claim_check(event: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    document = json.dumps(event["detail"]["line_items"]).encode()
    return {**event, "detail": {**event["detail"], "line_items": [], "line_items_uri": URI}}, document


def store_of(deps: RouterDependencies) -> InMemoryStore:
    assert isinstance(deps.store, InMemoryStore)
    return deps.store


def dead_letters(deps: RouterDependencies) -> list[tuple[dict[str, Any], dict[str, str]]]:
    assert isinstance(deps.dead_letters, RecordingQueue)
    return deps.dead_letters.messages


def test_a_claim_check_is_routed_and_stored_exactly_as_its_inline_event() -> None:
    inline = large_invoice_event(50, 24)
    event, document = as_claim_check(inline)
    via_claim = deps_with(FakeClaimChecks({URI: document}))
    via_inline = deps_with()

    assert route_invoice_event(event, via_claim).outcome == "queued"
    assert route_invoice_event(inline, via_inline).outcome == "queued"
    assert store_of(via_claim).get_invoice("inv_1") == store_of(via_inline).get_invoice("inv_1")
    stored = store_of(via_claim).get_invoice("inv_1")
    assert stored is not None
    assert len(stored.line_items) == 50
    assert len(stored.line_items[0].buckets) == 24
    assert stored.line_items_uri is None
    assert dead_letters(via_claim) == []


@pytest.mark.parametrize(
    "reader",
    [FakeClaimChecks(), None],  # a missing object; a router without a claim-check bucket
    ids=["missing object", "no bucket configured"],
)
def test_an_unreadable_claim_check_is_dead_lettered_naming_line_items_uri(reader: Any) -> None:
    event, _ = as_claim_check(invoice_event())
    deps = deps_with(reader)
    result = route_invoice_event(event, deps)
    assert (result.outcome, result.field) == ("rejected", "detail.line_items_uri")
    assert result.reason is not None
    assert URI in result.reason
    [(body, attributes)] = dead_letters(deps)
    assert body == event  # the event as received: a redrive once the object is there routes it
    assert attributes["field"] == "detail.line_items_uri"
    assert store_of(deps).get_invoice("inv_1") is None


def test_a_bad_line_in_the_object_is_named_by_its_path() -> None:
    lines = hourly_lines(5, 2)
    lines[3]["total"] = "lots"
    event, document = as_claim_check(invoice_event(line_items=lines))
    deps = deps_with(FakeClaimChecks({URI: document}))
    result = route_invoice_event(event, deps)
    assert (result.outcome, result.field) == ("rejected", "detail.line_items.3.total")
    assert result.reason is not None
    assert f"in the claim check {URI}" in result.reason
    assert store_of(deps).get_invoice("inv_1") is None


@pytest.mark.parametrize(
    "trouble", [RetryableError("S3 GetObject was throttled (SlowDown)", code="SlowDown"), ConnectionError("reset")]
)
def test_s3_trouble_raises_so_lambda_retries_the_event(trouble: Exception) -> None:
    event, _ = as_claim_check(invoice_event())
    deps = deps_with(FakeClaimChecks(failing=trouble))
    with pytest.raises(type(trouble)):
        route_invoice_event(event, deps)
    assert dead_letters(deps) == []
    assert store_of(deps).get_invoice("inv_1") is None


def test_the_object_is_not_read_for_an_event_rejected_anyway() -> None:
    reader = FakeClaimChecks()
    event, _ = as_claim_check(invoice_event(customer_id="cust_nobody"))
    result = route_invoice_event(event, deps_with(reader))
    assert result.field == "detail.customer_id"
    assert reader.reads == []


def test_an_invoice_too_large_outside_its_lines_is_a_rejection_naming_the_field() -> None:
    fields = {f"key_{n}": "v" * 1000 for n in range(MAX_HEAD_BYTES // 1000 + 1)}
    deps = deps_with()
    result = route_invoice_event(invoice_event(custom_fields=fields), deps)
    assert (result.outcome, result.field) == ("rejected", "detail.custom_fields")
    assert result.reason is not None
    assert f"at most {MAX_HEAD_BYTES:,} bytes" in result.reason
    assert store_of(deps).get_invoice("inv_1") is None


def test_thousands_of_inline_lines_are_routed_not_dead_lettered() -> None:
    # ~2,500 lines: the size at which the invoice stopped fitting one DynamoDB item.
    deps = deps_with()
    result = route_invoice_event(large_invoice_event(2_500, 1), deps)
    assert result.outcome == "queued"
    stored = store_of(deps).get_invoice("inv_1")
    assert stored is not None
    assert len(stored.line_items) == 2_500
