"""The balance ledger of commits and credits (docs/ledger.md): entries, balances, drawdowns.

Entries per segment: one grant (the segment's amount, implied by the segment itself), the
drawdowns of FINALIZED invoices (negative), and manual entries (either sign, any timestamp).

- A segment's balance is `max(0, Σ of all its entries)`: a sum floored once, not a running
  clamp (130 below zero, then +50, still shows 0). Future-dated manual entries are in the sum.
- A commit's or credit's balance is the sum of the balances of its segments active now; so an
  expired or upcoming one shows 0, and an entry on an expired segment counts nowhere. A voided
  commit (its billing invoice was voided) shows 0.
- A FINALIZED invoice draws each applied credit from the named commit's segments active at its
  `end_timestamp` - 1 ms, earliest-ending first, each only as far as its remaining balance goes;
  what is left over stays on the last of them (below zero), so the drawdowns sum to the invoice's
  applied amount exactly. Only the invoice's latest version counts: a new version replaces its
  drawdown, a DRAFT or VOID version has none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from shared.domain.commits import Commit, Segment
from shared.domain.invoice import Invoice
from shared.domain.types import DecimalString, Identifier, Timestamp, visible_name

EntryType = Literal["grant", "drawdown", "manual"]
ZERO = Decimal(0)
DRAWDOWN_OFFSET = timedelta(milliseconds=1)  # an invoice draws at its end (exclusive) minus 1 ms
Reason = Annotated[str, Field(min_length=1, max_length=1024), AfterValidator(visible_name)]


class LedgerEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    id: Identifier
    commit_id: Identifier
    segment_id: Identifier
    type: EntryType
    amount: DecimalString  # signed: a drawdown is negative
    timestamp: Timestamp
    invoice_id: Identifier | None = None
    reason: Reason | None = None
    created_at: Timestamp | None = None  # when a manual entry was added (its timestamp may differ)


@dataclass(frozen=True)
class Drawdown:
    """What one invoice's latest FINALIZED version draws from one commit, per segment (positive)."""

    invoice_id: str
    commit_id: str
    invoice_version: int
    timestamp: datetime
    amounts: Mapping[str, Decimal]

    def entries(self) -> list[LedgerEntry]:
        return [
            LedgerEntry(
                id=f"drawdown:{self.invoice_id}:{segment_id}"[:256],
                commit_id=self.commit_id,
                segment_id=segment_id,
                type="drawdown",
                amount=-amount,
                timestamp=self.timestamp,
                invoice_id=self.invoice_id,
            )
            for segment_id, amount in self.amounts.items()
        ]


def grant_entry(commit: Commit, segment: Segment) -> LedgerEntry:
    return LedgerEntry(
        id=f"grant:{segment.id}",
        commit_id=commit.id,
        segment_id=segment.id,
        type="grant",
        amount=segment.amount,
        timestamp=segment.starting_at,
    )


@dataclass(frozen=True)
class CommitLedger:
    """A commit or credit with everything stored against it (grants are its segments)."""

    commit: Commit
    manual: Sequence[LedgerEntry] = field(default_factory=list)
    drawdowns: Sequence[Drawdown] = field(default_factory=list)
    # Σ of the manual entries per segment, when the store has it without reading every entry whole
    # (balances need only this; `manual` may then be read lazily, for ledgers).
    manual_sums: Mapping[str, Decimal] | None = None

    def entries(self) -> list[LedgerEntry]:
        """Every entry, grants first per segment, then by timestamp."""
        grants = [grant_entry(self.commit, segment) for segment in self.commit.segments]
        stored = [*self.manual, *(entry for drawdown in self.drawdowns for entry in drawdown.entries())]
        return grants + sorted(stored, key=lambda entry: (entry.timestamp, entry.id))

    def segment_sums(self, *, without_invoice: str | None = None) -> dict[str, Decimal]:
        """Σ of each segment's entries (not floored), leaving one invoice's drawdown out if asked."""
        sums = {segment.id: segment.amount for segment in self.commit.segments}
        if self.manual_sums is not None:
            for segment_id, amount in self.manual_sums.items():
                sums[segment_id] = sums.get(segment_id, ZERO) + amount
        else:
            for entry in self.manual:
                sums[entry.segment_id] = sums.get(entry.segment_id, ZERO) + entry.amount
        for drawdown in self.drawdowns:
            if drawdown.invoice_id == without_invoice:
                continue
            for segment_id, amount in drawdown.amounts.items():
                sums[segment_id] = sums.get(segment_id, ZERO) - amount
        return sums

    def balance(self, now: datetime, invoice_status: str | None = None) -> Decimal:
        if self.commit.status(now, invoice_status) == "voided":
            return ZERO
        sums = self.segment_sums()
        return sum((max(ZERO, sums[segment.id]) for segment in self.commit.active_segments(now)), ZERO)


