"""Marketplace reconciliation on our side (all AWS allows: it has no API that reads records back).

The meter runs against the in-memory marketplace; then a record is changed in the store as a
fault or a bug would leave it, and reconciliation names it. A clean run finds nothing.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from functions.reconciler.handler import lambda_handler
from local.lambda_context import LocalLambdaContext
from shared.domain.marketplace_metering import DIMENSION
from shared.domain.marketplace_reconciliation import DayUsage, UsageDayKey, usage_day_differences
from shared.ports.meter_store import StoredUsageRecord
from shared.services.reconcile import ReconcilerDependencies, Report
from shared.services.reconcile_marketplace import MarketplaceReconcilerDependencies, reconcile_marketplace
from tests.fakes.memory_store import InMemoryStore
from tests.meter_world import MeterWorld, MutableClock

NOON = datetime(2025, 3, 10, 12, 5, tzinfo=UTC)


@pytest.fixture
def world() -> MeterWorld:
    world = MeterWorld(MutableClock(NOON))
    for number, customer_id in enumerate(("c1", "c2", "c3"), start=1):
        world.add_customer(customer_id, licence=number % 2 == 0)
        world.send_invoice(f"inv_{customer_id}", customer_id, f"{number}.23")
    assert world.run().accepted == 3
    return world


def reconcile(world: MeterWorld, **options: object) -> Report:
    deps = MarketplaceReconcilerDependencies(world.store, {}, clock=world.clock)
    return reconcile_marketplace(deps, "aws_marketplace", **options)  # type: ignore[arg-type]


def the_record(world: MeterWorld, customer_id: str) -> StoredUsageRecord:
    [found] = world.store.list_usage_records("aws_marketplace", customer_id, DIMENSION)
    return found


def rows(report: Report) -> list[tuple[str, str, str, str]]:
    return [(d.invoice_id, d.kind, d.expected, d.actual) for d in report.differences]


def test_a_clean_run_reports_nothing(world: MeterWorld) -> None:
    assert reconcile(world).summary() == {"checked": 3, "differences": 0}


def test_an_expired_record_is_listed_with_its_reason_and_accounts_for_its_cents(world: MeterWorld) -> None:
    record = the_record(world, "c1")
    reason = "aws_marketplace accepts the 2025-03-10T12:00:00Z record only until 2025-03-11T12:00:00Z"
    world.store.update_usage_records([dataclasses.replace(record, state="expired", receipt=None, reason=reason)])
    assert rows(reconcile(world)) == [
        (
            "inv_c1",
            "status",
            "accepted: the 2025-03-10T12:00:00Z record (123 cents of this invoice)",
            f"expired: {reason}",
        )
    ]


def test_an_accepted_record_without_its_receipt_is_missing(world: MeterWorld) -> None:
    record = the_record(world, "c2")
    world.store.update_usage_records([dataclasses.replace(record, receipt=None)])
    assert rows(reconcile(world)) == [
        (
            "inv_c2",
            "missing",
            "a MeteringRecordId for the 2025-03-10T12:00:00Z record (223 cents of this invoice)",
            "none",
        )
    ]


def test_an_over_metered_invoice_is_a_total(world: MeterWorld) -> None:
    world.send_invoice("inv_c3", "c3", "2.00")  # its total went down after 323 cents were metered
    world.run()
    assert rows(reconcile(world)) == [("inv_c3", "total", "200 cents", "323 cents accepted")]


def test_cents_in_a_record_that_no_invoice_accounts_for_are_the_customers_total(world: MeterWorld) -> None:
    assert isinstance(world.store, InMemoryStore)
    record = the_record(world, "c1")
    key = (record.provider, record.customer_id, record.dimension, record.hour)
    world.store.usage_records[key] = dataclasses.replace(record, quantity=record.quantity + 5)  # what AWS was told
    assert rows(reconcile(world)) == [
        (
            "-",
            "total",
            "customer c1: 123 cents its invoices have in accepted records",
            "128 cents in its accepted records",
        )
    ]
    # With --since only invoices are rows: the customer's whole history is not looked at.
    assert rows(reconcile(world, since=datetime(2025, 3, 1, tzinfo=UTC))) == []


def test_work_the_meter_is_not_done_with_is_not_compared(world: MeterWorld) -> None:
    world.send_invoice("inv_c1", "c1", "5.00")  # 377 cents more, not yet in a record
    assert reconcile(world).summary() == {"checked": 2, "differences": 0}


def test_days_compare_quantity_and_count_and_name_the_kind() -> None:
    day = NOON.date()
    key, other = UsageDayKey("sub-1", day), UsageDayKey("sub-2", day + timedelta(days=1))
    ours = {key: DayUsage(Decimal(100), 2), other: DayUsage(Decimal(5), 1)}
    cases = {
        DayUsage(Decimal(100), 2): [],
        DayUsage(Decimal(90), 2): ["total"],
        DayUsage(Decimal(130), 3): ["unrecorded"],
        DayUsage(Decimal(60), 1): ["missing"],
    }
    for theirs, kinds in cases.items():
        found = usage_day_differences("azure_marketplace", ours, {key: theirs, other: ours[other]}, {key: ["inv_1"]})
        assert [d.kind for d in found] == kinds
        assert all(d.invoice_id == "inv_1" for d in found)
    assert [d.kind for d in usage_day_differences("azure_marketplace", ours, {}, {})] == ["missing", "missing"]


def test_the_daily_run_checks_every_marketplace_and_counts_by_provider(
    world: MeterWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    record = the_record(world, "c2")
    world.store.update_usage_records([dataclasses.replace(record, receipt=None)])

    class NoStripeInvoices:
        def list_invoices(self, customer: str) -> list[object]:
            return []

    deps = ReconcilerDependencies(world.store, NoStripeInvoices())  # type: ignore[arg-type]
    marketplaces = MarketplaceReconcilerDependencies(world.store, {}, clock=world.clock)
    result = lambda_handler({}, LocalLambdaContext("reconciler"), deps=deps, marketplaces=marketplaces)
    assert result["providers"]["aws_marketplace"] == {"checked": 3, "differences": 1}
    assert "azure_marketplace" not in result["providers"]  # no Azure credentials: neither metered nor read
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    assert next(m for m in metrics if "ReconciliationDifferences" in m)["ReconciliationDifferences"] == [1.0]
    by_provider = next(m for m in metrics if "ReconciliationDifferencesByProvider" in m)
    assert (by_provider["provider"], by_provider["ReconciliationDifferencesByProvider"]) == ("aws_marketplace", [1.0])
