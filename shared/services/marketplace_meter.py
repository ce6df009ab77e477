"""Use case: one run of the marketplace meter (every 10 minutes; docs/marketplaces.md, "How metering works").

Per marketplace, page through the customers whose outbox entries wait; per customer, claim its
`meter` lease (an overlapping run skips it), store this hour's record — quantity fixed, state
`pending` — before anything is sent, then send every waiting record of the page's customers in as
few calls as the provider allows and store each outcome. A record is only ever sent as it was
stored, so a retry (in this run or a later one) is the identical record and the provider's own
duplicate detection makes it harmless. The run stops before Lambda's time limit; whatever it did
not reach waits for the next run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from shared.domain.customers import Customer
from shared.domain.marketplace_metering import (
    DIMENSION,
    METERED_CURRENCY,
    WAITING_STATES,
    InvoiceCents,
    allocate,
    batches,
    cents,
    hour_start,
    record_id,
    sendable,
    unmetered_cents,
    window_closes,
)
from shared.domain.providers import AwsMarketplaceProviderConfiguration, AzureMarketplaceProviderConfiguration
from shared.domain.subscriptions import metering_gate
from shared.domain.sync import SyncAttempt
from shared.domain.timestamps import format_timestamp
from shared.ports.meter_store import MeterInvoice, MeterInvoiceDone, StoredUsageRecord
from shared.ports.metering import (
    AwsBuyer,
    AzureBuyer,
    Buyer,
    MarketplaceMetering,
    MarketplaceProvider,
    RecordOutcome,
)
from shared.ports.metering import UsageRecord as WireRecord
from shared.services.marketplace_meter_calls import (
    CustomerWork,
    MeterDependencies,
    MeterRunReport,
    RemainingMillis,
    call,
    out_of_time,
    record_outcome,
)
from shared.services.marketplace_sync_status import invoice_gate, invoice_status, subscription_of

__all__ = ["LEASE_KIND", "MeterDependencies", "MeterRunReport", "run_meter"]

LEASE_KIND = "meter"


def run_meter(deps: MeterDependencies, remaining_ms: RemainingMillis) -> MeterRunReport:
    report = MeterRunReport()
    for provider, meter in deps.meters.items():
        _meter_provider(deps, provider, meter, remaining_ms, report)
        if report.stopped_early:
            break
    return report


def _meter_provider(
    deps: MeterDependencies,
    provider: MarketplaceProvider,
    meter: MarketplaceMetering,
    remaining_ms: RemainingMillis,
    report: MeterRunReport,
) -> None:
    seen: set[str] = set()
    cursor: str | None = None
    while not out_of_time(deps, remaining_ms, report):
        page = deps.store.meter_work(provider, cursor, deps.page_size)
        customers = [(customer, invoices) for customer, invoices in page.customers if customer not in seen]
        seen.update(customer for customer, _ in customers)
        _meter_page(deps, provider, meter, customers, remaining_ms, report)
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def _meter_page(
    deps: MeterDependencies,
    provider: MarketplaceProvider,
    meter: MarketplaceMetering,
    customers: Sequence[tuple[str, list[MeterInvoice]]],
    remaining_ms: RemainingMillis,
    report: MeterRunReport,
) -> None:
    work: list[CustomerWork] = []
    try:
        if out_of_time(deps, remaining_ms, report):
            return
        now = deps.clock()
        by_key = {f"{provider}#{customer_id}": (customer_id, invoices) for customer_id, invoices in customers}
        leases = deps.store.claim_leases(LEASE_KIND, list(by_key), now=now, until=now + deps.lease_for)
        for key, (customer_id, invoices) in by_key.items():
            lease = leases.get(key)
            if lease is None:
                report.customers_leased_elsewhere += 1
                continue
            work.append(CustomerWork(provider, customer_id, lease, list(invoices)))
        report.customers += len(work)
        new_records = _prepare(deps, meter, work, now)
        _send(deps, provider, meter, work, new_records, remaining_ms, report)
        _finish(deps, work)
    finally:
        # Whatever was not finished (an error, the time limit) is handed back for the next run.
        _release(deps, [customer for customer in work if customer.lease is not None], settled=set())


@dataclass(frozen=True)
class _NewRecord:
    """This hour's record for a customer, to be stored just before the call that carries it."""

    work: CustomerWork
    record: StoredUsageRecord
    carrying: list[MeterInvoice]


