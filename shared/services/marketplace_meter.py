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

import contextlib
import dataclasses
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

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
from shared.domain.sync import SyncAttempt, reason_line
from shared.domain.timestamps import format_timestamp
from shared.ports.errors import PermanentError, RetryableError
from shared.ports.leases import Lease, LeaseLost
from shared.ports.metering import (
    AwsBuyer,
    AzureBuyer,
    Buyer,
    MarketplaceMetering,
    MarketplaceProvider,
    RecordOutcome,
    RecordState,
)
from shared.ports.metering import UsageRecord as WireRecord
from shared.ports.store import MarketplaceMeterStore, MeterInvoice, StoredUsageRecord
from shared.services.marketplace_sync_status import invoice_status

LEASE_KIND = "meter"


@dataclass
class MeterDependencies:
    store: MarketplaceMeterStore
    meters: Mapping[MarketplaceProvider, MarketplaceMetering]  # a marketplace left out is not metered
    clock: Callable[[], datetime]
    sleep: Callable[[float], None] = time.sleep
    page_size: int = 1000  # outbox entries per page: larger pages pack calls fuller (25 records of one group)
    lease_for: timedelta = timedelta(minutes=6)  # longer than the function's timeout (300 s): a live run keeps it
    call_attempts: int = 3  # sends of one batch within a run (throttling, 5xx, unprocessed)
    backoff_seconds: float = 0.2  # doubles with each attempt, plus jitter
    stop_margin_ms: int = 20_000  # stop starting work when less than this remains


@dataclass
class MeterRunReport:
    customers: int = 0
    customers_leased_elsewhere: int = 0
    records_created: int = 0
    calls: int = 0
    retried_calls: int = 0
    records_sent: int = 0
    accepted: int = 0
    accepted_cents: int = 0
    expired: int = 0
    expired_cents: int = 0
    conflicts: int = 0
    failed: int = 0
    left_waiting: int = 0
    stopped_early: bool = False


@dataclass
class _CustomerWork:
    provider: MarketplaceProvider
    customer_id: str
    lease: Lease | None  # None once released
    invoices: list[MeterInvoice]
    records: dict[datetime, StoredUsageRecord] = field(default_factory=dict)


RemainingMillis = Callable[[], int]


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
    while not _out_of_time(deps, remaining_ms, report):
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
    work: list[_CustomerWork] = []
    try:
        for customer_id, invoices in customers:
            if _out_of_time(deps, remaining_ms, report):
                break
            now = deps.clock()
            lease = deps.store.claim(LEASE_KIND, f"{provider}#{customer_id}", now=now, until=now + deps.lease_for)
            if lease is None:
                report.customers_leased_elsewhere += 1
                continue
            customer_work = _CustomerWork(provider, customer_id, lease, list(invoices))
            work.append(customer_work)
            report.customers += 1
            _prepare(deps, meter, customer_work, now, report)
        _send(deps, provider, meter, work, remaining_ms, report)
        for customer_work in work:
            _finish(deps, customer_work, report)
    finally:
        # Whatever was not finished (an error, the time limit) is handed back for the next run.
        for customer_work in work:
            if customer_work.lease is not None:
                _release(deps, customer_work, settle=False)


