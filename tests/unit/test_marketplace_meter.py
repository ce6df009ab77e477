"""The meter run against the in-memory store and marketplaces: batching, hours, windows, outcomes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from shared.clock import utc_now
from shared.domain.marketplace_metering import DIMENSION
from shared.domain.sync import SyncRecord
from shared.ports.meter_store import StoredUsageRecord
from shared.ports.metering import MarketplaceProvider
from shared.services.marketplace_meter import LEASE_KIND
from shared.services.marketplace_sync_status import live_sync_status
from tests.meter_world import MeterWorld, MutableClock

NOON = datetime(2025, 3, 10, 12, 5, tzinfo=UTC)


@pytest.fixture
def world() -> MeterWorld:
    return MeterWorld(MutableClock(NOON))


@pytest.fixture
def traveller() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(NOON, tick=False) as coordinates:
        yield coordinates


def records_of(
    world: MeterWorld, customer_id: str, provider: MarketplaceProvider = "aws_marketplace"
) -> list[StoredUsageRecord]:
    store = world.store
    hours = [hour for (p, c, _, hour) in store.usage_records if p == provider and c == customer_id]  # type: ignore[attr-defined]
    return store.get_usage_records(provider, customer_id, DIMENSION, sorted(hours))


def sync(world: MeterWorld, invoice_id: str) -> SyncRecord:
    """The sync status as `GET /v1/invoices/{id}/sync` shows it."""
    record = world.store.get_sync(invoice_id)
    assert record is not None
    return live_sync_status(world.store, record)


def test_sixty_customers_of_one_product_go_in_calls_of_25_25_10(world: MeterWorld) -> None:
    for number in range(60):
        world.add_customer(f"cust_{number:02d}")
        world.send_invoice(f"inv_{number:02d}", f"cust_{number:02d}", "1.25")
    report = world.run()
    assert [len(call) for call in world.market().calls] == [25, 25, 10]
    assert report.accepted == 60
    assert all(world.held_cents(f"cust_{number:02d}") == 125 for number in range(60))
    assert sync(world, "inv_07").status == "synced"


def test_two_products_and_licence_based_buyers_get_calls_of_their_own(world: MeterWorld) -> None:
    world.add_customer("a1", product="prod-a")
    world.add_customer("a2", product="prod-a")
    world.add_customer("b1", product="prod-b")
    world.add_customer("l1", product="prod-a", licence=True)
    for customer_id in ("a1", "a2", "b1", "l1"):
        world.send_invoice(f"inv_{customer_id}", customer_id, "2.00")
    world.run()
    requests = world.market().requests
    assert len(requests) == 3
    by_product = sorted((request.get("ProductCode", "-"), len(request["UsageRecords"])) for request in requests)
    assert by_product == [("-", 1), ("prod-a", 2), ("prod-b", 1)]
    licence_call = next(request for request in requests if "ProductCode" not in request)
    assert set(licence_call["UsageRecords"][0]) == {
        "CustomerAWSAccountId",
        "LicenseArn",
        "Dimension",
        "Timestamp",
        "Quantity",
    }


def test_two_invoices_of_one_customer_in_one_hour_make_one_record(world: MeterWorld) -> None:
    world.add_customer("acme")
    world.send_invoice("inv_a", "acme", "10.00")
    world.send_invoice("inv_b", "acme", "0.55")
    world.run()
    (record,) = records_of(world, "acme")
    assert (record.quantity, record.hour, dict(record.invoices)) == (
        1055,
        datetime(2025, 3, 10, 12, tzinfo=UTC),
        {"inv_a": 1000, "inv_b": 55},
    )
    assert [len(call) for call in world.market().calls] == [1]
    assert sync(world, "inv_b").provider_ids["records"][0]["cents"] == 55


def test_an_invoice_growing_across_three_hours_makes_three_records(traveller: time_machine.Traveller) -> None:
    world = MeterWorld(utc_now)
    world.add_customer("acme")
    for hour, total in enumerate(("1.00", "2.50", "4.00")):
        world.send_invoice("inv_1", "acme", total, status="DRAFT")
        world.run()
        world.run()  # a second run in the same hour sends nothing new
        if hour < 2:
            traveller.shift(timedelta(hours=1))
    world.send_invoice("inv_1", "acme", "4.00", status="FINALIZED")
    world.run()
    records = records_of(world, "acme")
    assert [(record.hour.hour, record.quantity, record.state) for record in records] == [
        (12, 100, "accepted"),
        (13, 150, "accepted"),
        (14, 150, "accepted"),
    ]
    status = sync(world, "inv_1")
    assert status.status == "synced"
    assert status.provider_ids["accepted_cents"] == 400
    assert len(status.provider_ids["metering_record_ids"]) == 3


def test_cents_arriving_after_the_hours_record_wait_for_the_next_hour(world: MeterWorld) -> None:
    clock = world.clock
    assert isinstance(clock, MutableClock)
    world.add_customer("acme")
    world.send_invoice("inv_1", "acme", "1.00", status="DRAFT")
    world.run()
    world.send_invoice("inv_1", "acme", "1.30", status="DRAFT")
    world.run()
    status = sync(world, "inv_1")
    assert status.status == "pending"
    assert "30 cents not yet in a usage record" in (status.reason or "")
    clock.advance(hours=1)
    world.run()
    assert [record.quantity for record in records_of(world, "acme")] == [100, 30]
    assert sync(world, "inv_1").status == "synced"  # every cent of its latest version (a DRAFT) is accepted
    assert world.held_cents("acme") == 130


def test_a_quantity_above_the_providers_maximum_carries_over_to_later_hours(world: MeterWorld) -> None:
    clock = world.clock
    assert isinstance(clock, MutableClock)
    world.market().max_quantity = 400
    world.add_customer("acme")
    world.send_invoice("inv_1", "acme", "10.00")
    for _ in range(3):
        world.run()
        clock.advance(hours=1)
    assert [record.quantity for record in records_of(world, "acme")] == [400, 400, 200]
    assert sync(world, "inv_1").status == "synced"


def test_a_non_usd_invoice_fails_permanently_naming_its_currency(world: MeterWorld) -> None:
    world.add_customer("acme")
    world.send_invoice("inv_eur", "acme", "10.00", currency="EUR")
    world.run()
    status = sync(world, "inv_eur")
    assert status.status == "failed"
    assert "EUR" in (status.reason or "")
    assert world.market().calls == []


def test_an_over_metered_invoice_sends_nothing_until_it_catches_up(world: MeterWorld) -> None:
    clock = world.clock
    assert isinstance(clock, MutableClock)
    world.add_customer("acme")
    world.send_invoice("inv_1", "acme", "5.00", status="DRAFT")
    world.run()
    world.send_invoice("inv_1", "acme", "3.00", status="DRAFT")
    clock.advance(hours=1)
    world.run()
    status = sync(world, "inv_1")
    assert (status.status, len(world.market().calls)) == ("pending", 1)
    assert "over-metered" in (status.reason or "")
    world.send_invoice("inv_1", "acme", "5.20", status="FINALIZED")
    world.run()
    assert world.held_cents("acme") == 520
    assert sync(world, "inv_1").status == "synced"


def test_a_voided_invoice_sends_nothing_more_and_what_was_sent_stays(world: MeterWorld) -> None:
    clock = world.clock
    assert isinstance(clock, MutableClock)
    world.add_customer("acme")
    world.send_invoice("inv_1", "acme", "5.00", status="DRAFT")
    world.run()
    world.send_invoice("inv_1", "acme", "9.00", status="VOID")
    clock.advance(hours=1)
    world.run()
    assert world.held_cents("acme") == 500
    status = sync(world, "inv_1")
    assert status.status == "voided"
    assert "500 cents metered before stay" in (status.reason or "")


@pytest.mark.parametrize(
    ("provider", "late_by", "expired"),
    [
        ("aws_marketplace", timedelta(hours=23), False),
        ("aws_marketplace", timedelta(hours=24), True),
        ("azure_marketplace", timedelta(hours=23), False),
        ("azure_marketplace", timedelta(hours=24), True),
    ],
)
def test_a_record_past_its_window_is_expired_with_a_reason_not_sent(
    traveller: time_machine.Traveller, provider: MarketplaceProvider, late_by: timedelta, expired: bool
) -> None:
    world = MeterWorld(utc_now)
    world.add_customer("acme", provider)
    world.send_invoice("inv_1", "acme", "3.00")
    world.market(provider).faults = ["server_error"] * 3  # the outage: every attempt of the first run fails
    world.run()
    traveller.shift(late_by)
    report = world.run()
    (record,) = records_of(world, "acme", provider)
    status = sync(world, "inv_1")
    if expired:
        assert (record.state, report.expired, status.status) == ("expired", 1, "expired")
        assert "2025-03-10T12:00:00Z 300 cents" in (status.reason or "")
        assert len(world.market(provider).calls) == 3  # nothing sent after the window closed
    else:
        assert (record.state, status.status) == ("accepted", "synced")


@pytest.mark.parametrize(
    ("provider", "retried_at", "state"),
    [
        ("aws_marketplace", datetime(2025, 4, 1, 5, 50, tzinfo=UTC), "accepted"),
        # Under 24 hours later, but past 06:00 on the 1st less the send margin: AWS would refuse it.
        ("aws_marketplace", datetime(2025, 4, 1, 5, 56, tzinfo=UTC), "expired"),
        ("azure_marketplace", datetime(2025, 4, 1, 12, 0, tzinfo=UTC), "accepted"),  # Azure has no month-end rule
    ],
)
def test_aws_month_end_grace_ends_at_six_on_the_first(
    traveller: time_machine.Traveller, provider: MarketplaceProvider, retried_at: datetime, state: str
) -> None:
    traveller.move_to(datetime(2025, 3, 31, 20, 10, tzinfo=UTC))
    world = MeterWorld(utc_now)
    world.add_customer("late", provider)
    world.send_invoice("inv_late", "late", "1.00")
    world.market(provider).faults = ["throttle"] * 3
    world.run()
    traveller.move_to(retried_at)
    world.run()
    (record,) = records_of(world, "late", provider)
    assert record.state == state
    if state == "expired":
        assert "2025-04-01T06:00:00Z" in (record.reason or "")
        assert sync(world, "inv_late").status == "expired"


def test_a_duplicate_with_another_quantity_is_a_recorded_conflict(world: MeterWorld) -> None:
    world.add_customer("acme")
    buyer = world.buyers["acme"]
    from tests.fakes.marketplace_metering import HeldRecord, buyer_key

    world.market().held[(buyer_key(buyer), DIMENSION, datetime(2025, 3, 10, 12, tzinfo=UTC))] = HeldRecord(
        7, "mrid-x", "?"
    )
    world.send_invoice("inv_1", "acme", "1.00")
    report = world.run()
    (record,) = records_of(world, "acme")
    status = sync(world, "inv_1")
    assert (record.state, report.conflicts, status.status) == ("duplicate", 1, "failed")
    assert "conflict" in (record.reason or "")
    assert status.provider_ids["metering_record_ids"] == []


def test_not_subscribed_is_permanent_with_the_providers_words(world: MeterWorld) -> None:
    world.add_customer("gone", "azure_marketplace")
    world.market("azure_marketplace").not_subscribed.add("azure:sub-gone")
    world.send_invoice("inv_1", "gone", "1.00")
    world.run()
    status = sync(world, "inv_1")
    assert status.status == "failed"
    assert "ResourceNotFound" in (status.reason or "")


def test_a_batch_applied_then_timed_out_is_sent_again_identically_and_accepted_once(world: MeterWorld) -> None:
    world.add_customer("acme")
    world.send_invoice("inv_1", "acme", "4.00")
    world.market().faults = ["timeout_after_apply"]
    world.run()
    first, second = world.market().calls
    assert first == second
    assert world.held_cents("acme") == 400
    assert sync(world, "inv_1").status == "synced"


def test_unprocessed_records_are_sent_again_within_the_run(world: MeterWorld) -> None:
    for number in range(4):
        world.add_customer(f"c{number}")
        world.send_invoice(f"inv_{number}", f"c{number}", "1.00")
    world.market().faults = ["unprocessed"]
    report = world.run()
    assert [len(call) for call in world.market().calls] == [4, 2]
    assert report.accepted == 4
    assert len(world.sleeps) == 1


def test_an_overlapping_run_skips_a_customer_whose_lease_is_held(world: MeterWorld) -> None:
    world.add_customer("acme")
    world.send_invoice("inv_1", "acme", "1.00")
    held = world.store.claim(LEASE_KIND, "aws_marketplace#acme", now=NOON, until=NOON + timedelta(minutes=15))
    assert held is not None
    report = world.run()
    assert (report.customers_leased_elsewhere, world.market().calls) == (1, [])


def test_a_run_out_of_time_mid_page_resumes_next_run_sending_nothing_twice(world: MeterWorld) -> None:
    for number in range(30):
        world.add_customer(f"c{number:02d}")
        world.send_invoice(f"inv_{number:02d}", f"c{number:02d}", "1.00")
    # The context's remaining time, read before the page, before each page's work and before each
    # call: one page of 30 customers goes out in calls of 25 and 5, and time runs out before the second.
    budget = iter([60_000] * 3 + [1_000] * 1000)
    first = world.run(lambda: next(budget), page_size=30)
    assert first.stopped_early
    assert (first.accepted, first.records_created) == (25, 25)  # the rest were not even stored
    second = world.run()
    assert first.accepted + second.accepted == 30
    sent = [record.record_id for call in world.market().calls for record in call]
    assert len(sent) == len(set(sent)) == 30
    assert all(world.held_cents(f"c{number:02d}") == 100 for number in range(30))
    assert world.store.oldest_unsettled(LEASE_KIND) is None