def _prepare(
    deps: MeterDependencies, meter: MarketplaceMetering, work: Sequence[CustomerWork], now: datetime
) -> dict[str, _NewRecord]:
    """Read the records the customers' entries name and work out this hour's record for what their
    invoices owe (stored later, call by call, before the call that sends it)."""
    for customer in work:
        # Every waiting record carries cents of an entry still waiting (an entry leaves the waiting
        # list only once none of its records waits), so the entries' allocations name every record
        # this run must send or look at: a customer whose entries have none needs no read.
        hours = sorted({hour for invoice in customer.invoices for hour in invoice.allocations})
        if hours:
            for record in deps.store.get_usage_records(customer.provider, customer.customer_id, DIMENSION, hours):
                customer.records[record.hour] = record
    hour = hour_start(now)
    # The buyers' configurations: what a new record is sent to, and the subscription every record
    # of theirs follows (suspended: held; unsubscribed: only hours that started before it).
    configured = deps.store.get_customers([customer.customer_id for customer in work]) if work else {}
    owing: dict[str, list[InvoiceCents]] = {}
    for customer in work:
        customer.subscription = subscription_of(configured.get(customer.customer_id), customer.provider)
        if hour in customer.records:  # this hour's record exists: the rest goes into a later hour
            continue
        owed = [
            InvoiceCents(invoice.invoice_id, _owed(invoice))
            for invoice in customer.invoices
            # held (suspended) or refused (after an unsubscription): not in this hour's record
            if invoice_gate(customer.subscription, invoice, now).action == "send"
        ]
        if owed := [invoice for invoice in owed if invoice.owed > 0]:
            owing[customer.customer_id] = owed
    new_records: dict[str, _NewRecord] = {}
    for customer in work:
        owes = owing.get(customer.customer_id)
        buyer = None if owes is None else _buyer(configured.get(customer.customer_id), customer.provider)
        if owes is None or buyer is None:
            continue
        shares = allocate(owes, meter.max_quantity)
        record = StoredUsageRecord(
            record_id=record_id(customer.provider, customer.customer_id, DIMENSION, hour),
            provider=customer.provider,
            customer_id=customer.customer_id,
            dimension=DIMENSION,
            hour=hour,
            quantity=sum(shares.values()),
            buyer=buyer,
            invoices=shares,
        )
        carrying = [invoice for invoice in customer.invoices if invoice.invoice_id in shares]
        new_records[record.record_id] = _NewRecord(customer, record, carrying)
    return new_records


def _store_new(deps: MeterDependencies, new_records: Sequence[_NewRecord], report: MeterRunReport) -> set[str]:
    """Store the records (each with its invoices' cents, all or nothing); the ids stored.

    One is refused when this hour's record exists already (cheaper to try than to look first) or
    when another run or a newer invoice version changed an entry since it was read. Either way its
    cents are metered by a later run, into a later hour or from the newer version."""
    created = deps.store.create_usage_records([(new.record, new.carrying) for new in new_records])
    for new in new_records:
        if new.record.record_id not in created:
            continue
        report.records_created += 1
        work, record = new.work, new.record
        work.records[record.hour] = record
        work.invoices = [
            dataclasses.replace(
                invoice,
                metered_cents=invoice.metered_cents + record.invoices[invoice.invoice_id],
                allocations={**invoice.allocations, record.hour: record.invoices[invoice.invoice_id]},
            )
            if invoice.invoice_id in record.invoices
            else invoice
            for invoice in work.invoices
        ]
    return created


def _owed(invoice: MeterInvoice) -> int:
    if invoice.currency != METERED_CURRENCY or invoice.invoice_status == "VOID":
        return 0  # voided: nothing more is sent; what records already carry is sent as stored
    return unmetered_cents(cents(invoice.target_amount), invoice.metered_cents)


def _buyer(customer: Customer | None, provider: MarketplaceProvider) -> Buyer | None:
    configuration = None if customer is None else customer.configuration_for(provider)
    if isinstance(configuration, AwsMarketplaceProviderConfiguration):
        aws = configuration.configuration
        return AwsBuyer(
            product_code=aws.aws_product_code,
            region=aws.aws_region,
            customer_identifier=None if aws.aws_customer_account_id else aws.aws_customer_id,
            customer_aws_account_id=aws.aws_customer_account_id,
            license_arn=aws.aws_license_arn if aws.aws_customer_account_id else None,
        )
    if isinstance(configuration, AzureMarketplaceProviderConfiguration):
        azure = configuration.configuration
        return AzureBuyer(resource_id=azure.azure_subscription_id, plan_id=azure.azure_plan_id)
    return None  # no configuration for this provider any more: nothing can be metered


