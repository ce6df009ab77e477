"""The router use case on in-memory fakes: resolution, dispatch, rejection, version ordering."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.adapters.sqs_queue import sqs_safe
from shared.domain.sync import SyncAttempt
from shared.services.route_invoice import RouterDependencies, route_invoice_event
from tests.builders import AWS, AZURE, STRIPE, configuration, contract, customer, invoice_event
from tests.fakes.memory_store import InMemoryStore, RecordingQueue

NOW = datetime(2025, 3, 1, 0, 5, tzinfo=UTC)


@pytest.fixture
def deps() -> RouterDependencies:
    store = InMemoryStore()
    store.create_customer(customer("cust_acme", configuration(STRIPE, default=True), configuration(AWS)))
    store.create_customer(customer("cust_azure", configuration(AZURE)))
    store.create_customer(customer("cust_none"))
    store.create_customer(customer("cust_two", configuration(STRIPE), configuration(AWS)))
    store.create_contract(contract("con_default", "cust_acme"))
    store.create_contract(contract("con_aws", "cust_acme", override="aws_marketplace"))
    store.create_contract(contract("con_azure", "cust_acme", override="azure_marketplace"))
    return RouterDependencies(
        store=store, stripe_queue=RecordingQueue(), dead_letters=RecordingQueue(), clock=lambda: NOW
    )


def store_of(deps: RouterDependencies) -> InMemoryStore:
    assert isinstance(deps.store, InMemoryStore)
    return deps.store


def queue_of(queue: Any) -> RecordingQueue:
    assert isinstance(queue, RecordingQueue)
    return queue


def test_finalized_invoice_goes_to_the_stripe_queue(deps: RouterDependencies) -> None:
    result = route_invoice_event(invoice_event(contract_id="con_default"), deps)
    assert (result.outcome, result.provider) == ("queued", "stripe")
    assert queue_of(deps.stripe_queue).bodies == [{"invoice_id": "inv_1", "version": 7, "action": "sync"}]
    sync = store_of(deps).get_sync("inv_1")
    assert sync is not None
    assert (sync.status, sync.provider) == ("pending", "stripe")


def test_contract_override_sends_to_aws_outbox_although_customer_default_is_stripe(deps: RouterDependencies) -> None:
    result = route_invoice_event(invoice_event(contract_id="con_aws"), deps)
    assert (result.outcome, result.provider) == ("outboxed", "aws_marketplace")
    assert queue_of(deps.stripe_queue).bodies == []
    entry = store_of(deps).outbox[("inv_1", "aws_marketplace")]
    assert entry["target_amount"] == Decimal("1234.56")


def test_only_configuration_routes_to_azure(deps: RouterDependencies) -> None:
    result = route_invoice_event(invoice_event(customer_id="cust_azure"), deps)
    assert (result.outcome, result.provider) == ("outboxed", "azure_marketplace")


@pytest.mark.parametrize("customer_id", ["cust_none", "cust_two"])
def test_no_resolvable_default_is_stored_and_skipped(deps: RouterDependencies, customer_id: str) -> None:
    result = route_invoice_event(invoice_event(customer_id=customer_id), deps)
    assert result.outcome == "skipped"
    sync = store_of(deps).get_sync("inv_1")
    assert sync is not None
    assert sync.status == "skipped"
    assert sync.reason
    assert store_of(deps).get_invoice("inv_1") is not None


def test_contract_naming_a_provider_the_customer_lacks_goes_to_dlq(deps: RouterDependencies) -> None:
    result = route_invoice_event(invoice_event(contract_id="con_azure"), deps)
    assert result.outcome == "rejected"
    assert result.field == "detail.contract_id"
    [(body, attributes)] = queue_of(deps.dead_letters).messages
    assert "azure_marketplace" in attributes["reason"]
    assert attributes["field"] == "detail.contract_id"
    assert body["detail"]["id"] == "inv_1"
    sync = store_of(deps).get_sync("inv_1")
    assert sync is not None
    assert sync.status == "failed"


def test_redriven_event_routes_once_the_configuration_is_fixed(deps: RouterDependencies) -> None:
    store = store_of(deps)
    event = invoice_event(contract_id="con_azure")
    assert route_invoice_event(event, deps).outcome == "rejected"
    store.customers["cust_acme"] = customer(
        "cust_acme", configuration(STRIPE, default=True), configuration(AWS), configuration(AZURE)
    )
    assert route_invoice_event(event, deps).outcome == "outboxed"


def test_unknown_customer_is_rejected_naming_customer_id(deps: RouterDependencies) -> None:
    result = route_invoice_event(invoice_event(customer_id="cust_ghost"), deps)
    assert (result.outcome, result.field) == ("rejected", "detail.customer_id")
    assert store_of(deps).get_invoice("inv_1") is None


@pytest.mark.parametrize("contract_id", ["con_ghost", "con_other"])
def test_unknown_or_foreign_contract_is_rejected(deps: RouterDependencies, contract_id: str) -> None:
    store_of(deps).create_contract(contract("con_other", "cust_azure"))
    result = route_invoice_event(invoice_event(contract_id=contract_id), deps)
    assert (result.outcome, result.field) == ("rejected", "detail.contract_id")


def test_invalid_event_lands_in_dlq_with_field_and_original_event(deps: RouterDependencies) -> None:
    event = invoice_event(currency="XYZ")
    result = route_invoice_event(event, deps)
    assert result.outcome == "rejected"
    [(body, attributes)] = queue_of(deps.dead_letters).messages
    assert body == event  # the original event, ready to be put on the bus again
    assert attributes["field"] == "detail.currency"
    assert "detail.currency" in attributes["reason"]
    assert "inv_1" in attributes["reason"]
    assert attributes["source"] == "invoice_router"


def test_event_that_is_not_an_object_has_no_field_attribute(deps: RouterDependencies) -> None:
    event = {"source": "downbeat.billing", "detail-type": "invoice.finalized", "detail": "x"}
    route_invoice_event(event, deps)
    [(body, attributes)] = queue_of(deps.dead_letters).messages
    assert body == event
    assert attributes["field"] == "detail"


@pytest.mark.parametrize("detail_ok", [True, False], ids=["valid detail", "invalid detail"])
def test_an_unknown_detail_type_is_dead_lettered_naming_it_and_the_accepted_ones(
    deps: RouterDependencies, detail_ok: bool
) -> None:
    # The rule takes every downbeat.billing event: a renamed detail-type must surface here, named,
    # even when its detail has problems of its own.
    event = invoice_event("invoice.exploded", **({} if detail_ok else {"total": "oops"}))
    result = route_invoice_event(event, deps)
    assert (result.outcome, result.field, result.invoice_id) == ("rejected", "detail-type", "inv_1")
    [(body, attributes)] = queue_of(deps.dead_letters).messages
    assert body == event
    assert attributes["field"] == "detail-type"
    assert attributes["reason"] == (
        "invoice inv_1 rejected: detail-type: unknown detail-type 'invoice.exploded': "
        "accepted are invoice.finalized, invoice.updated, invoice.voided"
    )
    assert store_of(deps).get_invoice("inv_1") is None
    assert queue_of(deps.stripe_queue).bodies == []


def test_duplicate_event_is_a_no_op(deps: RouterDependencies) -> None:
    event = invoice_event()
    route_invoice_event(event, deps)
    assert route_invoice_event(event, deps).outcome == "duplicate"
    assert len(queue_of(deps.stripe_queue).messages) == 1


def test_older_version_after_newer_is_ignored(deps: RouterDependencies) -> None:
    route_invoice_event(invoice_event(version=8, total="10.00"), deps)
    result = route_invoice_event(invoice_event(version=7, total="20.00"), deps)
    assert result.outcome == "stale"
    stored = store_of(deps).get_invoice("inv_1")
    assert stored is not None
    assert (stored.version, stored.total) == (8, Decimal("10.00"))
    assert len(queue_of(deps.stripe_queue).messages) == 1


def test_newer_version_replaces_and_is_dispatched_again(deps: RouterDependencies) -> None:
    route_invoice_event(invoice_event(version=7), deps)
    assert route_invoice_event(invoice_event(version=9, total="99.00"), deps).outcome == "queued"
    assert [body["version"] for body in queue_of(deps.stripe_queue).bodies] == [7, 9]


def test_duplicate_of_an_event_whose_dispatch_crashed_is_dispatched(deps: RouterDependencies) -> None:
    class Crashing(RecordingQueue):
        def send(self, body: Any, attributes: Any = None) -> str:
            raise ConnectionError("SQS unreachable")

    good_queue = deps.stripe_queue
    deps.stripe_queue = Crashing()
    with pytest.raises(ConnectionError):
        route_invoice_event(invoice_event(), deps)
    deps.stripe_queue = good_queue
    assert route_invoice_event(invoice_event(), deps).outcome == "queued"
    assert route_invoice_event(invoice_event(), deps).outcome == "duplicate"


def test_draft_for_stripe_is_stored_pending(deps: RouterDependencies) -> None:
    result = route_invoice_event(invoice_event(status="DRAFT"), deps)
    assert result.outcome == "stored"
    sync = store_of(deps).get_sync("inv_1")
    assert sync is not None
    assert sync.status == "pending"
    assert "DRAFT" in (sync.reason or "")
    assert queue_of(deps.stripe_queue).bodies == []


def test_void_for_stripe_is_queued_as_void(deps: RouterDependencies) -> None:
    route_invoice_event(invoice_event(version=7), deps)
    route_invoice_event(invoice_event(version=8, status="VOID"), deps)
    assert queue_of(deps.stripe_queue).bodies[-1] == {"invoice_id": "inv_1", "version": 8, "action": "void"}


def test_marketplace_non_usd_fails_permanently_without_dlq(deps: RouterDependencies) -> None:
    result = route_invoice_event(invoice_event(customer_id="cust_azure", currency="EUR"), deps)
    assert result.outcome == "failed"
    sync = store_of(deps).get_sync("inv_1")
    assert sync is not None
    assert sync.status == "failed"
    assert "USD" in (sync.reason or "")
    assert queue_of(deps.dead_letters).bodies == []


def test_lifetime_billings_follow_finalized_versions_and_voids(deps: RouterDependencies) -> None:
    store = store_of(deps)
    route_invoice_event(invoice_event(id="a", version=1, status="DRAFT", total="5.00"), deps)
    route_invoice_event(invoice_event(id="b", version=1, total="10.00"), deps)
    route_invoice_event(invoice_event(id="c", version=1, total="7.00", currency="EUR"), deps)
    assert store.customers["cust_acme"].lifetime_billings == {"USD": Decimal("10.00"), "EUR": Decimal("7.00")}
    route_invoice_event(invoice_event(id="b", version=2, total="12.50"), deps)
    route_invoice_event(invoice_event(id="c", version=2, total="7.00", currency="EUR", status="VOID"), deps)
    assert store.customers["cust_acme"].lifetime_billings == {"USD": Decimal("12.50"), "EUR": Decimal("0.00")}


def test_a_worker_that_finishes_before_the_router_returns_keeps_its_status(deps: RouterDependencies) -> None:
    """The Stripe worker can settle the invoice before the router's own write: the router writes first."""
    store = store_of(deps)

    class InstantWorker(RecordingQueue):
        def send(self, body: Any, attributes: Any = None) -> str:
            message_id = super().send(body, attributes)
            attempt = SyncAttempt(at=NOW, outcome="synced")
            store.record_sync(body["invoice_id"], provider="stripe", status="synced", reason="done", attempt=attempt)
            return message_id

    deps.stripe_queue = InstantWorker()
    assert route_invoice_event(invoice_event(), deps).outcome == "queued"
    sync = store.get_sync("inv_1")
    assert sync is not None
    assert sync.status == "synced"
    assert [attempt.outcome for attempt in sync.attempts] == ["routed:queued", "synced"]


