"""Invoice breakdowns: an invoice's usage per UTC hour or day, from its lines' hourly buckets.

The rules (docs/breakdowns.md):

- a bucket counts in the window holding its `starting_at`, when that instant is inside the asked
  range `[starting_on, ending_before)`;
- a line without buckets counts whole in the window holding its invoice's `start_timestamp`
  (when that instant is in the range);
- one entry per invoice per window that has usage; a line appears in a window with the sums of
  its buckets there; the entry's `subtotal` is the sum of its lines' totals. Applied credits are
  not spread over windows;
- entries come in the order of the customer's invoice list (by `start_timestamp`, then id), and
  within an invoice by window.

Nothing here rounds: amounts are sums of what the invoice holds.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, NamedTuple

from shared.domain.invoice import Invoice, InvoiceStatus
from shared.domain.validation import FieldError

WindowSize = Literal["HOUR", "DAY"]
WINDOW_SIZES: tuple[WindowSize, ...] = ("HOUR", "DAY")
WINDOW_LENGTH: dict[WindowSize, timedelta] = {"HOUR": timedelta(hours=1), "DAY": timedelta(days=1)}
# Every instant an invoice or a bucket can hold (timestamps are bounded to 1970-9999).
EVERY_INSTANT = (datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, tzinfo=UTC))
_EPOCH = EVERY_INSTANT[0]


@dataclass(frozen=True)
class BreakdownQuery:
    starting_on: datetime
    ending_before: datetime
    window_size: WindowSize
    status: InvoiceStatus | None = None
    currency: str | None = None

    def __post_init__(self) -> None:
        if self.ending_before <= self.starting_on:
            raise FieldError("ending_before", "must be after starting_on (the range is empty or inverted)")

    def overlaps(self, invoice: Invoice) -> bool:
        """Whether the invoice may have usage in the range (its period meets it) and passes the filters."""
        return (
            invoice.start_timestamp < self.ending_before
            and invoice.end_timestamp > self.starting_on
            and (self.status is None or invoice.status == self.status)
            and (self.currency is None or invoice.currency == self.currency)
        )

    @property
    def aligned(self) -> bool:
        """Whether both ends of the range are window boundaries (whole UTC hours, or midnights for
        DAY): then every window is inside the range or outside it, never cut by it, and the
        entries are those of the whole invoice whose window starts in the range."""
        return all(
            moment.astimezone(UTC) == window_start(moment.astimezone(UTC), self.window_size)
            for moment in (self.starting_on, self.ending_before)
        )


def window_start(moment: datetime, size: WindowSize) -> datetime:
    hour = moment.replace(minute=0, second=0, microsecond=0)
    return hour if size == "HOUR" else hour.replace(hour=0)


BucketUsage = tuple[datetime, Decimal, Decimal]  # a bucket's starting_at, quantity, total


@dataclass(frozen=True)
class InvoiceUsage:
    """An invoice with its lines' buckets as (starting_at, quantity, total): all that breakdowns
    need of a bucket, which a store can read without building a model per bucket (a month of
    hourly buckets is thousands per line). `buckets[i]` are those of `invoice.line_items[i]`,
    whose own `buckets` may be left empty."""

    invoice: Invoice
    buckets: Sequence[Sequence[BucketUsage]]

    @classmethod
    def of(cls, invoice: Invoice) -> InvoiceUsage:
        return cls(
            invoice, [[(b.starting_at, b.quantity, b.total) for b in line.buckets] for line in invoice.line_items]
        )


# Tuples, not frozen dataclasses: a month of HOUR windows is thousands of entries and lines, and a
# frozen dataclass sets each field through object.__setattr__ (most of computing the entries).
class BreakdownLine(NamedTuple):
    id: str
    name: str
    product_id: str | None
    quantity: Decimal
    total: Decimal


class Breakdown(NamedTuple):
    invoice_id: str
    status: InvoiceStatus
    currency: str
    breakdown_start_timestamp: datetime
    breakdown_end_timestamp: datetime
    line_items: tuple[BreakdownLine, ...] = ()

    @property
    def subtotal(self) -> Decimal:
        return sum((line.total for line in self.line_items), Decimal(0))


# An entry as values, or as written out when its invoice version was stored: its JSON, byte for
# byte what the API answers for it (shared/domain/breakdown_json.py).
BreakdownEntry = Breakdown | str


@dataclass(frozen=True)
class StoredWindows:
    """An invoice version's entries for every window of one size, written when the version was
    stored (docs/breakdowns.md, "Windows stored with the invoice"). `starts[i]` is the start of
    `entries[i]`'s window, in seconds since the epoch, ascending; `weights[i]` its weight in a page.
    `after` is where the customer's invoice list goes on after this invoice (a `list_invoices`
    cursor)."""

    customer_id: str
    starts: Sequence[int]
    entries: Sequence[str]
    weights: Sequence[int]
    after: str

    def within(self, query: BreakdownQuery) -> tuple[Sequence[str], Sequence[int]]:
        """The entries an aligned query answers for this invoice (those whose window starts in its
        range), and their weights."""
        low = bisect_left(self.starts, int(query.starting_on.timestamp()))
        high = bisect_left(self.starts, int(query.ending_before.timestamp()))
        return self.entries[low:high], self.weights[low:high]


def every_window(read: Invoice | InvoiceUsage, size: WindowSize) -> list[Breakdown]:
    """The invoice's entries over all time: what `StoredWindows` holds, before it is written."""
    return breakdowns_of(read, BreakdownQuery(*EVERY_INSTANT, size))


def breakdowns_of(read: Invoice | InvoiceUsage, query: BreakdownQuery) -> list[Breakdown]:
    """The invoice's entries, by window; [] when it has no usage in the range.

    One pass over the buckets, doing per bucket only the range check and which window holds it:
    its number since the epoch, `(moment - epoch) // length` — exact, and a quarter of the cost of
    building the window's start (UTC hours and UTC days both divide the time since the epoch)."""
    usage = read if isinstance(read, InvoiceUsage) else InvoiceUsage.of(read)
    invoice = usage.invoice
    if not query.overlaps(invoice):
        return []
    low, high = query.starting_on, query.ending_before
    length = WINDOW_LENGTH[query.window_size]
    # window number → line id → [line, Σ quantity, Σ total]; dicts keep insertion order, which is
    # the invoice's line order (the lines are walked in order).
    windows: dict[int, dict[str, list[Any]]] = {}
    zero = Decimal(0)
    for line, buckets in zip(invoice.line_items, usage.buckets, strict=True):
        key = line.id
        counted = buckets or [(invoice.start_timestamp, line.quantity, line.total)]
        for moment, quantity, total in counted:
            if not low <= moment < high:
                continue
            window = (moment - _EPOCH) // length
            lines = windows.get(window)
            if lines is None:
                lines = windows[window] = {}
            sums = lines.get(key)
            if sums is None:
                lines[key] = [line, zero + quantity, zero + total]
            else:
                sums[1] += quantity
                sums[2] += total
    return [
        Breakdown(
            invoice.id,
            invoice.status,
            invoice.currency,
            _EPOCH + number * length,
            _EPOCH + (number + 1) * length,
            tuple(
                [
                    BreakdownLine(line.id, line.name, line.product_id, quantity, total)
                    for line, quantity, total in windows[number].values()
                ]
            ),
        )
        for number in sorted(windows)
    ]
