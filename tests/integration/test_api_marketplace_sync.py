"""`GET /v1/invoices/{id}/sync` for marketplace invoices, over the local stack's HTTP API: the cents
accepted, each record (hour, cents, state, receipt) and, when cents are lost, the reason naming them."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.integration.api_harness import LocalApi
from tests.meter_world import MeterWorld, MutableClock

NOON = datetime(2025, 3, 10, 12, 5, tzinfo=UTC)


def test_a_synced_invoice_shows_its_records_and_receipts(local_api: LocalApi) -> None:
    clock = MutableClock(NOON)
    world = MeterWorld(clock, store=local_api.store)
    world.add_customer("cust_meter_ok")
    world.send_invoice("inv_meter_ok", "cust_meter_ok", "3.00", status="DRAFT")
    world.run()
    clock.advance(hours=1)
    world.send_invoice("inv_meter_ok", "cust_meter_ok", "4.25")
    world.run()

    data = local_api.client.get("/v1/invoices/inv_meter_ok/sync").data
    assert (data["provider"], data["status"]) == ("aws_marketplace", "synced")
    ids = data["provider_ids"]
    assert (ids["accepted_cents"], ids["target_cents"]) == (425, 425)
    assert ids["metering_record_ids"] == ["mrid-000000", "mrid-000001"]
    assert [(r["hour"], r["cents"], r["state"], r["receipt"]) for r in ids["records"]] == [
        ("2025-03-10T12:00:00Z", 300, "accepted", "mrid-000000"),
        ("2025-03-10T13:00:00Z", 125, "accepted", "mrid-000001"),
    ]


def test_an_expired_record_is_named_with_its_hour_and_cents(local_api: LocalApi) -> None:
    clock = MutableClock(NOON)
    world = MeterWorld(clock, store=local_api.store)
    world.add_customer("cust_meter_late", "azure_marketplace")
    world.send_invoice("inv_meter_late", "cust_meter_late", "0.77")
    world.market("azure_marketplace").faults = ["server_error"] * 3
    world.run()
    clock.advance(hours=25)
    world.run()

    data = local_api.client.get("/v1/invoices/inv_meter_late/sync").data
    assert data["status"] == "expired"
    assert "77 cents expired" in data["reason"]
    assert "2025-03-10T12:00:00Z 77 cents" in data["reason"]
    assert data["provider_ids"]["records"][0]["state"] == "expired"
    assert data["provider_ids"]["usage_event_ids"] == []
