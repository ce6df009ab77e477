"""One behaviour suite for the Store port, run against DynamoDB (moto) and the in-memory fake."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from shared.adapters.dynamodb_store import DynamoDBStore
from shared.domain.invoice import InvoiceEvent
from shared.domain.sync import SyncAttempt
from shared.ports import AlreadyExists, InvoiceWriteOutcome, MeterOutboxEntry, Store
from tests.builders import STRIPE, configuration, contract, customer, invoice_event
from tests.conftest import TABLE_NAME
from tests.fakes.memory_store import InMemoryStore

NOW = datetime(2025, 3, 1, tzinfo=UTC)


@pytest.fixture(params=["dynamodb", "memory"])
def store(request: pytest.FixtureRequest) -> Store:
    if request.param == "memory":
        return InMemoryStore()
    return DynamoDBStore(request.getfixturevalue("dynamodb"), TABLE_NAME)


def save(store: Store, **overrides: Any) -> InvoiceWriteOutcome:
    parsed = InvoiceEvent.model_validate(invoice_event(**overrides)).detail
    return store.save_invoice(parsed, NOW).outcome


def test_customer_round_trip_and_duplicate_create(store: Store) -> None:
    created = customer("cust_acme", configuration(STRIPE, default=True))
    store.create_customer(created)
    assert store.get_customer("cust_acme") == created
    assert store.get_customer("cust_other") is None
    with pytest.raises(AlreadyExists):
        store.create_customer(created)


def test_contract_is_found_only_under_its_customer(store: Store) -> None:
    store.create_customer(customer("cust_acme"))
    store.create_contract(contract("con_1", "cust_acme", override="stripe"))
    found = store.get_contract("cust_acme", "con_1")
    assert found is not None
    assert found.billing_provider_configuration is not None
    assert store.get_contract("cust_other", "con_1") is None


def test_version_ordering(store: Store) -> None:
    store.create_customer(customer("cust_acme"))
    assert save(store, version=5) is InvoiceWriteOutcome.CREATED
    assert save(store, version=5) is InvoiceWriteOutcome.DUPLICATE
    assert save(store, version=4, total="1.00") is InvoiceWriteOutcome.STALE
    assert save(store, version=6, total="2.00") is InvoiceWriteOutcome.UPDATED
    stored = store.get_invoice("inv_1")
    assert stored is not None
    assert (stored.version, stored.total) == (6, Decimal("2.00"))


def test_dispatched_version_survives_a_newer_version(store: Store) -> None:
    store.create_customer(customer("cust_acme"))
    save(store, version=1)
    store.mark_dispatched("inv_1", 1)
    parsed = InvoiceEvent.model_validate(invoice_event(version=2)).detail
    assert store.save_invoice(parsed, NOW).dispatched_version == 1
    assert store.save_invoice(parsed, NOW).dispatched_version == 1  # duplicate of 2, not yet dispatched
    store.mark_dispatched("inv_1", 2)
    store.mark_dispatched("inv_1", 1)  # never moves backwards
    assert store.save_invoice(parsed, NOW).dispatched_version == 2


def test_lifetime_billings_count_finalized_only(store: Store) -> None:
    store.create_customer(customer("cust_acme"))
    save(store, id="d", status="DRAFT", total="5.00")
    save(store, id="u1", total="100.10")
    save(store, id="u2", total="200.25")
    save(store, id="e1", currency="EUR", total="50.00")
    save(store, id="u2", version=8, status="VOID", total="200.25")
    save(store, id="u1", version=8, total="100.00")
    found = store.get_customer("cust_acme")
    assert found is not None
    assert found.lifetime_total("USD") == Decimal("100.00")
    assert found.lifetime_total("EUR") == Decimal("50.00")


def test_sync_record_keeps_attempt_history(store: Store) -> None:
    first = SyncAttempt(at=NOW, outcome="routed", detail="queued")
    store.record_sync("inv_1", provider="stripe", status="pending", reason="queued", attempt=first)
    later = SyncAttempt(at=datetime(2025, 3, 1, 0, 1, tzinfo=UTC), outcome="synced")
    store.record_sync(
        "inv_1",
        provider="stripe",
        status="synced",
        reason=None,
        attempt=later,
        provider_ids={"stripe_invoice_id": "in_1"},
    )
    record = store.get_sync("inv_1")
    assert record is not None
    assert record.status == "synced"
    assert record.provider_ids == {"stripe_invoice_id": "in_1"}
    assert [attempt.outcome for attempt in record.attempts] == ["routed", "synced"]
    assert store.get_sync("inv_2") is None


def test_outbox_target_never_goes_back_to_an_older_version(store: Store) -> None:
    def entry(version: int, amount: str) -> MeterOutboxEntry:
        return MeterOutboxEntry("inv_1", "aws_marketplace", "cust_acme", "USD", version, "DRAFT", Decimal(amount))

    store.upsert_meter_outbox(entry(2, "20.00"))
    store.upsert_meter_outbox(entry(1, "10.00"))  # older: ignored, no error
    store.upsert_meter_outbox(entry(3, "30.00"))
    if isinstance(store, InMemoryStore):
        assert store.outbox[("inv_1", "aws_marketplace")]["target_amount"] == Decimal("30.00")
    else:
        assert isinstance(store, DynamoDBStore)
        item = store._get({"PK": "INVOICE#inv_1", "SK": "METER#aws_marketplace"})
        assert item is not None
        assert (item["target_amount"], item["invoice_version"], item["metered_amount"]) == (Decimal("30.00"), 3, 0)
