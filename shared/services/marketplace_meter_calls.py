"""The marketplace meter's run state and its calls: what a run is given, what it reports, each
customer's work in hand, and one provider call with its outcomes (shared.services.marketplace_meter
is the run itself)."""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.domain.subscriptions import Subscription
from shared.domain.sync import reason_line
from shared.ports.errors import PermanentError, RetryableError
from shared.ports.leases import Lease
from shared.ports.meter_store import MeterInvoice, StoredUsageRecord
from shared.ports.metering import MarketplaceMetering, MarketplaceProvider, RecordOutcome, RecordState
from shared.ports.metering import UsageRecord as WireRecord
from shared.ports.store import MarketplaceMeterStore

RemainingMillis = Callable[[], int]


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
class CustomerWork:
    provider: MarketplaceProvider
    customer_id: str
    lease: Lease | None  # None once released
    invoices: list[MeterInvoice]
    records: dict[datetime, StoredUsageRecord] = field(default_factory=dict)
    subscription: Subscription | None = None  # the buyer's, as this run read it (None: active)


def call(
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
            if out_of_time(deps, remaining_ms, report):
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


def record_outcome(
    work: CustomerWork,
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


def out_of_time(deps: MeterDependencies, remaining_ms: RemainingMillis, report: MeterRunReport) -> bool:
    if remaining_ms() < deps.stop_margin_ms:
        report.stopped_early = True
    return report.stopped_early
