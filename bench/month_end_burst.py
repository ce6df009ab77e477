"""Month-end burst: 100,000 invoices queued at once against Stripe's ~100 requests a second.

First the real Stripe worker is measured on the Stripe double (calls per invoice, its own seconds
per call); then a discrete-event simulation on a simulated clock drains 100,000 queued invoices
through Lambda's SQS event source mapping, with Stripe as a token bucket (100 a second, a burst of
100). Each call takes the measured worker time plus `STRIPE_ROUND_TRIP` (an assumption: Stripe's
latency is not measurable here). A call without a token is a 429 `rate_limit`: the worker backs
off as shared/services/stripe_sync.py does (0.5 s doubling to 2 s, jittered, at most 4 s and 3
rounds a run), then hands the message back; SQS shows it again after the queue's visibility
timeout, and on its fifth receive a failing message is dead-lettered.

Printed for the template's `StripeSyncMaxConcurrency` and for no cap (the event source mapping
adds up to 300 concurrent workers a minute, to 1,250): the drain time against the floor
(calls x N / 100 per second), the 429 count and the messages dead-lettered by the burst.
Goal: drain within 1.2x the floor with the cap.
"""

from __future__ import annotations

import heapq
import math
import random
import time
from dataclasses import dataclass

from local.stripe_double import TokenBucket
from local.template import load_template
from shared.services.stripe_sync_dependencies import StripeSyncDependencies

INVOICES = 100_000
RATE_PER_SECOND = 100.0  # Stripe's live-mode limit per account (read and write requests together)
BURST = 100.0
STRIPE_ROUND_TRIP = 0.2  # seconds: assumed network + Stripe time per call
VISIBILITY_SECONDS = 360  # StripeSyncQueue's VisibilityTimeout
MAX_RECEIVES = 5  # its maxReceiveCount
UNCAPPED_START, UNCAPPED_PER_MINUTE, UNCAPPED_MAX = 5, 300, 1250
GOAL = 1.2


@dataclass(frozen=True)
class Measured:
    calls_per_invoice: int
    worker_seconds_per_call: float


def measure(invoices: int = 20) -> Measured:
    """The real worker on the Stripe double: calls and its own CPU seconds per call."""
    from tests.integration.stripe_harness import harness  # noqa: PLC0415 - bench-only helpers

    calls, cpu = 0, 0.0
    with harness() as h:
        h.add_customer()
        for number in range(invoices):
            invoice_id = h.save_invoice(id=f"inv_burst_{number}")
            before = len(h.double.requests)
            started = time.thread_time()
            h.deliver(invoice_id)
            cpu += time.thread_time() - started
            calls += len(h.double.requests) - before
    return Measured(round(calls / invoices), cpu / calls)


@dataclass
class Outcome:
    drain_seconds: float
    rate_limited: int
    dead_lettered: int
    peak_workers: int


