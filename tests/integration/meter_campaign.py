"""The marketplace meter's fault campaign: one seeded run is a day or two of invoices and meter runs
against a marketplace that throttles, fails, times out after applying a call and leaves records
unprocessed, a store and process that crash between any two steps, runs that overlap, a router
that delivers events twice and out of order, and outages long enough for windows to close.

After the storm the marketplace heals and the meter drains; then, per customer, what the
marketplace holds never exceeds what was invoiced (never double-metered), every record it holds is
one the meter stored with that quantity, and every invoiced cent is accepted, or in an `expired` /
`failed` record with a reason. `bench/meter_fault_campaign.py` runs 1,000 seeds per provider.
"""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from shared.domain.marketplace_metering import DIMENSION, WAITING_STATES, cents
from shared.ports.metering import MarketplaceProvider, RecordOutcome, UsageRecord
from tests.fakes.marketplace_metering import FakeMarketplace, Fault, ProviderCrash
from tests.fakes.memory_store import InMemoryStore
from tests.meter_world import MeterWorld, MutableClock

FAULTS: list[Fault] = [
    "throttle",
    "server_error",
    "timeout_before",
    "timeout_after_apply",
    "unprocessed",
    "crash_after_apply",
]


class Crash(Exception):
    """The meter's process died here: nothing it does after this happens."""


@dataclass
class Dying:
    """Whether the current run has died (then every further store and provider call fails too)."""

    dead: bool = False
    crashes: int = 0


class CrashingStore:
    """The in-memory store, with a crash injected before or after any call at the given rate."""

    def __init__(self, store: InMemoryStore, rng: random.Random, dying: Dying) -> None:
        self._store = store
        self._rng = rng
        self._dying = dying
        self.crash_rate = 0.0

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._store, name)
        if not callable(target):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            self._maybe_die()
            result = target(*args, **kwargs)
            self._maybe_die()
            return result

        return call

    def _maybe_die(self) -> None:
        if self._dying.dead:
            raise Crash("the process is gone")
        if self.crash_rate and self._rng.random() < self.crash_rate:
            self._dying.dead = True
            self._dying.crashes += 1
            raise Crash("the meter's process died between two steps")


@dataclass
class CampaignMarket(FakeMarketplace):
    """The in-memory marketplace with seeded faults, outages, and a hook that runs another meter
    run while a call is in flight (overlapping runs)."""

    rng: random.Random = field(default_factory=random.Random)
    dying: Dying = field(default_factory=Dying)
    fault_rate: float = 0.0
    outage: bool = False
    during_call: Callable[[], None] | None = None
    fault_counts: Counter[str] = field(default_factory=Counter)

    def meter(self, records: Sequence[UsageRecord]) -> list[RecordOutcome]:
        if self.dying.dead:
            raise Crash("the process is gone")
        if self.during_call is not None:
            hook, self.during_call = self.during_call, None
            hook()
        if self.outage:
            self.faults = [self.rng.choice(["throttle", "server_error", "timeout_before"])]
        elif self.fault_rate and self.rng.random() < self.fault_rate:
            self.faults = [self.rng.choice(FAULTS)]
        for fault in self.faults:
            self.fault_counts[fault] += 1
        try:
            return super().meter(records)
        except ProviderCrash:
            self.dying.dead = True
            self.dying.crashes += 1
            raise


@dataclass
class CampaignResult:
    seed: int
    provider: MarketplaceProvider
    customers: int
    invoiced_cents: int
    accepted_cents: int
    expired_cents: int
    failed_cents: int
    held_cents: int
    held_but_expired_cents: int  # applied by the marketplace, its answer lost, then the window closed
    crashes: int
    overlaps: int
    duplicate_deliveries: int
    outages: int
    meter_runs: int
    faults: Counter[str]

    @property
    def exact(self) -> bool:
        return self.accepted_cents == self.invoiced_cents


