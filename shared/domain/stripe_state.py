"""The Stripe worker's own state per invoice: what step it reached, and who is working on it.

Stored next to the invoice (`INVOICE#<id>` / `STRIPE`). `attempt` counts runs; every run takes a
new number before its first Stripe call, so idempotency keys never repeat across runs (Stripe
replays a saved 500 under a reused key for 24 hours). The lease keeps two deliveries of the same
invoice from working on it at once (SQS delivers at least once, sometimes twice).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

StripeStep = Literal["new", "drafted", "synced", "draft", "failed", "skipped", "voided"]
SETTLED_STEPS: frozenset[str] = frozenset({"synced", "draft", "failed", "skipped", "voided"})


@dataclass(frozen=True)
class StripeSyncState:
    invoice_id: str
    step: StripeStep = "new"
    version: int | None = None  # the invoice version the last run worked on
    stripe_invoice_id: str | None = None
    attempt: int = 0  # runs so far; the current run's number while it runs
    calls: int = 0  # Stripe calls made for this invoice over all runs
    pending_since: datetime | None = None  # when the first unsettled run began; None once settled
    lease_token: str | None = None
    lease_until: datetime | None = None
    updated_at: datetime | None = None

    @property
    def settled(self) -> bool:
        return self.step in SETTLED_STEPS

    @property
    def touched_stripe(self) -> bool:
        """False only when no earlier run can have sent anything to Stripe for this invoice."""
        return self.attempt > 1 or self.stripe_invoice_id is not None or self.step != "new"

    def moved(self, step: StripeStep, now: datetime, **changes: object) -> StripeSyncState:
        pending = None if step in SETTLED_STEPS else self.pending_since
        return replace(self, step=step, updated_at=now, pending_since=pending, **changes)  # type: ignore[arg-type]

    def released(self, now: datetime) -> StripeSyncState:
        return replace(self, lease_token=None, lease_until=None, updated_at=now)


class SyncLeaseLost(Exception):
    """Another run took over this invoice's Stripe sync (our lease had expired)."""


def epoch_seconds(moment: datetime) -> Decimal:
    """A lease deadline as a number, for DynamoDB condition comparisons."""
    return Decimal(str(moment.timestamp()))


def from_epoch_seconds(value: Decimal | float | int) -> datetime:
    return datetime.fromtimestamp(float(value), UTC)
