"""Sync status never hides a router failure: rejected or failed events show `failed` in RouterDLQ.

But a rejection never overwrites an invoice that has an accepted version (it only adds an
attempt), and an event whose id is unusable leaves no status at all.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from shared.domain.sync import ROUTER_DLQ
from shared.ports.errors import PermanentError, RetryableError
from shared.services.route_invoice import RouterDependencies, route_invoice_event
from tests.builders import AZURE, STRIPE, configuration, contract, customer, invoice_event
from tests.fakes.memory_store import InMemoryStore, RecordingQueue

NOW = datetime(2025, 3, 1, 0, 5, tzinfo=UTC)


@pytest.fixture
def store() -> InMemoryStore:
    store = InMemoryStore()
    store.create_customer(customer("cust_acme", configuration(STRIPE, default=True)))
    store.create_contract(contract("con_azure", "cust_acme", override="azure_marketplace"))
    return store


def router(store: InMemoryStore) -> RouterDependencies:
    return RouterDependencies(
        store=store, stripe_queue=RecordingQueue(), dead_letters=RecordingQueue(), clock=lambda: NOW
    )


@pytest.fixture
def deps(store: InMemoryStore) -> RouterDependencies:
    return router(store)


def dead_lettered(deps: RouterDependencies) -> list[tuple[dict[str, Any], dict[str, str]]]:
    assert isinstance(deps.dead_letters, RecordingQueue)
    return deps.dead_letters.messages


# Rejections of each kind the router has: a bad field, an unknown customer or contract, a bad
# detail-type, a status that disagrees with it.
REJECTIONS = [
    pytest.param({"currency": "XYZ"}, "detail.currency", id="bad-field"),
    pytest.param({"customer_id": "cust_ghost"}, "detail.customer_id", id="unknown-customer"),
    pytest.param({"contract_id": "con_ghost"}, "detail.contract_id", id="unknown-contract"),
    pytest.param({"line_items": "many"}, "detail.line_items", id="bad-lines"),
]


@pytest.mark.parametrize(("overrides", "field"), REJECTIONS)
def test_a_rejected_invoice_shows_failed_with_the_dlq_reason_and_queue(
    deps: RouterDependencies, store: InMemoryStore, overrides: dict[str, Any], field: str
) -> None:
    result = route_invoice_event(invoice_event(**overrides), deps)
    assert (result.outcome, result.field) == ("rejected", field)
    [(_, attributes)] = dead_lettered(deps)
    sync = store.get_sync("inv_1")
    assert sync is not None
    assert (sync.status, sync.dead_letter_queue, sync.provider) == ("failed", ROUTER_DLQ, None)
    assert sync.reason == attributes["reason"]  # the DLQ's own reason
    assert field in (sync.reason or "")
    assert [(a.outcome, a.detail) for a in sync.attempts] == [("rejected", attributes["reason"])]
    assert store.get_invoice("inv_1") is None  # nothing stored for a rejection


def test_an_unknown_detail_type_shows_failed_too(deps: RouterDependencies, store: InMemoryStore) -> None:
    route_invoice_event(invoice_event("invoice.exploded"), deps)
    sync = store.get_sync("inv_1")
    assert sync is not None
    assert (sync.status, sync.dead_letter_queue) == ("failed", ROUTER_DLQ)
    assert "detail-type" in (sync.reason or "")


@pytest.mark.parametrize(
    "bad_id",
    [pytest.param(None, id="missing"), 17, "", "x" * 257, ["inv_1"], {"id": "inv_1"}, True],
)
def test_an_event_whose_id_is_unusable_leaves_nothing_to_find(
    deps: RouterDependencies, store: InMemoryStore, bad_id: object
) -> None:
    event = invoice_event()
    if bad_id is None:
        del event["detail"]["id"]
    else:
        event["detail"]["id"] = bad_id
    assert route_invoice_event(event, deps).outcome == "rejected"
    assert len(dead_lettered(deps)) == 1  # still never lost
    assert store.syncs == {}


@pytest.mark.parametrize("detail", ["not an object", None, ["inv_1"]])
def test_an_event_without_a_detail_object_leaves_nothing_to_find(
    deps: RouterDependencies, store: InMemoryStore, detail: object
) -> None:
    event: dict[str, Any] = {**invoice_event(), "detail": detail}
    assert route_invoice_event(event, deps).outcome == "rejected"
    assert store.syncs == {}


def test_a_rejection_never_overwrites_an_accepted_version(deps: RouterDependencies, store: InMemoryStore) -> None:
    assert route_invoice_event(invoice_event(version=7), deps).outcome == "queued"
    before = store.get_sync("inv_1")
    assert before is not None

    assert route_invoice_event(invoice_event(version=8, currency="XYZ"), deps).outcome == "rejected"

    after = store.get_sync("inv_1")
    assert after is not None
    assert (after.status, after.reason, after.dead_letter_queue) == (before.status, before.reason, None)
    assert [a.outcome for a in after.attempts] == ["routed:queued", "rejected"]
    assert "detail.currency" in (after.attempts[-1].detail or "")
    assert store.get_invoice("inv_1") is not None


def test_an_accepted_event_after_rejections_replaces_the_failure(
    deps: RouterDependencies, store: InMemoryStore
) -> None:
    route_invoice_event(invoice_event(customer_id="cust_later"), deps)
    route_invoice_event(invoice_event(customer_id="cust_later", version=8), deps)  # a second rejection
    failed = store.get_sync("inv_1")
    assert failed is not None
    assert (failed.status, len(failed.attempts)) == ("failed", 2)
    store.create_customer(customer("cust_later", configuration(STRIPE, default=True)))

    assert route_invoice_event(invoice_event(customer_id="cust_later", version=8), deps).outcome == "queued"  # redrive

    sync = store.get_sync("inv_1")
    assert sync is not None
    assert (sync.status, sync.dead_letter_queue, sync.provider) == ("pending", None, "stripe")
    assert [a.outcome for a in sync.attempts] == ["rejected", "rejected", "routed:queued"]
    # accepted now: a later rejection only adds its attempt
    route_invoice_event(invoice_event(customer_id="cust_later", currency="XYZ", version=9), deps)
    assert store.get_sync("inv_1").status == "pending"  # type: ignore[union-attr]


def test_a_stored_invoice_that_cannot_be_dispatched_shows_failed_in_the_router_dlq(
    deps: RouterDependencies, store: InMemoryStore
) -> None:
    result = route_invoice_event(invoice_event(contract_id="con_azure"), deps)
    assert result.outcome == "rejected"
    sync = store.get_sync("inv_1")
    assert sync is not None
    assert (sync.status, sync.dead_letter_queue) == ("failed", ROUTER_DLQ)
    assert store.get_invoice("inv_1") is not None  # stored: this version was accepted
    store.customers["cust_acme"] = customer("cust_acme", configuration(STRIPE, default=True), configuration(AZURE))
    assert route_invoice_event(invoice_event(contract_id="con_azure"), deps).outcome == "outboxed"
    fixed = store.get_sync("inv_1")
    assert fixed is not None
    assert (fixed.status, fixed.dead_letter_queue) == ("pending", None)


class FailingStore(InMemoryStore):
    """The table fails the named calls (as a throttled or unreachable DynamoDB would)."""

    def __init__(self, **failing: Exception) -> None:
        super().__init__()
        self.failing = failing

    def __getattribute__(self, name: str) -> Any:
        failing: dict[str, Exception] = super().__getattribute__("__dict__").get("failing", {})
        if name in failing:

            def fail(*args: Any, **kwargs: Any) -> Any:
                raise failing[name]

            return fail
        return super().__getattribute__(name)


def failing_router(**failing: Exception) -> tuple[FailingStore, RouterDependencies]:
    store = FailingStore(**failing)
    store.create_customer(customer("cust_acme", configuration(STRIPE, default=True)))
    return store, router(store)


@pytest.mark.parametrize("failing", ["get_customer", "save_invoice"])
def test_a_failure_before_anything_was_routed_shows_failed_and_a_successful_retry_replaces_it(failing: str) -> None:
    store, deps = failing_router(**{failing: RetryableError("DynamoDB TransactWriteItems throttled:\nretry later")})
    with pytest.raises(RetryableError):
        route_invoice_event(invoice_event(), deps)

    sync = store.get_sync("inv_1")
    assert sync is not None
    assert (sync.status, sync.dead_letter_queue, sync.provider) == ("failed", ROUTER_DLQ, None)
    assert "routing did not finish: DynamoDB TransactWriteItems throttled: retry later" in (sync.reason or "")
    assert "\n" not in (sync.reason or "")
    assert dead_lettered(deps) == []  # Lambda's on-failure destination dead-letters it, not the router

    store.failing.clear()
    assert route_invoice_event(invoice_event(), deps).outcome == "queued"  # Lambda's retry
    retried = store.get_sync("inv_1")
    assert retried is not None
    assert (retried.status, retried.dead_letter_queue) == ("pending", None)


class FailingQueue(RecordingQueue):
    def send(self, body: Any, attributes: Any = None) -> str:
        raise PermanentError("SQS SendMessage refused: the queue does not exist")


def test_a_stored_invoice_that_never_reached_its_queue_shows_failed_not_pending(store: InMemoryStore) -> None:
    deps = router(store)
    deps.stripe_queue = FailingQueue()
    with pytest.raises(PermanentError):
        route_invoice_event(invoice_event(), deps)
    sync = store.get_sync("inv_1")
    assert sync is not None
    assert (sync.status, sync.dead_letter_queue, sync.provider) == ("failed", ROUTER_DLQ, "stripe")
    assert "the queue does not exist" in (sync.reason or "")
    assert [a.outcome for a in sync.attempts] == ["routed:queued", "router_error"]
    deps.stripe_queue = RecordingQueue()
    assert route_invoice_event(invoice_event(), deps).outcome == "queued"  # the retry finishes the routing
    assert store.get_sync("inv_1").status == "pending"  # type: ignore[union-attr]


def test_a_failure_on_an_invoice_with_an_accepted_status_only_adds_an_attempt() -> None:
    store, deps = failing_router()
    route_invoice_event(invoice_event(), deps)
    store.failing["save_invoice"] = RetryableError("throttled")
    with pytest.raises(RetryableError):
        route_invoice_event(invoice_event(version=8), deps)
    sync = store.get_sync("inv_1")
    assert sync is not None
    assert (sync.status, sync.dead_letter_queue) == ("pending", None)
    assert sync.attempts[-1].outcome == "router_error"


def test_a_failure_without_a_usable_id_or_a_table_records_nothing() -> None:
    store, deps = failing_router(get_customer=RetryableError("throttled"))
    event = invoice_event()
    event["detail"]["id"] = 5
    assert route_invoice_event(event, deps).outcome == "rejected"  # a bad id is a rejection first
    assert store.syncs == {}

    down, down_deps = failing_router(
        get_customer=RetryableError("throttled"), record_rejection=RetryableError("DynamoDB unreachable")
    )
    with pytest.raises(RetryableError, match="throttled"):  # the original error, not the recording's
        route_invoice_event(invoice_event(), down_deps)
    assert down.syncs == {}