def run_campaign(seed: int, provider: MarketplaceProvider) -> CampaignResult:
    rng = random.Random(seed)
    start = datetime(2025, 3, rng.choice([10, 30, 31]), rng.randrange(24), rng.randrange(0, 60, 10), tzinfo=UTC)
    clock = MutableClock(start)
    dying = Dying()
    memory = InMemoryStore()
    store = CrashingStore(memory, rng, dying)
    market = CampaignMarket(provider, clock, rng=rng, dying=dying, max_quantity=rng.choice([2_000, 50_000, 1_000_000]))
    world = MeterWorld(clock, store=store, markets={provider: market})
    world.markets = {provider: market}

    customers = [f"cust_{n}" for n in range(rng.randint(1, 4))]
    for customer_id in customers:
        world.add_customer(customer_id, provider, product=rng.choice(["prod-a", "prod-b"]), licence=rng.random() < 0.5)
    invoices: dict[str, tuple[str, int]] = {}  # invoice id -> (customer, cents so far)
    sent_events: list[tuple[str, str, str, int]] = []  # what the router was given, for redeliveries
    counts = Counter[str]()

    def deliver(invoice_id: str, customer_id: str, total_cents: int, status: str) -> None:
        version = world.versions.get(invoice_id, 0) + 1
        total = str(Decimal(total_cents) / 100)
        world.send_invoice(invoice_id, customer_id, total, status=status, version=version)
        sent_events.append((invoice_id, customer_id, total, version))

    def meter_run() -> None:
        counts["meter_runs"] += 1
        dying.dead = False
        try:
            world.run(page_size=rng.choice([1, 2, 5, 100]), call_attempts=rng.choice([1, 2, 3]))
        except Crash:
            pass
        finally:
            dying.dead = False

    def overlapping_run() -> None:
        counts["overlaps"] += 1
        saved = store.crash_rate
        store.crash_rate = 0.0
        try:
            world.run()
        finally:
            store.crash_rate = saved

    steps = rng.randint(6, 30)
    outage_left = 0
    for _ in range(steps):
        store.crash_rate = 0.0  # the router is not the process under test
        # The router: new versions (drafts growing, sometimes dipping), finalizations, redeliveries.
        for _ in range(rng.randint(0, 2)):
            if invoices and rng.random() < 0.7:
                invoice_id = rng.choice(sorted(invoices))
                customer_id, so_far = invoices[invoice_id]
            else:
                invoice_id, customer_id, so_far = f"inv_{len(invoices)}", rng.choice(customers), 0
            grown = so_far + rng.choice([0, 1, 7, 99, 250, 1234, 20_000])
            dip = rng.random() < 0.05 and so_far > 10
            status = "DRAFT" if rng.random() < 0.8 else "FINALIZED"
            deliver(invoice_id, customer_id, so_far - 10 if dip else grown, "DRAFT" if dip else status)
            invoices[invoice_id] = (customer_id, so_far if dip else grown)
        if sent_events and rng.random() < 0.3:
            counts["duplicate_deliveries"] += 1
            invoice_id, customer_id, total, version = rng.choice(sent_events)
            world.send_invoice(invoice_id, customer_id, total, version=version)
        # The weather: crashes, faults, an outage that may outlast the window.
        store.crash_rate = rng.choice([0.0, 0.0, 0.01, 0.05])
        market.fault_rate = rng.choice([0.0, 0.1, 0.4])
        if outage_left == 0 and rng.random() < 0.05:
            outage_left = rng.randint(3, 30)
            counts["outages"] += 1
        market.outage = outage_left > 0
        if rng.random() < 0.2:
            market.during_call = overlapping_run
        for _ in range(rng.randint(1, 2)):
            meter_run()
        hours = rng.choice([1 / 6, 1 / 6, 1, 3]) if not market.outage else rng.choice([1, 3])
        clock.advance(hours=hours)
        outage_left = max(0, outage_left - max(1, round(hours)))

    # Every invoice is finalized at its last total (its router event delivered once more), then
    # the weather clears and the meter drains.
    store.crash_rate = 0.0
    for invoice_id, (customer_id, so_far) in sorted(invoices.items()):
        deliver(invoice_id, customer_id, so_far, "FINALIZED")
    store.crash_rate, market.fault_rate, market.outage, market.during_call = 0.0, 0.0, False, None
    for _ in range(500):
        meter_run()
        if not _anything_waits(memory, provider):
            break
        clock.advance(hours=1)
    return _judge(seed, provider, world, memory, market, invoices, customers, counts, dying)


def _anything_waits(memory: InMemoryStore, provider: MarketplaceProvider) -> bool:
    return any(memory.meter_work(provider, None, 1).customers)


