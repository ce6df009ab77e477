"""Metering follows the buyer's subscription: suspended holds, active sends, unsubscribed sends only
what was pending in hours that started before it, and never a record after it."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from shared.clock import utc_now
from shared.domain.marketplace_metering import DIMENSION
from shared.domain.subscriptions import MeteringGate, SubscriptionChange, SubscriptionStatus
from shared.domain.sync import SyncRecord
from shared.ports.meter_store import MeterInvoice, StoredUsageRecord
from shared.services.marketplace_subscriptions import SubscriptionDependencies, change_subscription
from shared.services.marketplace_sync_status import invoice_gate, live_sync_status, subscription_of
from tests.meter_world import MeterWorld

NOON = datetime(2026, 3, 10, 12, 5, tzinfo=UTC)


@pytest.fixture
def traveller() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(NOON, tick=False) as coordinates:
        yield coordinates


@pytest.fixture
def world(traveller: time_machine.Traveller) -> MeterWorld:
    world = MeterWorld(utc_now)
    world.add_customer("acme")
    return world


def become(world: MeterWorld, status: SubscriptionStatus, at: datetime | None = None) -> None:
    counter = itertools.count(1)
    deps = SubscriptionDependencies(world.store, utc_now, lambda prefix: f"{prefix}_{next(counter)}")
    change = SubscriptionChange(status=status, at=at or utc_now(), source="aws_sns")
    assert change_subscription(deps, "acme", "aws_marketplace", change) is not None


def records(world: MeterWorld) -> list[StoredUsageRecord]:
    hours = sorted(hour for (_, customer, _, hour) in world.store.usage_records if customer == "acme")  # type: ignore[attr-defined]
    return world.store.get_usage_records("aws_marketplace", "acme", DIMENSION, hours)


def sync(world: MeterWorld, invoice_id: str) -> SyncRecord:
    """As `GET /v1/invoices/{id}/sync` shows it (with the buyer's subscription)."""
    record = world.store.get_sync(invoice_id)
    assert record is not None

    def gate(invoice: MeterInvoice) -> MeteringGate:
        return invoice_gate(subscription_of(world.store.get_customer("acme"), "aws_marketplace"), invoice, utc_now())

    return live_sync_status(world.store, record, gate)


def test_a_suspension_holds_the_cents_and_reinstatement_sends_them_once(
    world: MeterWorld, traveller: time_machine.Traveller
) -> None:
    become(world, "suspended")
    world.send_invoice("inv_1", "acme", "5.00")
    world.run()
    assert world.market().calls == []
    status = sync(world, "inv_1")
    assert status.status == "pending"
    assert "suspended" in (status.reason or "")
    traveller.shift(timedelta(hours=3))
    world.run()
    assert world.market().calls == []
    become(world, "active")
    world.run()
    world.run()
    assert [(r.hour.hour, r.quantity, r.state) for r in records(world)] == [(15, 500, "accepted")]
    assert len(world.market().calls) == 1
    assert sync(world, "inv_1").status == "synced"


def test_a_record_held_past_its_window_expires(world: MeterWorld, traveller: time_machine.Traveller) -> None:
    world.market().faults.extend(["throttle"] * 3)  # the run's three sends of the record: it stays pending
    world.send_invoice("inv_1", "acme", "2.00")
    world.run()
    assert [(r.hour.hour, r.state) for r in records(world)] == [(12, "sent")]  # no answer came back
    become(world, "suspended")
    traveller.shift(timedelta(hours=2))
    world.run()
    assert len(world.market().calls) == 3  # held: not sent again while suspended
    traveller.shift(timedelta(hours=23))
    world.run()
    assert [(r.hour.hour, r.state) for r in records(world)] == [(12, "expired")]
    assert len(world.market().calls) == 3
    assert sync(world, "inv_1").status == "expired"


def test_an_unsubscription_meters_the_hours_before_it_and_fails_later_cents(
    world: MeterWorld, traveller: time_machine.Traveller
) -> None:
    world.send_invoice("inv_1", "acme", "1.00", status="DRAFT")
    world.run()
    traveller.shift(timedelta(hours=2))  # 14:05
    world.send_invoice("inv_1", "acme", "1.50", status="DRAFT")
    world.market().faults.extend(["throttle"] * 3)
    world.run()  # its 14:00 record waits for an answer
    traveller.shift(timedelta(minutes=5))
    become(world, "unsubscribed")  # 14:10
    traveller.shift(timedelta(minutes=10))
    world.run()  # 14:20: the 14:00 record started before the unsubscription: it still goes
    world.send_invoice("inv_1", "acme", "1.80", status="DRAFT")
    world.run()
    traveller.shift(timedelta(hours=2))  # 16:20
    world.send_invoice("inv_1", "acme", "2.40", status="FINALIZED")
    world.run()
    assert [(r.hour.hour, r.quantity, r.state) for r in records(world)] == [(12, 100, "accepted"), (14, 50, "accepted")]
    assert world.held_cents("acme") == 150
    status = sync(world, "inv_1")
    assert status.status == "failed"
    assert "90 cents not metered" in (status.reason or "")
    assert "unsubscribed at 2026-03-10T14:10:00Z" in (status.reason or "")


def test_cents_that_arrive_after_the_unsubscription_are_not_sent_in_its_hour(
    world: MeterWorld, traveller: time_machine.Traveller
) -> None:
    become(world, "unsubscribed")  # 12:05
    traveller.shift(timedelta(minutes=5))
    world.send_invoice("inv_1", "acme", "4.00")  # 12:10: the hour started before, the cents came after
    world.run()
    assert world.market().calls == []
    assert records(world) == []
    status = sync(world, "inv_1")
    assert status.status == "failed"
    assert "400 cents not metered" in (status.reason or "")


def test_a_record_for_an_hour_after_the_unsubscription_is_never_sent(
    world: MeterWorld, traveller: time_machine.Traveller
) -> None:
    world.market().faults.extend(["throttle"] * 3)
    world.send_invoice("inv_1", "acme", "3.00")
    world.run()  # 12:00's record waits
    become(world, "unsubscribed", at=datetime(2026, 3, 10, 11, 50, tzinfo=UTC))  # reported late
    world.run()
    assert len(world.market().calls) == 3
    [record] = records(world)
    assert record.state == "failed"
    assert "unsubscribed" in (record.reason or "")
    assert sync(world, "inv_1").status == "failed"
