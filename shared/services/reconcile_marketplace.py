"""Reconciliation at a marketplace: walk our customers, their invoices and usage records; for Azure,
read back what it holds (docs/reconciliation.md, "Marketplaces").

The rules are shared.domain.marketplace_reconciliation's; the rows, the report and the customer
and invoice walk are the Stripe reconciliation's (shared.services.reconcile). Per customer with a
configuration for the marketplace: all its usage records (one Query), its invoices from the
invoice index, each one's sync record and outbox entry. Azure's `usageEvents` is read once, for
every resource, from the earliest day that matters.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Protocol

from shared.domain.marketplace_metering import DIMENSION, METERED_CURRENCY, WAITING_STATES, cents
from shared.domain.marketplace_reconciliation import (
    DayUsage,
    MeteredInvoice,
    UsageDayKey,
    customer_difference,
    invoice_differences,
    usage_day_differences,
)
from shared.domain.providers import AzureMarketplaceProviderConfiguration
from shared.domain.reconciliation import Difference
from shared.ports.meter_store import MeterInvoice, MeterReads, StoredUsageRecord
from shared.ports.metering import AzureBuyer, MarketplaceProvider, UsageReadBack
from shared.services.marketplace_sync_status import invoice_shares
from shared.services.reconcile import (
    Progress,
    ReconcilerStore,
    Report,
    customer_invoices,
    customers_to_check,
)

# Without --since, how far back Azure is asked when we hold no record at all (there is nothing of
# ours to compare then, only events we never recorded).
LOOKBACK = timedelta(days=31)


class MarketplaceReconcilerStore(ReconcilerStore, MeterReads, Protocol):
    """What marketplace reconciliation reads: customers, invoices, sync records, the meter's outbox
    entries and usage records."""


class ReadBackUnavailable(RuntimeError):
    """The marketplace's side cannot be read (Azure without credentials)."""


@dataclass(frozen=True)
class MarketplaceReconcilerDependencies:
    store: MarketplaceReconcilerStore
    read_back: Mapping[MarketplaceProvider, UsageReadBack]  # Azure's, when its credentials are set
    clock: Callable[[], datetime]


@dataclass
class _AzureDays:
    """Our accepted events per resource and day, and which invoices' cents are in them."""

    ours: dict[UsageDayKey, DayUsage]
    invoices: dict[UsageDayKey, set[str]]
    unsettled: set[UsageDayKey]  # days with a record still awaiting Azure's answer: not compared
    resources: set[str]
    earliest: datetime | None = None


def reconcile_marketplace(
    deps: MarketplaceReconcilerDependencies,
    provider: MarketplaceProvider,
    *,
    since: datetime | None = None,
    customer_id: str | None = None,
    progress: Progress | None = None,
) -> Report:
    """Every difference at `provider`, for one customer or all (exceptions: `UnknownCustomer`,
    `ReadBackUnavailable`, the store's and Azure's errors)."""
    read_back = deps.read_back.get(provider)
    if provider == "azure_marketplace" and read_back is None:
        raise ReadBackUnavailable(
            "Azure Marketplace's usage events cannot be read: set AZURE_TENANT_ID, AZURE_CLIENT_ID and "
            "AZURE_CLIENT_SECRET (or AZURE_CREDENTIALS_SECRET_NAME in the cloud)"
        )
    report = Report()
    days = _AzureDays({}, defaultdict(set), set(), set())
    for customer in customers_to_check(deps.store, customer_id):
        configuration = customer.configuration_for(provider)
        if configuration is None:
            continue
        if isinstance(configuration, AzureMarketplaceProviderConfiguration):  # events there are its, records or not
            days.resources.add(configuration.configuration.azure_subscription_id)
        records = {record.hour: record for record in deps.store.list_usage_records(provider, customer.id, DIMENSION)}
        accounted = _check_invoices(deps.store, provider, customer.id, records, since, report, progress)
        if since is None:  # the customer's whole history; with --since only its invoices are rows
            in_records = sum(record.quantity for record in records.values() if record.state == "accepted")
            found = customer_difference(provider, customer.id, in_records=in_records, in_invoices=accounted)
            report.differences += [found] if found else []
        if provider == "azure_marketplace":
            _count_days(days, records.values())
    if read_back is not None:
        start = since or days.earliest or deps.clock() - LOOKBACK
        report.differences += _azure_differences(provider, read_back, days, start, whole=customer_id is None)
    return report


def _check_invoices(
    store: MarketplaceReconcilerStore,
    provider: MarketplaceProvider,
    customer_id: str,
    records: Mapping[datetime, StoredUsageRecord],
    since: datetime | None,
    report: Report,
    progress: Progress | None,
) -> int:
    """Rows for the customer's invoices at `provider` whose metering is done; returns the cents
    all its invoices have in accepted records."""
    accounted = 0
    for invoice in customer_invoices(store, customer_id):
        sync = store.get_sync(invoice.id)
        if sync is None or sync.provider != provider or invoice.currency != METERED_CURRENCY:
            continue  # not this marketplace's, or not metered at all (its status says why)
        entry = store.get_meter_invoice(invoice.id, provider)
        if entry is None:
            continue  # routed, not yet in the outbox: the router's retry puts it there
        shares = invoice_shares(entry, records)
        accounted += sum(share.cents for share in shares if share.state == "accepted")
        if since is not None and invoice.end_timestamp < since:
            continue
        metered = MeteredInvoice(invoice.id, _owed_cents(entry), entry.metered_cents, shares)
        if metered.in_flight:
            continue  # the meter is not done with it: nothing to compare yet
        report.differences += invoice_differences(provider, metered)
        report.checked += 1
        if progress is not None:
            progress(report.checked)
    return accounted


def _owed_cents(entry: MeterInvoice) -> int:
    # A voided invoice sends nothing more: what it owes is what it had put in records before.
    return entry.metered_cents if entry.invoice_status == "VOID" else cents(entry.target_amount)


def _count_days(days: _AzureDays, records: Iterable[StoredUsageRecord]) -> None:
    for record in records:
        if not isinstance(record.buyer, AzureBuyer):
            continue
        key = UsageDayKey(record.buyer.resource_id, record.hour.astimezone(UTC).date())
        days.resources.add(key.resource_id)
        days.earliest = record.hour if days.earliest is None else min(days.earliest, record.hour)
        if record.state in WAITING_STATES:
            days.unsettled.add(key)
        if record.state != "accepted":
            continue
        held = days.ours.get(key, DayUsage(Decimal(0), 0))
        days.ours[key] = DayUsage(held.quantity + record.quantity, held.events + 1)
        days.invoices[key].update(record.invoices)


def _azure_differences(
    provider: MarketplaceProvider, read_back: UsageReadBack, days: _AzureDays, start: datetime, *, whole: bool
) -> list[Difference]:
    first_day = start.astimezone(UTC).date()
    start_of_day = datetime.combine(first_day, time(), UTC)
    theirs = {
        UsageDayKey(day.resource_id, day.day): DayUsage(day.quantity, day.events)
        for day in read_back.usage_days(start_of_day, DIMENSION)
        # Another customer's resource is not this run's business with --customer; the whole run
        # also reports events on resources no customer of ours has.
        if day.day >= first_day and (whole or day.resource_id in days.resources)
    }
    ours = {key: usage for key, usage in days.ours.items() if key.day >= first_day}
    for key in days.unsettled:  # awaiting Azure's answer: Azure may or may not hold it yet
        ours.pop(key, None)
        theirs.pop(key, None)
    invoices = {key: sorted(ids) for key, ids in days.invoices.items()}
    return usage_day_differences(provider, ours, theirs, invoices)