def _send(
    deps: MeterDependencies,
    provider: MarketplaceProvider,
    meter: MarketplaceMetering,
    work: Sequence[CustomerWork],
    new_records: Mapping[str, _NewRecord],
    remaining_ms: RemainingMillis,
    report: MeterRunReport,
) -> None:
    owners = {record.record_id: customer for customer in work for record in customer.records.values()}
    owners.update((record_id, new.work) for record_id, new in new_records.items())
    waiting = [record for customer in work for record in customer.records.values() if record.state in WAITING_STATES]
    now = deps.clock()
    to_send: dict[str, StoredUsageRecord] = {}
    expired: list[StoredUsageRecord] = []
    unsubscribed: list[StoredUsageRecord] = []
    for record in waiting:
        owner = owners[record.record_id]
        gate = metering_gate(owner.subscription, record.hour)
        if sendable(provider, record.hour, now):
            if gate.action == "send":
                to_send[record.record_id] = record
            elif gate.action == "refuse":  # an hour at or after the unsubscription: never sent
                outcome = RecordOutcome(record.record_id, "failed")
                unsubscribed.append(record_outcome(owner, record, outcome, gate.reason, report))
            continue  # held while suspended (its window still closes: expired below once it has)
        closes = format_timestamp(window_closes(provider, record.hour))
        unknown = " (sent before, and no answer came back: it may have been metered)" if record.sends else ""
        reason = f"{provider} accepts the {format_timestamp(record.hour)} record only until {closes}{unknown}"
        outcome = RecordOutcome(record.record_id, "expired")
        expired.append(record_outcome(owner, record, outcome, reason, report))
    if expired or unsubscribed:
        deps.store.update_usage_records([*expired, *unsubscribed])
    to_send.update((record_id, new.record) for record_id, new in new_records.items())
    for planned in batches([_wire(record) for record in to_send.values()], meter.max_records):
        if out_of_time(deps, remaining_ms, report):
            return
        batch = planned
        # This hour's records are stored just before the first call that carries them (all of a
        # call's in one write): every later send is the identical, stored record.
        new_here = [new_records[wire.record_id] for wire in batch if wire.record_id in new_records]
        if new_here:
            created = _store_new(deps, new_here, report)
            refused = {new.record.record_id for new in new_here} - created
            batch = [wire for wire in batch if wire.record_id not in refused]
            if not batch:
                continue
        # Marked before they leave: should the answer never come back (a crash, a timeout) and the
        # window close, their expiry says they may have been metered all the same.
        leaving = [
            dataclasses.replace(to_send[wire.record_id], state="sent", sends=to_send[wire.record_id].sends + 1)
            for wire in batch
        ]
        deps.store.update_usage_records(leaving)
        outcomes = call(deps, meter, batch, remaining_ms, report)
        answered = [
            record_outcome(owners[record.record_id], record, outcomes.get(record.record_id), None, report)
            for record in leaving
        ]
        deps.store.update_usage_records(answered)


def _finish(deps: MeterDependencies, work: Sequence[CustomerWork]) -> None:
    """Record the status of each invoice whose work is done and take it out of the waiting list;
    settle each customer's lease when nothing of it waits. (A status read in between computes the
    same view from the records: `marketplace_sync_status.live_sync_status`.)"""
    done: list[MeterInvoiceDone] = []
    waits: set[str] = set()  # customers with work left
    for customer in work:
        for invoice in customer.invoices:
            missing = [hour for hour in invoice.allocations if hour not in customer.records]
            if missing:  # cannot be (a record and its allocations are one write): looked for again
                found = deps.store.get_usage_records(customer.provider, customer.customer_id, DIMENSION, missing)
                customer.records.update((record.hour, record) for record in found)
            gate = invoice_gate(customer.subscription, invoice, deps.clock())
            status, reason, provider_ids, _, shares = invoice_status(invoice, customer.records, gate)
            owes = _owed(invoice) and gate.action != "refuse"  # refused cents are failed, not waiting
            if owes or any(share.state in WAITING_STATES for share in shares):
                waits.add(customer.customer_id)
                continue
            attempt = SyncAttempt(
                at=deps.clock(), outcome=f"meter:{status}", detail=f"version {invoice.invoice_version}: {reason}"
            )
            done.append(MeterInvoiceDone(invoice, status, reason, attempt, provider_ids))
    changed = deps.store.finish_meter_invoices(done) if done else set()
    # An entry that changed meanwhile (a newer version arrived) waits: the next run meters it.
    waits.update(finished.invoice.customer_id for finished in done if finished.invoice.invoice_id in changed)
    _release(deps, work, settled={customer.customer_id for customer in work} - waits)


def _release(deps: MeterDependencies, work: Sequence[CustomerWork], *, settled: set[str]) -> None:
    """Let the customers' leases go, settling those in `settled`. A run that outlived its lease
    lost it to another run, which carries on from the stored records: that lease is passed over."""
    releases = [(customer.lease, customer.customer_id in settled) for customer in work if customer.lease is not None]
    for customer in work:
        customer.lease = None
    if releases:
        deps.store.release_leases(releases, now=deps.clock())


def _wire(record: StoredUsageRecord) -> WireRecord:
    return WireRecord(record.record_id, record.buyer, record.dimension, record.hour, record.quantity)
