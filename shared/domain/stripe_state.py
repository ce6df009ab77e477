"""The Stripe worker's own state per invoice: what step it reached and what it holds in Stripe.

Stored beside the invoice's `stripe` worker lease (`shared.ports.leases`), which also numbers the
runs: every run takes a new attempt number before its first Stripe call, so idempotency keys never
repeat across runs (Stripe replays a saved 500 under a reused key for 24 hours), and keeps two
deliveries of the same invoice from working on it at once (SQS delivers at least once).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

StripeStep = Literal["new", "drafted", "synced", "draft", "failed", "skipped", "voided"]
SETTLED_STEPS: frozenset[str] = frozenset({"synced", "draft", "failed", "skipped", "voided"})
LEASE_KIND = "stripe"  # the kind of an invoice's Stripe worker lease


@dataclass(frozen=True)
class StripeSyncState:
    invoice_id: str
    step: StripeStep = "new"
    version: int | None = None  # the invoice version the last run worked on
    stripe_invoice_id: str | None = None
    calls: int = 0  # Stripe calls made for this invoice over all runs
    updated_at: datetime | None = None

    @property
    def settled(self) -> bool:
        return self.step in SETTLED_STEPS

    def touched_stripe(self, attempt: int) -> bool:
        """False only when no earlier run (this is run `attempt`) can have sent anything to Stripe."""
        return attempt > 1 or self.stripe_invoice_id is not None or self.step != "new"

    def moved(self, step: StripeStep, now: datetime, **changes: object) -> StripeSyncState:
        return replace(self, step=step, updated_at=now, **changes)  # type: ignore[arg-type]
