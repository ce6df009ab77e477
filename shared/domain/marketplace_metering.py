"""The marketplace meter's rules (docs/marketplaces.md, "How metering works"); no I/O here.

An invoice is metered as dimension `usage_fee` at $0.01 a unit. What the meter owes for it is the
change of its total, in whole cents, since what it already assigned to usage records; an invoice
whose total went down ("over-metered") owes nothing until its total catches up. Cents go into at
most one record per buyer, dimension and UTC hour, stamped at the hour's start; a record's quantity
is fixed when it is stored, so cents arriving later wait for a later hour, and so do cents above
the provider's per-record maximum.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal, TypeVar

from shared.domain.money import to_minor_units
from shared.domain.subscriptions import SEND, MeteringGate
from shared.domain.timestamps import format_timestamp
from shared.ports.metering import AwsBuyer, AzureBuyer, Buyer, MarketplaceProvider, UsageRecord

DIMENSION = "usage_fee"
METERED_CURRENCY = "USD"
HOUR = timedelta(hours=1)
WINDOW = timedelta(hours=24)  # both providers accept a record until 24 hours after its timestamp
AWS_MONTH_END_GRACE = timedelta(hours=6)  # a previous month's record: only until 06:00 UTC on the 1st
# A record this close to its window's end is not sent: a call that arrives after the end is refused
# (AWS refuses the whole call), so it is expired with a reason instead.
SEND_MARGIN = timedelta(minutes=5)
# A record and the invoices whose cents it carries are written in one transaction (DynamoDB allows
# 100 items): the record and at most 99 invoices; a customer's further invoices go into a later hour.
MAX_INVOICES_PER_RECORD = 99

UsageRecordState = Literal["pending", "sent", "accepted", "duplicate", "not_subscribed", "expired", "failed"]
WAITING_STATES: frozenset[UsageRecordState] = frozenset({"pending", "sent"})
FAILED_STATES: frozenset[UsageRecordState] = frozenset({"duplicate", "not_subscribed", "failed"})
MeterStatus = Literal["pending", "synced", "expired", "failed", "voided"]

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


def cents(amount: Decimal) -> int:
    """A USD amount in whole cents (the currency table's minor units, rounded half-up)."""
    return to_minor_units(amount, METERED_CURRENCY)


def hour_start(moment: datetime) -> datetime:
    """The start of the UTC hour holding `moment`: every record's timestamp."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def window_closes(provider: MarketplaceProvider, timestamp: datetime) -> datetime:
    """When the provider stops accepting a record stamped `timestamp`.

    AWS: 24 hours after it, and a record of a previous month only until 06:00 UTC on the 1st
    (botocore's model of BatchMeterUsage); Azure: 24 hours after it.
    """
    closes = timestamp + WINDOW
    if provider == "aws_marketplace":
        stamp = timestamp.astimezone(UTC)
        first_of_next_month = datetime(stamp.year + stamp.month // 12, stamp.month % 12 + 1, 1, tzinfo=UTC)
        closes = min(closes, first_of_next_month + AWS_MONTH_END_GRACE)
    return closes


def sendable(provider: MarketplaceProvider, timestamp: datetime, now: datetime) -> bool:
    """Whether a record stamped `timestamp` may still be sent at `now` (with the safety margin)."""
    return now + SEND_MARGIN < window_closes(provider, timestamp)


def unmetered_cents(target_cents: int, metered_cents: int) -> int:
    """What an invoice still owes the meter: never negative (an over-metered invoice owes nothing)."""
    return max(0, target_cents - metered_cents)


@dataclass(frozen=True)
class InvoiceCents:
    invoice_id: str
    owed: int  # unmetered cents


def allocate(invoices: Sequence[InvoiceCents], max_quantity: int) -> dict[str, int]:
    """The cents one new record takes from each invoice, oldest listed first, up to `max_quantity`
    and `MAX_INVOICES_PER_RECORD` invoices; what is left waits for a later hour."""
    taken: dict[str, int] = {}
    room = max_quantity
    for invoice in invoices:
        if room <= 0 or len(taken) == MAX_INVOICES_PER_RECORD:
            break
        share = min(invoice.owed, room)
        if share > 0:
            taken[invoice.invoice_id] = share
            room -= share
    return taken


def record_id(provider: MarketplaceProvider, customer_id: str, dimension: str, hour: datetime) -> str:
    """Ours, stable per (provider, customer, dimension, hour): a digest, since ids may be any text."""
    text = "\x1f".join((provider, customer_id, dimension, format_timestamp(hour)))
    return "mr_" + hashlib.sha256(text.encode()).hexdigest()[:32]


def call_group(buyer: Buyer) -> tuple[str, ...]:
    """Records that may share one call: AWS per (region, product, licence-based or legacy), since a
    licence-based call carries no ProductCode; Azure all together."""
    if isinstance(buyer, AwsBuyer):
        return ("aws", buyer.region, buyer.product_code, "licence" if buyer.licence_based else "legacy")
    return ("azure",)


def batches(records: Sequence[UsageRecord], max_records: int) -> list[list[UsageRecord]]:
    """The calls for `records`: grouped by `call_group`, in order, at most `max_records` a call."""
    return [
        chunk
        for group in grouped(records, lambda record: call_group(record.buyer)).values()
        for chunk in chunked(group, max_records)
    ]


def grouped(items: Sequence[T], key: Callable[[T], K]) -> dict[K, list[T]]:
    groups: dict[K, list[T]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return groups


def chunked(items: Sequence[T], size: int) -> list[list[T]]:
    if size < 1:
        raise ValueError("a call takes at least one record")
    return [list(items[start : start + size]) for start in range(0, len(items), size)]


def buyer_label(buyer: Buyer) -> str:
    if isinstance(buyer, AzureBuyer):
        return f"Azure subscription {buyer.resource_id}"
    if buyer.licence_based:
        return f"AWS account {buyer.customer_aws_account_id}"
    return f"AWS customer {buyer.customer_identifier}"


# -- an invoice's sync status at its marketplace


@dataclass(frozen=True)
class InvoiceShare:
    """One record as one invoice sees it: its hour, this invoice's cents in it, and the record's fate."""

    hour: datetime
    cents: int
    record_quantity: int
    state: UsageRecordState
    receipt: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class InvoiceMeterView:
    invoice_status: str  # DRAFT | FINALIZED | VOID
    currency: str
    target_cents: int
    metered_cents: int  # assigned to records
    shares: Sequence[InvoiceShare]
    gate: MeteringGate = SEND  # what the buyer's subscription allows for the current hour


def meter_status(view: InvoiceMeterView) -> tuple[MeterStatus, str]:
    """The invoice's sync status and reason from its records (failures first, then expiries)."""
    if view.currency != METERED_CURRENCY:
        return "failed", f"marketplaces meter in USD only; invoice currency is {view.currency}"
    failed = [share for share in view.shares if share.state in FAILED_STATES]
    expired = [share for share in view.shares if share.state == "expired"]
    waiting = [share for share in view.shares if share.state in WAITING_STATES]
    accepted = sum(share.cents for share in view.shares if share.state == "accepted")
    voided = view.invoice_status == "VOID"
    owed = 0 if voided else unmetered_cents(view.target_cents, view.metered_cents)
    if view.gate.action == "refuse" and owed:
        refused = f"{owed} cents {view.gate.reason}"
        return "failed", f"{refused}; {_lost('not metered', failed, accepted)}" if failed else refused
    if failed:
        return "failed", _lost("not metered", failed, accepted)
    if expired and not waiting and not owed:
        return "expired", _lost("expired (past the marketplace's window)", expired, accepted)
    if waiting or owed:
        parts = []
        if owed:
            parts.append(f"{owed} cents not yet in a usage record (sent in the next hour's record)")
        if waiting:
            parts.append(f"{sum(share.cents for share in waiting)} cents in records awaiting the marketplace")
        if expired:
            parts.append(_lost("expired", expired, accepted))
        if view.gate.action == "hold":
            parts.insert(0, str(view.gate.reason))
        return "pending", "; ".join(parts)
    if voided:
        return "voided", f"the invoice was voided; nothing more is metered ({accepted} cents metered before stay)"
    if view.metered_cents > view.target_cents:
        over = view.metered_cents - view.target_cents
        return "pending", (
            f"over-metered: {view.metered_cents} cents were metered, the latest total is {view.target_cents}"
            f" cents ({over} cents over); nothing is sent until the total catches up"
        )
    return "synced", f"{accepted} cents metered as {DIMENSION}"


def _lost(what: str, shares: Sequence[InvoiceShare], accepted: int) -> str:
    hours = ", ".join(
        f"{format_timestamp(share.hour)} {share.cents} cents ({share.state}: {share.reason or 'no reason given'})"
        for share in shares
    )
    return f"{sum(share.cents for share in shares)} cents {what}: {hours}; {accepted} cents accepted"