def simulate(invoices: int, calls_per_invoice: int, seconds_per_call: float, cap: int | None, seed: int = 1) -> Outcome:
    """Drain `invoices` queued messages; `cap` is the mapping's MaximumConcurrency (None: no cap)."""
    rng = random.Random(seed)
    deps = StripeSyncDependencies  # its defaults are the worker's back-off bounds
    max_rounds = deps.__dataclass_fields__["max_rounds"].default
    max_wait = deps.__dataclass_fields__["rate_limit_wait_seconds"].default
    bucket = TokenBucket(RATE_PER_SECOND, BURST, now=0.0)  # the Stripe double's own
    visible: list[tuple[float, int]] = [(0.0, n) for n in range(invoices)]  # (visible at, message)
    heapq.heapify(visible)
    receives = [0] * invoices
    progress = [0] * invoices  # calls done (the worker's state survives a hand-back)
    events: list[tuple[float, int, int]] = []  # (time, worker, message): the worker's next call
    done = dead = limited = workers = peak = 0
    now = 0.0

    def allowed(at: float) -> int:
        if cap is not None:
            return cap
        return min(UNCAPPED_MAX, UNCAPPED_START + int(at / 60 * UNCAPPED_PER_MINUTE))

    def receive(worker: int, at: float) -> None:
        if visible and visible[0][0] <= at:
            _, message = heapq.heappop(visible)
            receives[message] += 1
            heapq.heappush(events, (at, worker, message))
        # else the worker waits: it is woken when every worker waits (below)

    rounds_used: dict[int, tuple[int, float]] = {}  # message → (rounds, waited) in this receive
    while done + dead < invoices:
        while workers < allowed(now):
            workers += 1
            receive(workers, now)
        peak = max(peak, workers)
        if not events:  # every worker waits: jump to the next visible message (or the next scale-up)
            now = visible[0][0] if visible else now + 1
            for worker in range(1, workers + 1):
                receive(worker, now)
            continue
        now, worker, message = heapq.heappop(events)
        finished = now + seconds_per_call
        if bucket.take(now):
            progress[message] += 1
            if progress[message] == calls_per_invoice:
                done += 1
                rounds_used.pop(message, None)
                receive(worker, finished)
            else:
                heapq.heappush(events, (finished, worker, message))
            continue
        limited += 1
        rounds, waited = rounds_used.get(message, (0, 0.0))
        rounds += 1
        pause = min(0.5 * 2 ** (rounds - 1), 2.0) * (0.5 + 0.5 * rng.random())
        if rounds == max_rounds or waited + pause > max_wait:  # hand the message back
            rounds_used.pop(message, None)
            if receives[message] >= MAX_RECEIVES:
                dead += 1
            else:
                heapq.heappush(visible, (finished + VISIBILITY_SECONDS, message))
            receive(worker, finished)
        else:
            rounds_used[message] = (rounds, waited + pause)
            heapq.heappush(events, (finished + pause, worker, message))
    return Outcome(now, limited, dead, peak)


def template_cap() -> int:
    return int(load_template()["Parameters"]["StripeSyncMaxConcurrency"]["Default"])


def main(invoices: int = INVOICES) -> None:
    measured = measure()
    per_call = measured.worker_seconds_per_call + STRIPE_ROUND_TRIP
    floor = measured.calls_per_invoice * invoices / RATE_PER_SECOND
    cap = template_cap()
    sized = math.floor(RATE_PER_SECOND * per_call)
    print(
        f"measured on the Stripe double: {measured.calls_per_invoice} calls per invoice, "
        f"{1000 * measured.worker_seconds_per_call:.1f} ms worker time per call; "
        f"+ {1000 * STRIPE_ROUND_TRIP:.0f} ms assumed Stripe round trip = {1000 * per_call:.0f} ms per call"
    )
    print(f"cap sized from them: rate x seconds per call = {RATE_PER_SECOND:.0f} x {per_call:.3f} → {sized}")
    print(f"{invoices:,} invoices at once; floor {floor:,.0f} s ({measured.calls_per_invoice} calls x N / 100 per s)")
    print(f"{'concurrency':<22} {'drain s':>9} {'x floor':>8} {'429s':>9} {'dead-lettered':>14} {'peak workers':>13}")
    for label, limit in ((f"cap {cap} (template)", cap), ("no cap", None)):
        started = time.perf_counter()
        outcome = simulate(invoices, measured.calls_per_invoice, per_call, limit)
        ratio = outcome.drain_seconds / floor
        goal = f"  goal <= {GOAL}x: {'ok' if ratio <= GOAL else 'MISS'}" if limit is not None else ""
        print(
            f"{label:<22} {outcome.drain_seconds:>9,.0f} {ratio:>7.2f}x {outcome.rate_limited:>9,} "
            f"{outcome.dead_lettered:>14,} {outcome.peak_workers:>13,}{goal}"
            f"   (simulated in {time.perf_counter() - started:.1f} s)"
        )


if __name__ == "__main__":
    main()
