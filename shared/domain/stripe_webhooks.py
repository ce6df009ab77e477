"""Stripe webhooks, as pure rules: which events count, what `provider_status` they record, in what order.

A verified event is only a hint that something changed: the status recorded is the Stripe
invoice's own, read back when the event is handled (docs/stripe-webhooks.md). What is decided here:

- which events are ours: one of `HANDLED_EVENT_TYPES` for an invoice carrying metadata
  `downbeat_invoice_id`; anything else is answered 200 and ignored;
- which Stripe invoice may update a sync record: the recorded `stripe_invoice_id`, or a revision
  of it (`from_invoice` naming it), which then becomes the recorded id;
- the `provider_status` of a read-back invoice (`payment_failed` for an open invoice whose payment
  was attempted and is still owed; `deleted` when Stripe no longer has it);
- the order in which results may replace each other (`status_order`): the newest event applied
  wins, whatever order the events arrive in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.types import MAX_SAFE_INTEGER, Identifier

HANDLED_EVENT_TYPES = frozenset(
    {
        "invoice.finalized",
        "invoice.paid",
        "invoice.payment_failed",
        "invoice.voided",
        "invoice.marked_uncollectible",
        "invoice.deleted",
    }
)
METADATA_KEY = "downbeat_invoice_id"
SIGNATURE_TOLERANCE_SECONDS = 300  # Stripe's own default: a signature older than this is refused
EVENT_ID_RETENTION_DAYS = 30  # Stripe redelivers for 3 days; ids are kept far longer

ProviderStatus = Literal["draft", "open", "paid", "uncollectible", "void", "payment_failed", "deleted"]
STRIPE_STATUSES: frozenset[str] = frozenset({"draft", "open", "paid", "uncollectible", "void"})

# Stripe ids are ASCII: a prefix, an underscore and letters, digits or underscores.
EventId = Annotated[str, Field(pattern=r"^evt_[A-Za-z0-9_]+$", max_length=255)]
InvoiceId = Annotated[str, Field(pattern=r"^in_[A-Za-z0-9_]+$", max_length=255)]
UnixSeconds = Annotated[int, Field(ge=0, lt=MAX_SAFE_INTEGER)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)


class EventEnvelope(_Model):
    """What every Stripe event carries; read first, so that an event type we ignore needs nothing else."""

    id: EventId
    type: Annotated[str, Field(min_length=1, max_length=255)]
    created: UnixSeconds


class FromInvoice(_Model):
    action: str | None = None
    invoice: InvoiceId | None = None


class InvoiceObject(_Model):
    id: InvoiceId
    metadata: dict[str, str] = Field(default_factory=dict)
    from_invoice: FromInvoice | None = None


class InvoiceEventData(_Model):
    object: InvoiceObject


class InvoiceEvent(EventEnvelope):
    """A handled invoice event: `data.object` is the invoice as it was when the event was made."""

    data: InvoiceEventData

    @property
    def stripe_invoice_id(self) -> str:
        return self.data.object.id

    @property
    def downbeat_invoice_id(self) -> str | None:
        return self.data.object.metadata.get(METADATA_KEY)

    @property
    def created_at(self) -> datetime:
        return datetime.fromtimestamp(self.created, UTC)


class OurInvoiceId(_Model):
    """The metadata value checked as any invoice id is (docs/bounds.md)."""

    invoice_id: Identifier


@dataclass(frozen=True)
class ReadBack:
    """The Stripe invoice as retrieved while handling the event (None fields: Stripe left them out)."""

    exists: bool
    status: str | None = None
    attempted: bool | None = None
    amount_remaining: int | None = None
    from_invoice: str | None = None


def provider_status(invoice: ReadBack) -> ProviderStatus | None:
    """Stripe's status as we show it; None for a status Stripe may add that we do not know."""
    if not invoice.exists:
        return "deleted"
    if invoice.status == "open" and invoice.attempted and (invoice.amount_remaining or 0) > 0:
        return "payment_failed"
    if invoice.status in STRIPE_STATUSES:
        return invoice.status  # type: ignore[return-value]  # checked against the Literal's values
    return None


Relation = Literal["ours", "revision", "other"]


def relation_to_record(recorded: str | None, stripe_invoice_id: str, from_invoice: str | None) -> Relation:
    """Whether the event's invoice is the one the sync record names, a revision of it, or another
    invoice carrying our metadata (left for reconciliation to report)."""
    if recorded is not None and stripe_invoice_id == recorded:
        return "ours"
    if recorded is not None and from_invoice == recorded:
        return "revision"
    return "other"


# Within one second (Stripe's `created` resolution) a later state of the invoice's life wins:
# a draft is finalized, then paid, voided or marked uncollectible, and deleted drafts are gone.
_LIFECYCLE_RANK: dict[str, int] = {
    "draft": 0,
    "open": 1,
    "payment_failed": 2,
    "uncollectible": 3,
    "paid": 4,
    "void": 4,
    "deleted": 5,
}


def status_order(created: int, status: ProviderStatus) -> str:
    """A text that sorts as results may replace each other: by the event's `created`, then by how
    late in an invoice's life the status comes. A result replaces the stored one when its order is
    at least the stored order (the same event read back again may refresh it)."""
    return f"{created:016d}#{_LIFECYCLE_RANK[status]}"
