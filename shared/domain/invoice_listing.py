"""Which invoices `GET /v1/customers/{id}/invoices` returns, and how much of each (docs/api.md).

A list item is the invoice at its latest version with its first line items only — without
`buckets`, at most `LIST_LINE_ITEMS_MAX` of them and `LIST_LINE_BYTES_MAX` bytes of their JSON —
and says how many it has (`line_items_count`; `line_items_truncated` when some were left out: the
invoice itself has them all). A page also ends early rather than pass `LIST_PAGE_BYTES_MAX`, so a
list answer stays under Lambda's 6 MB response limit whatever the invoices' size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from shared.domain.invoice import Invoice, InvoiceStatus, LineItem

LIST_LINE_ITEMS_MAX = 100
LIST_LINE_BYTES_MAX = 32_000
LIST_PAGE_BYTES_MAX = 4_000_000  # of the invoices' JSON; the rest of the 6 MB is the answer's own


@dataclass(frozen=True)
class InvoiceQuery:
    """`starting_on`: start_timestamp ≥ it; `ending_before`: end_timestamp ≤ it; `status`: all when None."""

    status: InvoiceStatus | None = None
    starting_on: datetime | None = None
    ending_before: datetime | None = None

    def matches(self, invoice: Invoice) -> bool:
        return (
            (self.status is None or invoice.status == self.status)
            and (self.starting_on is None or invoice.start_timestamp >= self.starting_on)
            and (self.ending_before is None or invoice.end_timestamp <= self.ending_before)
        )


@dataclass(frozen=True)
class InvoiceListing:
    """One list item: the invoice with its first lines (no buckets), and how many lines it has."""

    invoice: Invoice
    line_items_count: int
    # The breakdown windows written with this version, as the store names them (None: not written,
    # the entries are computed from the buckets): docs/breakdowns.md.
    windows: str | None = None

    @property
    def line_items_truncated(self) -> bool:
        return self.line_items_count > len(self.invoice.line_items)

    @property
    def size(self) -> int:
        """What this item weighs in a page (its JSON, bytes)."""
        return len(self.invoice.model_dump_json().encode())


def without_buckets(lines: Sequence[LineItem]) -> list[LineItem]:
    return [line.model_copy(update={"buckets": []}) if line.buckets else line for line in lines]


def invoice_without_buckets(invoice: Invoice) -> Invoice:
    return invoice.model_copy(update={"line_items": without_buckets(invoice.line_items)})


def first_lines(lines: Sequence[LineItem]) -> list[LineItem]:
    """The lines a list item shows: the first ones, without buckets, within both bounds."""
    shown: list[LineItem] = []
    used = 0
    for line in without_buckets(lines[:LIST_LINE_ITEMS_MAX]):
        used += len(line.model_dump_json().encode())
        if used > LIST_LINE_BYTES_MAX:
            break
        shown.append(line)
    return shown


def listing_of(invoice: Invoice) -> InvoiceListing:
    return InvoiceListing(
        invoice.model_copy(update={"line_items": first_lines(invoice.line_items)}), len(invoice.line_items)
    )
