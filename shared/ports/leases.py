"""Worker leases: one run at a time per unit of work, keyed by kind and id.

SQS delivers at least once (sometimes twice at once) and schedules overlap, so every worker that
calls a provider first claims the work's lease: the Stripe worker per invoice (`stripe`), the
marketplace meter per customer. A claim

- fails (None) while another run's lease is live; an expired lease is taken over;
- counts the run: `attempt` grows by one with every claim (and with every `renew(new_attempt=True)`),
  durably, before the worker's first outside call — so an idempotency key built from it is never
  reused by a later run (Stripe replays a saved 500 under a reused key for 24 hours);
- marks the work unsettled from the first claim (`pending_since`) until `settle`, so the age of the
  oldest waiting work is one read away (`oldest_unsettled`).

A worker that stores its own state beside the lease (the Stripe worker's step and ids) writes it only
while its token still holds the lease; a write after a takeover raises `LeaseLost`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime


class LeaseLost(Exception):
    """Another run took over the work (our lease had expired)."""


@dataclass(frozen=True)
class Lease:
    kind: str  # what sort of work: "stripe", "meter", "webhook"…
    key: str  # which one: an invoice id, a customer, a notification id
    token: str  # this run's secret-free handle on the lease
    until: datetime  # the lease expires then unless renewed
    attempt: int  # runs (and renewed attempts) so far, this one included
    pending_since: datetime  # when this work was first claimed since it last settled


class WorkerLeases(Protocol):
    def claim(self, kind: str, key: str, *, now: datetime, until: datetime) -> Lease | None:
        """Take the lease and count one more attempt; None while another run's live lease holds it."""
        ...

    def renew(self, lease: Lease, *, now: datetime, until: datetime, new_attempt: bool = False) -> Lease:
        """Extend the lease (and take a fresh attempt number when asked); raises LeaseLost."""
        ...

    def hand_back(self, lease: Lease, *, now: datetime) -> None:
        """Release the lease, the work still unsettled (another run may claim it at once); raises LeaseLost."""
        ...

    def settle(self, lease: Lease, *, now: datetime) -> None:
        """Release the lease and mark the work settled (no longer waiting); raises LeaseLost."""
        ...

    def oldest_unsettled(self, kind: str) -> datetime | None:
        """When the longest-waiting unsettled work of `kind` was first claimed (None when none waits)."""
        ...


class BatchedLeases(WorkerLeases, Protocol):
    """Claims and releases of many leases in few requests (the marketplace meter, a page of customers
    at a time): each lease behaves exactly as `claim`, `hand_back` and `settle` would one by one."""

    def claim_leases(self, kind: str, keys: Sequence[str], *, now: datetime, until: datetime) -> dict[str, Lease]:
        """The leases claimed, by key; a key whose lease another run holds is left out."""
        ...

    def release_leases(self, releases: Sequence[tuple[Lease, bool]], *, now: datetime) -> None:
        """Let each lease go, settling the work when its flag is true; a lease another run took
        over meanwhile is passed over (that run carries on)."""
        ...