def allocate(commit: Commit, amount: Decimal, at: datetime, remaining: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """`amount` drawn from `commit`'s segments active at `at`, earliest-ending first, each as far as its
    remaining balance (floored at 0) goes; the rest on the last one. Empty when none is active."""
    active = commit.active_segments(at)
    if not active or amount <= 0:
        return {}
    drawn: dict[str, Decimal] = {}
    left = amount
    for segment in active:
        take = min(left, max(ZERO, remaining.get(segment.id, ZERO)))
        if take > 0:
            drawn[segment.id] = take
            left -= take
        if left == 0:
            return drawn
    last = active[-1].id
    drawn[last] = drawn.get(last, ZERO) + left
    return drawn


@dataclass(frozen=True)
class DrawdownPlan:
    drawdowns: dict[str, Drawdown]  # by commit id
    unapplied: tuple[str, ...]  # applied credits drawn from nothing, and why


def applied_amounts(invoice: Invoice) -> dict[str, Decimal]:
    """Σ of the invoice's applied credits per commit/credit id, in the order they first appear."""
    amounts: dict[str, Decimal] = {}
    for credit in invoice.applied_credits:
        amounts[credit.id] = amounts.get(credit.id, ZERO) + credit.amount
    return amounts


def plan_drawdowns(invoice: Invoice, ledgers: Mapping[str, CommitLedger]) -> DrawdownPlan:
    """The drawdowns of `invoice` (the version being stored) from the customer's `ledgers` (by id;
    a missing id is no commit or credit of the invoice's customer). Only a FINALIZED invoice draws."""
    if invoice.status != "FINALIZED":
        return DrawdownPlan({}, ())
    at = invoice.end_timestamp - DRAWDOWN_OFFSET
    drawdowns: dict[str, Drawdown] = {}
    unapplied: list[str] = []
    for commit_id, amount in applied_amounts(invoice).items():
        ledger = ledgers.get(commit_id)
        if ledger is None:
            unapplied.append(f"{commit_id}: no commit or credit of customer {invoice.customer_id} has this id")
            continue
        if ledger.commit.currency != invoice.currency:
            unapplied.append(f"{commit_id}: in {ledger.commit.currency}, the invoice in {invoice.currency}")
            continue
        drawn = allocate(ledger.commit, amount, at, ledger.segment_sums(without_invoice=invoice.id))
        if not drawn:
            if amount > 0:
                unapplied.append(f"{commit_id}: no segment is active at the invoice's end")
            continue
        drawdowns[commit_id] = Drawdown(invoice.id, commit_id, invoice.version, at, drawn)
    return DrawdownPlan(drawdowns, tuple(unapplied))


def drawn_commit_ids(invoice: Invoice | None) -> list[str]:
    """The ids an invoice version may have drawn from (a FINALIZED one's applied credits)."""
    if invoice is None or invoice.status != "FINALIZED":
        return []
    return list(applied_amounts(invoice))
