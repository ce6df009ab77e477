"""Marketplace reconciliation: Azure's side read back from the loopback double (the real adapter,
azure-identity and `GET /api/usageEvents`), our side from the store the meter wrote.

Each planted difference in the double — an event Azure lost, a quantity that differs, an event we
never sent — is found once, with its kind; a clean run finds none.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from local.azure_marketplace_double import AzureMarketplaceDouble
from shared.adapters.azure_metering import AzureMarketplaceMetering, azure_credential
from shared.domain.reconciliation import Difference
from shared.services.marketplace_meter import MeterDependencies, run_meter
from shared.services.reconcile import Report
from shared.services.reconcile_marketplace import (
    MarketplaceReconcilerDependencies,
    ReadBackUnavailable,
    reconcile_marketplace,
)
from tests.meter_world import MeterWorld

HOUR = datetime(2026, 12, 1, 10, tzinfo=UTC)
NOW = HOUR + timedelta(minutes=30)
CUSTOMERS = ("c1", "c2", "c3")


@pytest.fixture(scope="module")
def running_double() -> Iterator[AzureMarketplaceDouble]:
    with AzureMarketplaceDouble() as double:
        yield double


@pytest.fixture
def double(running_double: AzureMarketplaceDouble, monkeypatch: pytest.MonkeyPatch) -> Iterator[AzureMarketplaceDouble]:
    running_double.reset()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(running_double.ca_bundle))
    for customer_id in (*CUSTOMERS, "stranger"):
        running_double.add_resource(f"sub-{customer_id}", plan_id="gold")
    with time_machine.travel(NOW, tick=False):
        yield running_double


@pytest.fixture
def azure(double: AzureMarketplaceDouble) -> AzureMarketplaceMetering:
    credential = azure_credential(double.tenant_id, double.client_id, double.client_secret, double.url)
    return AzureMarketplaceMetering(credential, double.url, max_retries=0)


@pytest.fixture
def world(azure: AzureMarketplaceMetering) -> MeterWorld:
    """Three Azure customers, one invoice each, metered into the double: all accepted."""
    world = MeterWorld(lambda: NOW)
    for number, customer_id in enumerate(CUSTOMERS, start=1):
        world.add_customer(customer_id, "azure_marketplace")
        world.send_invoice(f"inv_{customer_id}", customer_id, f"{number}.00")
    report = run_meter(MeterDependencies(world.store, {"azure_marketplace": azure}, clock=lambda: NOW), lambda: 900_000)
    assert report.accepted == 3
    return world


def reconcile(world: MeterWorld, azure: AzureMarketplaceMetering | None, **options: object) -> Report:
    read_back = {} if azure is None else {"azure_marketplace": azure}
    deps = MarketplaceReconcilerDependencies(world.store, read_back, clock=lambda: NOW)  # type: ignore[arg-type]
    return reconcile_marketplace(deps, "azure_marketplace", **options)  # type: ignore[arg-type]


def rows(report: Report) -> list[tuple[str, str, str, str]]:
    return [(d.invoice_id, d.kind, d.expected, d.actual) for d in report.differences]


def test_a_clean_run_reports_nothing(world: MeterWorld, azure: AzureMarketplaceMetering) -> None:
    report = reconcile(world, azure)
    assert report.summary() == {"checked": 3, "differences": 0}


def test_an_event_azure_lost_is_missing(
    world: MeterWorld, azure: AzureMarketplaceMetering, double: AzureMarketplaceDouble
) -> None:
    double.forget_event("sub-c1", HOUR)
    assert rows(reconcile(world, azure)) == [
        ("inv_c1", "missing", "100 units in 1 event(s) on 2026-12-01 for resource sub-c1", "none")
    ]


def test_a_quantity_that_differs_is_a_total(
    world: MeterWorld, azure: AzureMarketplaceMetering, double: AzureMarketplaceDouble
) -> None:
    double.change_quantity("sub-c2", HOUR, 250)
    assert rows(reconcile(world, azure)) == [
        ("inv_c2", "total", "200 units in 1 event(s) on 2026-12-01 for resource sub-c2", "250 units in 1 event(s)")
    ]


def test_usage_events_we_never_recorded_are_unrecorded(
    world: MeterWorld, azure: AzureMarketplaceMetering, double: AzureMarketplaceDouble
) -> None:
    double.plant_event("sub-c3", HOUR - timedelta(hours=2), 40)  # beside our own event that day
    double.plant_event("sub-stranger", HOUR, 7)  # a resource no customer of ours has
    found = rows(reconcile(world, azure))
    assert found == [
        (
            "inv_c3",
            "unrecorded",
            "300 units in 1 event(s) on 2026-12-01 for resource sub-c3",
            "340 units in 2 event(s)",
        ),
        ("-", "unrecorded", "no usage event on 2026-12-01 for resource sub-stranger", "7 units in 1 event(s)"),
    ]
    # One customer's run leaves other resources alone.
    assert rows(reconcile(world, azure, customer_id="c1")) == []


def test_an_event_on_the_resource_of_a_customer_we_never_metered_is_unrecorded(
    world: MeterWorld, azure: AzureMarketplaceMetering, double: AzureMarketplaceDouble
) -> None:
    world.add_customer("c4", "azure_marketplace")  # configured, never invoiced: no record of ours
    double.add_resource("sub-c4", plan_id="gold")
    double.plant_event("sub-c4", HOUR, 12)
    assert rows(reconcile(world, azure, customer_id="c4")) == [
        ("-", "unrecorded", "no usage event on 2026-12-01 for resource sub-c4", "12 units in 1 event(s)")
    ]


def test_every_planted_difference_at_once_is_found_once_each(
    world: MeterWorld, azure: AzureMarketplaceMetering, double: AzureMarketplaceDouble
) -> None:
    double.forget_event("sub-c1", HOUR)
    double.change_quantity("sub-c2", HOUR, 1)
    double.plant_event("sub-c3", HOUR - timedelta(hours=1), 5)
    report = reconcile(world, azure)
    assert [(d.invoice_id, d.kind) for d in report.differences] == [
        ("inv_c1", "missing"),
        ("inv_c2", "total"),
        ("inv_c3", "unrecorded"),
    ]
    assert all(isinstance(d, Difference) and d.provider == "azure_marketplace" for d in report.differences)
    assert report.summary() == {"checked": 3, "differences": 3}


def test_since_keeps_later_invoices_and_reads_azure_from_that_day(
    world: MeterWorld, azure: AzureMarketplaceMetering, double: AzureMarketplaceDouble
) -> None:
    double.plant_event("sub-stranger", HOUR - timedelta(days=2), 9)

    def asked_from() -> str:
        return [request.query for request in double.requests if request.path == "/api/usageEvents"][-1][
            "usageStartDate"
        ]

    # The invoices end on 2025-03-01 (the builders'): kept; Azure is asked from that day on.
    report = reconcile(world, azure, since=datetime(2025, 3, 1, tzinfo=UTC))
    assert (report.checked, [d.invoice_id for d in report.differences], asked_from()) == (3, ["-"], "2025-03-01")
    # From 2026-11-30: no invoice ends that late, and the planted event of the 29th is not asked for.
    report = reconcile(world, azure, since=HOUR - timedelta(days=1))
    assert (report.summary(), asked_from()) == ({"checked": 0, "differences": 0}, "2026-11-30")


def test_without_azure_credentials_the_read_back_is_an_error(world: MeterWorld) -> None:
    with pytest.raises(ReadBackUnavailable, match="AZURE_CLIENT_ID"):
        reconcile(world, None)
