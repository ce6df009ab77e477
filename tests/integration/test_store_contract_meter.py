"""The marketplace meter's part of the Store port, against DynamoDB (moto) and the in-memory fake."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest

from shared.adapters.dynamodb import DynamoDBStore
from shared.domain.marketplace_metering import DIMENSION, record_id
from shared.ports.meter_store import MeterInvoice, StoredUsageRecord
from shared.ports.metering import AwsBuyer, AzureBuyer
from shared.ports.store import MeterOutboxEntry, Store
from tests.conftest import TABLE_NAME

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
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


# -- the meter's batched writes: each behaves as its one-at-a-time method, a refusal never spreads


def test_records_created_together_skip_only_the_refused_one(store: Store) -> None:
    for customer_id in ("cust_a", "cust_b", "cust_c"):
        outbox(store, f"inv_{customer_id}", customer_id, "1.00")
    taken = record("cust_b", HOUR, {"inv_cust_b": 40})
    assert store.create_usage_record(taken, [entry(store, "inv_cust_b")])
    stale_b = dataclasses.replace(entry(store, "inv_cust_b"), metered_cents=0)
    wanted = [
        (record("cust_a", HOUR, {"inv_cust_a": 100}), [entry(store, "inv_cust_a")]),
        (record("cust_b", HOUR + timedelta(hours=1), {"inv_cust_b": 60}), [stale_b]),  # entry changed since read
        (record("cust_c", HOUR, {"inv_cust_c": 100}), [entry(store, "inv_cust_c")]),
    ]
    created = store.create_usage_records(wanted)
    assert created == {wanted[0][0].record_id, wanted[2][0].record_id}
    assert [entry(store, f"inv_{c}").metered_cents for c in ("cust_a", "cust_b", "cust_c")] == [100, 40, 100]
    assert store.get_usage_records("aws_marketplace", "cust_b", DIMENSION, [HOUR + timedelta(hours=1)]) == []


def test_records_updated_together_keep_their_quantities(store: Store) -> None:
    made = []
    for number in range(30):  # more than one BatchWriteItem's 25
        outbox(store, f"inv_{number}", f"cust_{number:02d}", "1.00")
        new = record(f"cust_{number:02d}", HOUR, {f"inv_{number}": 100})
        assert store.create_usage_record(new, [entry(store, f"inv_{number}")])
        made.append(dataclasses.replace(new, state="accepted", receipt=f"mrid-{number}", sends=1))
    store.update_usage_records(made)
    for number, expected in enumerate(made):
        assert store.get_usage_records("aws_marketplace", f"cust_{number:02d}", DIMENSION, [HOUR]) == [expected]
        assert store.waiting_usage_records("aws_marketplace", f"cust_{number:02d}") == []


def test_invoices_finished_together_record_every_status_and_report_the_changed_entry(store: Store) -> None:
    from shared.domain.sync import SyncAttempt
    from shared.ports.meter_store import MeterInvoiceDone

    outbox(store, "inv_1", "cust_a", "1.00")
    outbox(store, "inv_2", "cust_b", "1.00")
    stale = entry(store, "inv_2")
    outbox(store, "inv_2", "cust_b", "2.00", version=2)
    attempt = SyncAttempt(at=HOUR, outcome="meter:synced")
    done = [
        MeterInvoiceDone(entry(store, "inv_1"), "synced", "100 cents metered", attempt, {"accepted_cents": 100}),
        MeterInvoiceDone(stale, "synced", "100 cents metered", attempt, {"accepted_cents": 100}),
    ]
    assert store.finish_meter_invoices(done) == {"inv_2"}
    assert all_work(store, 10) == [[("cust_b", ["inv_2"])]]
    for invoice_id in ("inv_1", "inv_2"):
        status = store.get_sync(invoice_id)
        assert status is not None
        assert (status.provider, status.status, status.provider_ids) == (
            "aws_marketplace",
            "synced",
            {"accepted_cents": 100},
        )


def test_leases_claimed_together_leave_out_the_one_held_elsewhere(store: Store) -> None:
    until = HOUR + timedelta(minutes=6)
    held = store.claim("meter", "aws_marketplace#cust_b", now=HOUR, until=until)
    assert held is not None
    keys = [f"aws_marketplace#cust_{c}" for c in "abc"]
    claimed = store.claim_leases("meter", keys, now=HOUR, until=until)
    assert sorted(claimed) == [keys[0], keys[2]]
    assert all((lease.attempt, lease.pending_since, lease.until) == (1, HOUR, until) for lease in claimed.values())
    # Released together: a settled one and a handed-back one; the lease lost to another run is passed over.
    later = HOUR + timedelta(minutes=10)
    taken_over = store.claim("meter", keys[2], now=later, until=later + timedelta(minutes=6))
    assert taken_over is not None
    store.release_leases([(claimed[keys[0]], True), (claimed[keys[2]], False), (held, False)], now=later)
    assert store.claim("meter", keys[0], now=later, until=later) is not None  # released
    assert store.claim("meter", keys[1], now=later, until=later) is not None  # handed back
    assert store.claim("meter", keys[2], now=later, until=later) is None  # still the other run's


def test_customers_read_together_are_those_that_exist(store: Store) -> None:
    from tests.builders import customer

    for customer_id in ("cust_a", "cust_b"):
        store.create_customer(customer(customer_id))
    found = store.get_customers(["cust_a", "cust_b", "cust_nobody"])
    assert sorted(found) == ["cust_a", "cust_b"]
    assert found["cust_a"].id == "cust_a"


def test_a_customers_records_are_listed_oldest_first_and_only_its_own(store: Store) -> None:
    outbox(store, "inv_1", "cust_a", "9.00")
    outbox(store, "inv_2", "cust_b", "1.00")
    hours = [HOUR + timedelta(hours=offset) for offset in (2, 0, 1)]
    for hour in hours:
        assert store.create_usage_record(record("cust_a", hour, {"inv_1": 100}), [entry(store, "inv_1")])
    assert store.create_usage_record(record("cust_b", HOUR, {"inv_2": 100}), [entry(store, "inv_2")])
    listed = store.list_usage_records("aws_marketplace", "cust_a", DIMENSION)
    assert [found.hour for found in listed] == sorted(hours)
    assert store.list_usage_records("aws_marketplace", "cust_a", "seats") == []
    assert store.list_usage_records("azure_marketplace", "cust_a", DIMENSION) == []


def test_a_refused_record_costs_the_others_one_more_transaction(dynamodb: DynamoDBClient) -> None:
    """DynamoDB names the item that failed its condition: the others go again together."""
    store = DynamoDBStore(dynamodb, TABLE_NAME)
    calls: list[int] = []
    dynamodb.meta.events.register(
        "provide-client-params.dynamodb.TransactWriteItems",
        lambda params, **_: calls.append(len(params["TransactItems"])),
    )
    for number in range(10):
        outbox(store, f"inv_{number}", f"cust_{number}", "1.00")
    taken = record("cust_3", HOUR, {"inv_3": 100})
    assert store.create_usage_record(taken, [entry(store, "inv_3")])
    calls.clear()
    wanted = [(record(f"cust_{n}", HOUR, {f"inv_{n}": 100}), [entry(store, f"inv_{n}")]) for n in range(10)]
    created = store.create_usage_records(wanted)
    assert created == {new.record_id for new, _ in wanted} - {taken.record_id}
    assert calls == [20, 18]  # all ten records and their entries; then the nine without cust_3's
