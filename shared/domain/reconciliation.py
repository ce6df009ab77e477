"""Reconciliation: what a provider holds against what we recorded, one row per difference.

For Stripe (docs/reconciliation.md): each invoice we synced — `synced`, a `leave_as_draft`
`draft`, or `voided` — must exist in Stripe once (found by its metadata `downbeat_invoice_id`),
with our total in Stripe's minor units, our `effective_at` (when we set one), and a status that
agrees with ours. A Stripe invoice carrying our metadata for an invoice we never recorded in
Stripe is `unrecorded`. The provider is read itself; a webhook's `provider_status` is not used.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, Protocol, get_args

from shared.domain.stripe_amounts import format_stripe_amount

Kind = Literal["missing", "duplicate", "total", "effective_at", "status", "unrecorded"]
KINDS: tuple[Kind, ...] = get_args(Kind)
METADATA_INVOICE_ID = "downbeat_invoice_id"

# Our sync status → the Stripe statuses that agree with it. FINALIZED and synced: Stripe collects
# (open), has collected (paid) or gave up (uncollectible); a void or a deleted invoice does not agree.
AGREEING_STATUSES: dict[str, frozenset[str]] = {
    "synced": frozenset({"open", "paid", "uncollectible"}),
    "draft": frozenset({"draft"}),
    "voided": frozenset({"void", "deleted"}),
}
CHECKED_STATUSES = frozenset(AGREEING_STATUSES)


class StripeInvoiceView(Protocol):
    """What reconciliation reads of a Stripe invoice (shared.ports.stripe.StripeInvoiceView has it)."""

    @property
    def id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def metadata(self) -> dict[str, str]: ...
    @property
    def effective_at(self) -> int | None: ...
    @property
    def created(self) -> int | None: ...
    def amount(self, total_field: str) -> int: ...


@dataclass(frozen=True)
class Difference:
    provider: str
    invoice_id: str
    kind: Kind
    expected: str
    actual: str

    def row(self) -> str:
        return "  ".join((self.provider, self.invoice_id, self.kind, self.expected, self.actual))


@dataclass(frozen=True)
class ExpectedStripeInvoice:
    """What we recorded for one invoice: the Stripe invoice it must match."""

    invoice_id: str
    sync_status: str  # synced, draft or voided
    stripe_invoice_id: str | None
    currency: str
    total: int  # in Stripe's minor units
    total_field: Literal["total", "total_excluding_tax"]
    effective_at: int | None  # Unix seconds; None: left to Stripe (finalization date, automatic tax)


def _when(stamp: int | None) -> str:
    return "unset" if stamp is None else datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def stripe_differences(expected: ExpectedStripeInvoice, found: Sequence[StripeInvoiceView]) -> list[Difference]:
    """The differences for one invoice; `found` are the Stripe invoices carrying its metadata."""

    def difference(kind: Kind, wanted: str, actual: str) -> Difference:
        return Difference("stripe", expected.invoice_id, kind, wanted, actual)

    if not found:
        if expected.sync_status == "voided":  # a voided draft is deleted: nothing left is right
            return []
        return [difference("missing", expected.stripe_invoice_id or "a Stripe invoice", "none")]
    differences = []
    if len(found) > 1:
        differences.append(
            difference("duplicate", "1 Stripe invoice", f"{len(found)}: {', '.join(f.id for f in found)}")
        )
    ours = next((f for f in found if f.id == expected.stripe_invoice_id), None)
    if ours is None:
        differences.append(difference("missing", expected.stripe_invoice_id or "a Stripe invoice", found[0].id))
        ours = found[0]
    actual_total = ours.amount(expected.total_field)
    if actual_total != expected.total:
        differences.append(
            difference(
                "total",
                format_stripe_amount(expected.total, expected.currency),
                format_stripe_amount(actual_total, expected.currency),
            )
        )
    if expected.effective_at is not None and ours.effective_at != expected.effective_at:
        differences.append(difference("effective_at", _when(expected.effective_at), _when(ours.effective_at)))
    if ours.status not in AGREEING_STATUSES[expected.sync_status]:
        agreeing = " or ".join(sorted(AGREEING_STATUSES[expected.sync_status]))
        differences.append(difference("status", f"{agreeing} (ours: {expected.sync_status})", ours.status))
    return differences


def unrecorded_invoices(
    found: Iterable[StripeInvoiceView], recorded: set[str], since: datetime | None = None
) -> list[Difference]:
    """Stripe invoices with our metadata naming an invoice we never recorded in Stripe (created
    at or after `since`, when given)."""
    differences = []
    for invoice in found:
        invoice_id = invoice.metadata.get(METADATA_INVOICE_ID)
        if invoice_id is None or invoice_id in recorded:
            continue
        if since is not None and invoice.created is not None and invoice.created < since.timestamp():
            continue
        differences.append(Difference("stripe", invoice_id, "unrecorded", "no Stripe invoice", invoice.id))
    return differences


def counts_by_kind(differences: Sequence[Difference]) -> dict[Kind, int]:
    return {kind: sum(1 for d in differences if d.kind == kind) for kind in KINDS}