def _prepare(
    deps: MeterDependencies, meter: MarketplaceMetering, work: _CustomerWork, now: datetime, report: MeterRunReport
) -> None:
    """Find the customer's waiting records and store this hour's record for what its invoices owe."""
    for record in deps.store.waiting_usage_records(work.provider, work.customer_id):
        work.records[record.hour] = record
    owed = [InvoiceCents(invoice.invoice_id, _owed(invoice)) for invoice in work.invoices]
    owed = [invoice for invoice in owed if invoice.owed > 0]
    hour = hour_start(now)
    if not owed:
        return
    if hour in work.records:  # this hour's record is stored already: the rest goes into a later hour
        return
    buyer = _buyer(deps, work)
    if buyer is None:
        return
    shares = allocate(owed, meter.max_quantity)
    record = StoredUsageRecord(
        record_id=record_id(work.provider, work.customer_id, DIMENSION, hour),
        provider=work.provider,
        customer_id=work.customer_id,
        dimension=DIMENSION,
        hour=hour,
        quantity=sum(shares.values()),
        buyer=buyer,
        invoices=shares,
    )
    carrying = [invoice for invoice in work.invoices if invoice.invoice_id in shares]
    # Refused whole when this hour's record exists already (cheaper to try than to look first) or
    # when another run or a newer invoice version changed an entry since it was read.
    # Either way the cents are metered by a later run, into a later hour or from the newer version.
    if not deps.store.create_usage_record(record, carrying):
        return
    report.records_created += 1
    work.records[hour] = record
    work.invoices = [
        dataclasses.replace(
            invoice,
            metered_cents=invoice.metered_cents + shares[invoice.invoice_id],
            allocations={**invoice.allocations, hour: shares[invoice.invoice_id]},
        )
        if invoice.invoice_id in shares
        else invoice
        for invoice in work.invoices
    ]


def _owed(invoice: MeterInvoice) -> int:
    if invoice.currency != METERED_CURRENCY or invoice.invoice_status == "VOID":
        return 0  # voided: nothing more is sent; what records already carry is sent as stored
    return unmetered_cents(cents(invoice.target_amount), invoice.metered_cents)


def _buyer(deps: MeterDependencies, work: _CustomerWork) -> Buyer | None:
    customer = deps.store.get_customer(work.customer_id)
    configuration = None if customer is None else customer.configuration_for(work.provider)
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
    work: Sequence[_CustomerWork],
    remaining_ms: RemainingMillis,
    report: MeterRunReport,
) -> None:
    owners = {record.record_id: customer for customer in work for record in customer.records.values()}
    waiting = [record for customer in work for record in customer.records.values() if record.state in WAITING_STATES]
    now = deps.clock()
    to_send: dict[str, StoredUsageRecord] = {}
    expired: list[StoredUsageRecord] = []
    for record in waiting:
        if sendable(provider, record.hour, now):
            to_send[record.record_id] = record
            continue
        closes = format_timestamp(window_closes(provider, record.hour))
        unknown = " (sent before, and no answer came back: it may have been metered)" if record.sends else ""
        reason = f"{provider} accepts the {format_timestamp(record.hour)} record only until {closes}{unknown}"
        outcome = RecordOutcome(record.record_id, "expired")
        expired.append(_outcome(owners[record.record_id], record, outcome, reason, report))
    if expired:
        deps.store.update_usage_records(expired)
    for batch in batches([_wire(record) for record in to_send.values()], meter.max_records):
        if _out_of_time(deps, remaining_ms, report):
            return
        # Marked before they leave: should the answer never come back (a crash, a timeout) and the
        # window close, their expiry says they may have been metered all the same.
        leaving = [
            dataclasses.replace(to_send[wire.record_id], state="sent", sends=to_send[wire.record_id].sends + 1)
            for wire in batch
        ]
        deps.store.update_usage_records(leaving)
        outcomes = _call(deps, meter, batch, remaining_ms, report)
        answered = [
            _outcome(owners[record.record_id], record, outcomes.get(record.record_id), None, report)
            for record in leaving
        ]
        deps.store.update_usage_records(answered)


def _call(
    deps: MeterDependencies,
    meter: MarketplaceMetering,
    batch: list[WireRecord],
    remaining_ms: RemainingMillis,
    report: MeterRunReport,
) -> dict[str, RecordOutcome]:
    """Send `batch`, again for what comes back unprocessed or retryable (bounded); what never gets
    an answer is left out of the result."""
    results: dict[str, RecordOutcome] = {}
    pending = batch
    for attempt in range(deps.call_attempts):
        if attempt:
            report.retried_calls += 1
            if _out_of_time(deps, remaining_ms, report):
                break
            deps.sleep(deps.backoff_seconds * 2 ** (attempt - 1) * random.uniform(1.0, 1.5))
        report.calls += 1
        report.records_sent += len(pending)
        try:
            outcomes = meter.meter(pending)
        except RetryableError:
            continue
        except PermanentError as error:
            state: RecordState = "expired" if error.code == "TimestampOutOfBoundsException" else "failed"
            reason = reason_line(f"the call was refused: {error}")
            results.update((wire.record_id, RecordOutcome(wire.record_id, state, reason=reason)) for wire in pending)
            break
        results.update((outcome.record_id, outcome) for outcome in outcomes if outcome.state != "unprocessed")
        pending = [record for record in pending if record.record_id not in results]
        if not pending:
            break
    return results