def test_an_event_reads_its_customer_and_contract_once(
    deps: RouterDependencies, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the check read is what routing uses: one read of each per event, not two."""
    store = store_of(deps)
    reads: list[str] = []
    get_customer, get_contract = store.get_customer, store.get_contract

    def counted_customer(customer_id: str) -> Any:
        reads.append("customer")
        return get_customer(customer_id)

    def counted_contract(customer_id: str, contract_id: str) -> Any:
        reads.append("contract")
        return get_contract(customer_id, contract_id)

    monkeypatch.setattr(store, "get_customer", counted_customer)
    monkeypatch.setattr(store, "get_contract", counted_contract)
    assert route_invoice_event(invoice_event(contract_id="con_aws"), deps).outcome == "outboxed"
    assert reads == ["customer", "contract"]


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(sorted(invoice_event()["detail"])), value=JSON_VALUES)
def test_any_corrupted_event_is_routed_or_dead_lettered_never_raised(
    deps: RouterDependencies, key: str, value: Any
) -> None:
    event = invoice_event(id=f"inv_fuzz_{len(queue_of(deps.dead_letters).messages)}")
    event["detail"][key] = value
    result = route_invoice_event(event, deps)
    if result.outcome == "rejected":
        body, attributes = queue_of(deps.dead_letters).messages[-1]
        assert body == event
        assert attributes["reason"]
        assert attributes["field"].startswith("detail")  # only the detail was corrupted
    else:
        assert result.outcome in {"queued", "outboxed", "stored", "skipped", "failed", "duplicate", "stale"}


def test_sqs_safe_replaces_only_what_sqs_refuses() -> None:
    assert sqs_safe("detail.custom_fields.\x00\ud800 ok\t\n€😀") == "detail.custom_fields.\ufffd\ufffd ok\t\n€😀"


SQS_ALLOWED = {0x9, 0xA, 0xD} | set(range(0x20, 0xD800)) | set(range(0xE000, 0xFFFE))


@given(st.text())
def test_sqs_safe_output_has_only_characters_sqs_accepts(text: str) -> None:
    cleaned = sqs_safe(text)
    assert len(cleaned) == len(text)
    assert all(ord(char) in SQS_ALLOWED or ord(char) >= 0x10000 for char in cleaned)
