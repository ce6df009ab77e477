"""The marketplace meter's part of the Store port, against DynamoDB (moto) and the in-memory fake."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from shared.adapters.dynamodb import DynamoDBStore
from shared.domain.marketplace_metering import DIMENSION, record_id
from shared.ports.metering import AwsBuyer, AzureBuyer
from shared.ports.store import MeterInvoice, MeterOutboxEntry, Store, StoredUsageRecord
from tests.conftest import TABLE_NAME
from tests.fakes.memory_store import InMemoryStore

HOUR = datetime(2025, 3, 10, 12, tzinfo=UTC)
BUYER = AwsBuyer("prod-x", "us-east-1", customer_aws_account_id="111122223333", license_arn="arn:aws:lm::1:l-1")


@pytest.fixture(params=["dynamodb", "memory"])
def store(request: pytest.FixtureRequest) -> Store:
    if request.param == "memory":
        return InMemoryStore()
    return DynamoDBStore(request.getfixturevalue("dynamodb"), TABLE_NAME)


def outbox(store: Store, invoice_id: str, customer_id: str, total: str, version: int = 1) -> None:
    store.upsert_meter_outbox(
        MeterOutboxEntry(invoice_id, "aws_marketplace", customer_id, "USD", version, "DRAFT", Decimal(total))
    )


def entry(store: Store, invoice_id: str) -> MeterInvoice:
    found = store.get_meter_invoice(invoice_id, "aws_marketplace")
    assert found is not None
    return found


def record(customer_id: str, hour: datetime, invoices: dict[str, int]) -> StoredUsageRecord:
    return StoredUsageRecord(
        record_id=record_id("aws_marketplace", customer_id, DIMENSION, hour),
        provider="aws_marketplace",
        customer_id=customer_id,
        dimension=DIMENSION,
        hour=hour,
        quantity=sum(invoices.values()),
        buyer=BUYER,
        invoices=invoices,
    )


def all_work(store: Store, limit: int) -> list[list[tuple[str, list[str]]]]:
    pages, cursor = [], None
    while True:
        page = store.meter_work("aws_marketplace", cursor, limit)
        pages.append(
            [(customer, [invoice.invoice_id for invoice in invoices]) for customer, invoices in page.customers]
        )
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor


def test_a_new_entry_waits_with_nothing_metered(store: Store) -> None:
    outbox(store, "inv_1", "cust_a", "12.34")
    found = entry(store, "inv_1")
    assert (found.customer_id, found.target_amount, found.metered_cents, dict(found.allocations)) == (
        "cust_a",
        Decimal("12.34"),
        0,
        {},
    )
    assert store.get_meter_invoice("inv_2", "aws_marketplace") is None


def test_work_pages_never_split_a_customer(store: Store) -> None:
    for customer_id, count in (("cust_a", 2), ("cust_b", 5), ("cust_c", 1)):
        for number in range(count):
            outbox(store, f"inv_{customer_id}_{number}", customer_id, "1.00")
    pages = all_work(store, 3)
    customers = [customer for page in pages for customer, _ in page]
    assert customers == ["cust_a", "cust_b", "cust_c"]
    assert {customer: len(invoices) for page in pages for customer, invoices in page} == {
        "cust_a": 2,
        "cust_b": 5,
        "cust_c": 1,
    }


def test_a_record_and_its_invoices_cents_are_stored_together(store: Store) -> None:
    outbox(store, "inv_1", "cust_a", "10.00")
    outbox(store, "inv_2", "cust_a", "0.55")
    new = record("cust_a", HOUR, {"inv_1": 1000, "inv_2": 55})
    assert store.create_usage_record(new, [entry(store, "inv_1"), entry(store, "inv_2")])
    assert (entry(store, "inv_1").metered_cents, dict(entry(store, "inv_2").allocations)) == (1000, {HOUR: 55})
    assert store.waiting_usage_records("aws_marketplace", "cust_a") == [new]
    assert store.get_usage_records("aws_marketplace", "cust_a", DIMENSION, [HOUR, HOUR + timedelta(hours=1)]) == [new]


def test_a_second_record_for_the_hour_or_a_stale_entry_writes_nothing(store: Store) -> None:
    outbox(store, "inv_1", "cust_a", "10.00")
    read = entry(store, "inv_1")
    assert store.create_usage_record(record("cust_a", HOUR, {"inv_1": 400}), [read])
    # The same hour again (an overlapping run), from the entry as it was read before: refused whole.
    assert not store.create_usage_record(record("cust_a", HOUR, {"inv_1": 600}), [read])
    # Another hour, but the entry changed since `read`: refused, and no record is left behind.
    later = HOUR + timedelta(hours=1)
    assert not store.create_usage_record(record("cust_a", later, {"inv_1": 600}), [read])
    assert store.get_usage_records("aws_marketplace", "cust_a", DIMENSION, [later]) == []
    assert entry(store, "inv_1").metered_cents == 400
    before_version = entry(store, "inv_1")
    outbox(store, "inv_1", "cust_a", "12.00", version=2)  # a newer version: the entry changed again
    assert not store.create_usage_record(record("cust_a", later, {"inv_1": 600}), [before_version])
    fresh = entry(store, "inv_1")
    assert (fresh.invoice_version, fresh.metered_cents, fresh.target_amount) == (2, 400, Decimal("12.00"))


def test_a_final_record_leaves_the_waiting_list(store: Store) -> None:
    outbox(store, "inv_1", "cust_a", "1.00")
    new = record("cust_a", HOUR, {"inv_1": 100})
    store.create_usage_record(new, [entry(store, "inv_1")])
    sent = dataclasses.replace(new, state="sent", sends=1, reason="no answer")
    store.update_usage_records([sent])
    assert store.waiting_usage_records("aws_marketplace", "cust_a") == [sent]
    accepted = dataclasses.replace(sent, state="accepted", receipt="mrid-1", reason=None)
    store.update_usage_records([accepted])
    assert store.waiting_usage_records("aws_marketplace", "cust_a") == []
    assert store.get_usage_records("aws_marketplace", "cust_a", DIMENSION, [HOUR]) == [accepted]


def test_an_azure_buyer_round_trips(store: Store) -> None:
    outbox(store, "inv_1", "cust_z", "1.00")
    new = dataclasses.replace(record("cust_z", HOUR, {"inv_1": 100}), buyer=AzureBuyer("sub-1", "gold"))
    store.create_usage_record(new, [entry(store, "inv_1")])
    assert store.waiting_usage_records("aws_marketplace", "cust_z")[0].buyer == AzureBuyer("sub-1", "gold")


def test_finishing_an_entry_takes_it_out_of_the_work_until_a_new_version(store: Store) -> None:
    outbox(store, "inv_1", "cust_a", "1.00")
    outbox(store, "inv_2", "cust_a", "1.00")
    stale = entry(store, "inv_2")
    outbox(store, "inv_2", "cust_a", "2.00", version=2)
    assert store.finish_meter_invoice(entry(store, "inv_1"))
    assert not store.finish_meter_invoice(stale)  # changed since read: it keeps waiting
    assert all_work(store, 10) == [[("cust_a", ["inv_2"])]]
    outbox(store, "inv_1", "cust_a", "3.00", version=2)
    assert all_work(store, 10) == [[("cust_a", ["inv_1", "inv_2"])]]


def test_provider_ids_keep_whole_numbers_whole(store: Store) -> None:
    from shared.domain.sync import SyncAttempt

    ids = {"accepted_cents": 425, "records": [{"hour": "2025-03-10T12:00:00Z", "cents": 300, "receipt": None}]}
    attempt = SyncAttempt(at=HOUR, outcome="meter:synced")
    store.record_sync(
        "inv_1", provider="aws_marketplace", status="synced", reason="ok", attempt=attempt, provider_ids=ids
    )
    stored = store.get_sync("inv_1")
    assert stored is not None
    assert stored.provider_ids == ids
    assert type(stored.provider_ids["accepted_cents"]) is int