def _judge(
    seed: int,
    provider: MarketplaceProvider,
    world: MeterWorld,
    memory: InMemoryStore,
    market: FakeMarketplace,
    invoices: dict[str, tuple[str, int]],
    customers: list[str],
    counts: Counter[str],
    dying: Dying,
) -> CampaignResult:
    totals = Counter[str]()
    result = Counter[str]()
    assert not _anything_waits(memory, provider), f"seed {seed}: work still waits after the drain"
    for customer_id in customers:
        invoiced = sum(so_far for owner, so_far in invoices.values() if owner == customer_id)
        records = [record for key, record in memory.usage_records.items() if key[1] == customer_id]
        held = {
            held.record_id: held.quantity
            for (buyer, _, _), held in market.held.items()
            if buyer == _buyer_key(world, customer_id)
        }
        ours = {record.record_id: record for record in records}
        # Never double-metered: one record per hour at the marketplace, each one we stored, with its quantity.
        assert sum(held.values()) <= invoiced, f"seed {seed}: {customer_id} metered {sum(held.values())} > {invoiced}"
        for held_id, quantity in held.items():
            assert held_id in ours, f"seed {seed}: the marketplace holds a record the meter never stored"
            assert ours[held_id].quantity == quantity
            assert ours[held_id].state in ("accepted", "expired"), f"seed {seed}: {ours[held_id]}"
            if ours[held_id].state == "expired":  # its answer was lost: the reason says it may be metered
                assert "may have been metered" in (ours[held_id].reason or ""), f"seed {seed}: {ours[held_id]}"
        by_state = Counter[str]()
        for record in records:
            assert record.state not in WAITING_STATES, f"seed {seed}: {record} still waits"
            if record.state != "accepted":
                assert record.reason, f"seed {seed}: {record} has no reason"
            if record.state == "accepted":
                assert held.get(record.record_id) == record.quantity, f"seed {seed}: accepted but not held"
            by_state["failed" if record.state in ("duplicate", "not_subscribed", "failed") else record.state] += (
                record.quantity
            )
        # Every invoiced cent is in a record of its customer (none left over, none twice), and each
        # invoice's status agrees with its records.
        assert sum(by_state.values()) == invoiced, f"seed {seed}: {customer_id} records {by_state} vs {invoiced}"
        totals["invoiced"] += invoiced
        totals["held"] += sum(held.values())
        totals["held_but_expired"] += sum(q for rid, q in held.items() if ours[rid].state == "expired")
        for state in ("accepted", "expired", "failed"):
            result[state] += by_state[state]
    for invoice_id, (_, so_far) in invoices.items():
        _check_invoice_status(seed, memory, provider, invoice_id, so_far)
    return CampaignResult(
        seed=seed,
        provider=provider,
        customers=len(customers),
        invoiced_cents=totals["invoiced"],
        accepted_cents=result["accepted"],
        expired_cents=result["expired"],
        failed_cents=result["failed"],
        held_cents=totals["held"],
        held_but_expired_cents=totals["held_but_expired"],
        crashes=dying.crashes,
        overlaps=counts["overlaps"],
        duplicate_deliveries=counts["duplicate_deliveries"],
        outages=counts["outages"],
        meter_runs=counts["meter_runs"],
        faults=Counter(getattr(market, "fault_counts", Counter())),
    )


def _check_invoice_status(
    seed: int, memory: InMemoryStore, provider: MarketplaceProvider, invoice_id: str, invoiced: int
) -> None:
    entry = memory.get_meter_invoice(invoice_id, provider)
    assert entry is not None
    assert entry.metered_cents == invoiced == cents(entry.target_amount), f"seed {seed}: {entry}"
    records = memory.get_usage_records(provider, entry.customer_id, DIMENSION, list(entry.allocations))
    states = {record.state for record in records}
    status = memory.get_sync(invoice_id)
    assert status is not None
    if invoiced == 0:
        return
    if states == {"accepted"}:
        assert status.status == "synced", f"seed {seed}: {invoice_id} {status.status} {status.reason}"
        assert status.provider_ids["accepted_cents"] == invoiced
    else:
        assert status.status in ("expired", "failed"), f"seed {seed}: {invoice_id} {status.status} {states}"
        assert "cents" in (status.reason or "")


def _buyer_key(world: MeterWorld, customer_id: str) -> str:
    from tests.fakes.marketplace_metering import buyer_key

    return buyer_key(world.buyers[customer_id])


def summary(results: list[CampaignResult]) -> dict[str, Any]:
    faults = Counter[str]()
    for result in results:
        faults.update(result.faults)
    return {
        "runs": len(results),
        "exact": sum(result.exact for result in results),
        "with_expired_or_failed": sum(not result.exact for result in results),
        "invoiced_cents": sum(result.invoiced_cents for result in results),
        "accepted_cents": sum(result.accepted_cents for result in results),
        "expired_cents": sum(result.expired_cents for result in results),
        "failed_cents": sum(result.failed_cents for result in results),
        "held_but_expired_cents": sum(result.held_but_expired_cents for result in results),
        "double_metered_cents": sum(max(0, result.held_cents - result.invoiced_cents) for result in results),
        "crashes": sum(result.crashes for result in results),
        "overlapping_runs": sum(result.overlaps for result in results),
        "duplicate_deliveries": sum(result.duplicate_deliveries for result in results),
        "outages": sum(result.outages for result in results),
        "meter_runs": sum(result.meter_runs for result in results),
        "faults": dict(sorted(faults.items())),
    }


def as_dict(result: CampaignResult) -> dict[str, Any]:
    return dataclasses.asdict(result)