def _outcome(
    work: _CustomerWork,
    record: StoredUsageRecord,
    outcome: RecordOutcome | None,
    reason: str | None,
    report: MeterRunReport,
) -> StoredUsageRecord:
    """The record as the outcome leaves it (stored by the caller, a call's worth at a time)."""
    if outcome is None or outcome.state == "unprocessed":
        said = "no answer from the marketplace" if outcome is None else "left unprocessed by the marketplace"
        updated = dataclasses.replace(record, state="sent", reason=f"{said}: sent again in the next run")
        report.left_waiting += 1
    else:
        text = reason or outcome.reason
        if outcome.state == "duplicate":
            text = f"conflict: the marketplace holds another quantity for this hour ({outcome.reason})"
            report.conflicts += 1
        elif outcome.state == "accepted":
            report.accepted += 1
            report.accepted_cents += record.quantity
        elif outcome.state == "expired":
            report.expired += 1
            report.expired_cents += record.quantity
        else:
            report.failed += 1
        updated = dataclasses.replace(
            record, state=outcome.state, receipt=outcome.receipt, reason=None if text is None else reason_line(text)
        )
    work.records[record.hour] = updated
    return updated


def _finish(deps: MeterDependencies, work: _CustomerWork, report: MeterRunReport) -> None:
    """Record the status of each invoice whose work is done and take it out of the waiting list;
    settle the customer's lease when nothing of it waits. (A status read in between computes the
    same view from the records: `marketplace_sync_status.live_sync_status`.)"""
    all_done = True
    for invoice in work.invoices:
        missing = [hour for hour in invoice.allocations if hour not in work.records]
        if missing:
            for found in deps.store.get_usage_records(work.provider, work.customer_id, DIMENSION, missing):
                work.records[found.hour] = found
        status, reason, provider_ids, _, shares = invoice_status(invoice, work.records)
        done = not _owed(invoice) and not any(share.state in WAITING_STATES for share in shares)
        if not done:
            all_done = False
            continue
        detail = f"version {invoice.invoice_version}: {reason}"
        deps.store.record_sync(
            invoice.invoice_id,
            provider=invoice.provider,
            status=status,
            reason=reason,
            attempt=SyncAttempt(at=deps.clock(), outcome=f"meter:{status}", detail=detail),
            provider_ids=provider_ids,
        )
        if not deps.store.finish_meter_invoice(invoice):
            all_done = False  # a newer version arrived meanwhile: the next run meters it
    _release(deps, work, settle=all_done)


def _release(deps: MeterDependencies, work: _CustomerWork, *, settle: bool) -> None:
    lease = work.lease
    if lease is None:
        return
    work.lease = None
    now = deps.clock()
    # A run that outlived its lease lost it to another run, which carries on from the stored records.
    with contextlib.suppress(LeaseLost):
        if settle:
            deps.store.settle(lease, now=now)
        else:
            deps.store.hand_back(lease, now=now)


def _wire(record: StoredUsageRecord) -> WireRecord:
    return WireRecord(record.record_id, record.buyer, record.dimension, record.hour, record.quantity)


def _out_of_time(deps: MeterDependencies, remaining_ms: RemainingMillis, report: MeterRunReport) -> bool:
    if remaining_ms() < deps.stop_margin_ms:
        report.stopped_early = True
    return report.stopped_early
