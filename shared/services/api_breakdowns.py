"""Invoice breakdowns, paged (the rules: shared/domain/breakdowns.py, docs/breakdowns.md).

A page walks the customer's invoice list in its order, a few invoices at a time, reads each
invoice that meets the range with its buckets and turns it into entries. The cursor holds where
that walk stands — the invoice list's own cursor and how many entries of that stretch of invoices
were already served — so the next page recomputes at most `INVOICES_PER_STEP` invoices' entries
and answers the same bytes for the same request.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.domain.breakdowns import Breakdown, BreakdownQuery, breakdowns_of
from shared.domain.invoice_listing import InvoiceQuery
from shared.domain.paging import InvalidCursor, Page, PageRequest, decode_cursor, encode_cursor
from shared.services.api_dependencies import ApiDependencies
from shared.services.api_errors import NotFound

INVOICES_PER_STEP = 10
PAGE_BYTES_MAX = 4_000_000  # of the entries' weight; the rest of Lambda's 6 MB is the answer's own
MAX_SKIP = 10**7


@dataclass(frozen=True)
class _Position:
    invoices: str | None  # the invoice list's cursor to the stretch of invoices being served
    skip: int  # entries of that stretch already served

    @classmethod
    def of(cls, cursor: str | None) -> _Position:
        if cursor is None:
            return cls(None, 0)
        position = decode_cursor(cursor)
        if (
            not isinstance(position, dict)
            or set(position) != {"invoices", "skip"}
            or not (position["invoices"] is None or isinstance(position["invoices"], str))
            or not isinstance(position["skip"], int)
            or isinstance(position["skip"], bool)
            or not 0 <= position["skip"] < MAX_SKIP
        ):
            raise InvalidCursor("next_page belongs to another list")
        return cls(position["invoices"], position["skip"])

    def cursor(self) -> str:
        return encode_cursor({"invoices": self.invoices, "skip": self.skip})


def weight(entry: Breakdown) -> int:
    """About what an entry weighs in the answer's JSON, bytes (generous: ids and names at full length)."""
    return 300 + sum(200 + len(line.id) * 6 + len(line.name) * 6 for line in entry.line_items)


def list_breakdowns(
    deps: ApiDependencies, customer_id: str, query: BreakdownQuery, page: PageRequest
) -> Page[Breakdown]:
    if deps.store.get_customer(customer_id) is None:
        raise NotFound(f"customer {customer_id!r} not found")
    position = _Position.of(page.cursor)
    entries: list[Breakdown] = []
    used = 0
    invoice_query = InvoiceQuery(status=query.status)
    while True:
        step = PageRequest(INVOICES_PER_STEP, position.invoices)
        stretch = deps.store.list_invoices(customer_id, invoice_query, step)
        produced = 0  # entries of this stretch, served on earlier pages or now
        for listing in stretch.items:
            # The list is in order of start, to the second (a fraction sorts within its second).
            if listing.invoice.start_timestamp.replace(microsecond=0) >= query.ending_before:
                return Page(entries, None)
            if not query.overlaps(listing.invoice):
                continue
            invoice = deps.store.get_invoice(listing.invoice.id, buckets=True)
            if invoice is None:  # deleted between the two reads: nothing to show
                continue
            for entry in breakdowns_of(invoice, query):
                produced += 1
                if produced <= position.skip:
                    continue
                used += weight(entry)
                if len(entries) == page.limit or (entries and used > PAGE_BYTES_MAX):
                    return Page(entries, _Position(position.invoices, produced - 1).cursor())
                entries.append(entry)
        if stretch.next_page is None:
            return Page(entries, None)
        position = _Position(stretch.next_page, 0)
