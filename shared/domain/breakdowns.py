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

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

from shared.domain.invoice import Invoice, InvoiceStatus, LineItem
from shared.domain.validation import FieldError

WindowSize = Literal["HOUR", "DAY"]
WINDOW_LENGTH: dict[WindowSize, timedelta] = {"HOUR": timedelta(hours=1), "DAY": timedelta(days=1)}


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

    def window_of(self, moment: datetime) -> datetime | None:
        """The start of the window holding `moment`, or None when `moment` is outside the range."""
        if not self.starting_on <= moment < self.ending_before:
            return None
        hour = moment.replace(minute=0, second=0, microsecond=0)
        return hour if self.window_size == "HOUR" else hour.replace(hour=0)


@dataclass(frozen=True)
class BreakdownLine:
    id: str
    name: str
    product_id: str | None
    quantity: Decimal
    total: Decimal


@dataclass
class _LineSums:
    line: LineItem
    quantity: Decimal = Decimal(0)
    total: Decimal = Decimal(0)


@dataclass(frozen=True)
class Breakdown:
    invoice_id: str
    status: InvoiceStatus
    currency: str
    breakdown_start_timestamp: datetime
    breakdown_end_timestamp: datetime
    line_items: tuple[BreakdownLine, ...] = field(default=())

    @property
    def subtotal(self) -> Decimal:
        return sum((line.total for line in self.line_items), Decimal(0))


def breakdowns_of(invoice: Invoice, query: BreakdownQuery) -> list[Breakdown]:
    """The invoice's entries, by window; [] when it has no usage in the range."""
    if not query.overlaps(invoice):
        return []
    windows: dict[datetime, dict[str, _LineSums]] = {}
    for line, moment, quantity, total in _usage(invoice):
        window = query.window_of(moment)
        if window is None:
            continue
        sums = windows.setdefault(window, {}).setdefault(line.id, _LineSums(line))
        sums.quantity += quantity
        sums.total += total
    length = WINDOW_LENGTH[query.window_size]
    return [
        Breakdown(
            invoice_id=invoice.id,
            status=invoice.status,
            currency=invoice.currency,
            breakdown_start_timestamp=start,
            breakdown_end_timestamp=start + length,
            line_items=tuple(
                BreakdownLine(s.line.id, s.line.name, s.line.product_id, s.quantity, s.total)
                for s in windows[start].values()  # dicts keep insertion order: the invoice's line order
            ),
        )
        for start in sorted(windows)
    ]


def _usage(invoice: Invoice) -> Iterator[tuple[LineItem, datetime, Decimal, Decimal]]:
    for line in invoice.line_items:
        if not line.buckets:
            yield line, invoice.start_timestamp, line.quantity, line.total
        for bucket in line.buckets:
            yield line, bucket.starting_at, bucket.quantity, bucket.total
