"""The Store port, against DynamoDB (moto) and the in-memory fake: dead-letter statuses, and ids
of any printable Unicode — up to 256 four-byte characters — in every key the table builds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from shared.adapters.dynamodb import DynamoDBStore
from shared.domain.invoice import InvoiceEvent
from shared.domain.invoice_listing import InvoiceQuery
from shared.domain.paging import PageRequest
from shared.domain.sync import ROUTER_DLQ, STRIPE_SYNC_DLQ, SyncAttempt
from shared.ports.store import InvoiceWriteOutcome, MeterOutboxEntry, Store
from tests.builders import STRIPE, configuration, contract, customer, invoice_event
from tests.conftest import TABLE_NAME
from tests.fakes.memory_store import InMemoryStore

NOW = datetime(2025, 3, 1, tzinfo=UTC)
LONG_IDS = ["😀" * 256, "請" * 256, "e" + "\u0301" * 255, "x" * 256]


@pytest.fixture(params=["dynamodb", "memory"])
def store(request: pytest.FixtureRequest) -> Store:
    if request.param == "memory":
        return InMemoryStore()
    return DynamoDBStore(request.getfixturevalue("dynamodb"), TABLE_NAME)


def attempt(outcome: str, minute: int = 0) -> SyncAttempt:
    return SyncAttempt(at=NOW + timedelta(minutes=minute), outcome=outcome, detail=outcome)


def reject(store: Store, reason: str, minute: int = 0) -> bool:
    rejected = attempt("rejected", minute)
    return store.record_rejection("inv_1", reason=reason, attempt=rejected, dead_letter_queue=ROUTER_DLQ)


# -- dead-letter statuses ------------------------------------------------------------------------


def test_a_rejection_without_an_accepted_status_is_failed_in_its_queue(store: Store) -> None:
    assert reject(store, "bad currency")
    assert reject(store, "bad total", 1)
    record = store.get_sync("inv_1")
    assert record is not None
    assert (record.status, record.reason, record.dead_letter_queue, record.provider) == (
        "failed",
        "bad total",
        ROUTER_DLQ,
        None,
    )
    assert [a.outcome for a in record.attempts] == ["rejected", "rejected"]
    assert record.updated_at == NOW + timedelta(minutes=1)


def test_the_first_accepted_status_replaces_rejections_and_then_keeps_its_place(store: Store) -> None:
    reject(store, "unknown customer")
    store.record_sync("inv_1", provider="stripe", status="pending", reason="queued", attempt=attempt("routed", 1))
    record = store.get_sync("inv_1")
    assert record is not None
    assert (record.status, record.dead_letter_queue) == ("pending", None)

    kept = reject(store, "bad total", 2)

    assert kept is False
    after = store.get_sync("inv_1")
    assert after is not None
    assert (after.status, after.reason, after.dead_letter_queue) == ("pending", "queued", None)
    assert after.updated_at == NOW + timedelta(minutes=1)  # the status did not change
    assert [a.outcome for a in after.attempts] == ["rejected", "routed", "rejected"]


def test_a_worker_status_names_its_dead_letter_queue_and_the_next_one_clears_it(store: Store) -> None:
    store.record_sync("inv_1", provider="stripe", status="pending", reason="queued", attempt=attempt("routed"))
    store.record_sync(
        "inv_1",
        provider="stripe",
        status="failed",
        reason="gave up",
        attempt=attempt("dead_lettered", 1),
        provider_ids={"stripe_invoice_id": "in_1"},
        dead_letter_queue=STRIPE_SYNC_DLQ,
    )
    failed = store.get_sync("inv_1")
    assert failed is not None
    assert (failed.status, failed.dead_letter_queue, failed.provider_ids) == (
        "failed",
        STRIPE_SYNC_DLQ,
        {"stripe_invoice_id": "in_1"},
    )
    # a rejection of a later event leaves the worker's failure as it is
    assert not reject(store, "x", 2)
    assert store.get_sync("inv_1").dead_letter_queue == STRIPE_SYNC_DLQ  # type: ignore[union-attr]
    store.record_sync("inv_1", provider="stripe", status="synced", reason="redriven", attempt=attempt("synced", 3))
    synced = store.get_sync("inv_1")
    assert synced is not None
    assert (synced.status, synced.dead_letter_queue, synced.provider_ids) == (
        "synced",
        None,
        {"stripe_invoice_id": "in_1"},
    )


# -- ids of any script, at the longest ----------------------------------------------------------


def save(store: Store, **overrides: Any) -> InvoiceWriteOutcome:
    invoice = InvoiceEvent.model_validate(invoice_event(**overrides)).detail
    return store.save_invoice(invoice, NOW).outcome


@pytest.mark.parametrize("long_id", LONG_IDS)
def test_the_longest_ids_of_any_script_are_stored_found_and_listed(store: Store, long_id: str) -> None:
    store.create_customer(customer(long_id, configuration(STRIPE, default=True)))
    store.create_contract(contract(long_id, long_id))
    assert store.get_customer(long_id) is not None
    found_contract = store.get_contract(long_id, long_id)
    assert found_contract is not None
    assert found_contract.id == long_id

    assert save(store, id=long_id, customer_id=long_id, contract_id=long_id) is InvoiceWriteOutcome.CREATED
    assert save(store, id=long_id, customer_id=long_id, contract_id=long_id, version=8) is InvoiceWriteOutcome.UPDATED
    stored = store.get_invoice(long_id)
    assert stored is not None
    assert (stored.id, stored.version) == (long_id, 8)
    page = store.list_invoices(long_id, InvoiceQuery(), PageRequest(limit=10))
    assert [listing.invoice.id for listing in page.items] == [long_id]
    contracts = store.list_contracts(long_id, PageRequest(limit=10))
    assert [c.id for c in contracts.items] == [long_id]

    store.upsert_meter_outbox(MeterOutboxEntry(long_id, "aws_marketplace", long_id, "USD", 8, "FINALIZED", Decimal(1)))
    lease = store.claim("stripe", long_id, now=NOW, until=NOW + timedelta(minutes=2))
    assert lease is not None
    assert store.oldest_unsettled("stripe") == NOW
    store.settle(lease, now=NOW)
    store.record_sync(long_id, provider="stripe", status="synced", reason=None, attempt=attempt("synced"))
    assert store.get_sync(long_id).invoice_id == long_id  # type: ignore[union-attr]


def test_long_ids_that_share_a_prefix_stay_apart(store: Store) -> None:
    """Two 256-character ids that differ only at the end: their keys are digests, still distinct."""
    first, second = "😀" * 255 + "a", "😀" * 255 + "b"
    store.create_customer(customer("cust_acme", configuration(STRIPE, default=True)))
    store.create_contract(contract(first, "cust_acme"))
    store.create_contract(contract(second, "cust_acme"))
    assert {c.id for c in store.list_contracts("cust_acme", PageRequest(limit=10)).items} == {first, second}
    save(store, id=first)
    save(store, id=second)
    listed = store.list_invoices("cust_acme", InvoiceQuery(), PageRequest(limit=10)).items
    assert sorted(listing.invoice.id for listing in listed) == sorted([first, second])
