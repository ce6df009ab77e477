"""Invoice breakdowns, paged (the rules: shared/domain/breakdowns.py, docs/breakdowns.md).

A page walks the customer's invoice list in its order, a few invoices at a time, reads each
invoice that meets the range with its buckets and turns it into entries. The cursor holds where
that walk stands — the invoice list's own cursor to a stretch of invoices, how many of the
stretch's invoices are behind it (`at`) and how many entries of the next one were already served
(`skip`) — so the next page starts at the invoice it stopped in and answers the same bytes for the
same request.

An invoice of a month of hourly buckets spans several pages of 100 HOUR windows; its entries are
computed once and kept for the next pages (`_RecentEntries`, per store, a few invoices): an
invoice version never changes once stored, so `(customer, id, version, query)` always gives the
same entries (a version the router has not seen yet is a new key).
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass

from shared.domain.breakdowns import Breakdown, BreakdownQuery, breakdowns_of
from shared.domain.invoice_listing import InvoiceListing, InvoiceQuery
from shared.domain.paging import InvalidCursor, Page, PageRequest, decode_cursor, encode_cursor
from shared.services.api_dependencies import ApiDependencies
from shared.services.api_errors import NotFound

INVOICES_PER_STEP = 10  # the most invoices listed at once (the first stretch of a page lists fewer)
PAGE_BYTES_MAX = 4_000_000  # of the entries' weight; the rest of Lambda's 6 MB is the answer's own
MAX_SKIP = 10**7
RECENT_INVOICES = 4  # per store: the invoice a page stopped in, and a few around it


@dataclass(frozen=True)
class _Position:
    invoices: str | None  # the invoice list's cursor to the stretch of invoices being served
    skip: int  # entries already served of the stretch's invoices from `at` on
    at: int = 0  # the stretch's invoices wholly served (their entries need not be computed again)

    @classmethod
    def of(cls, cursor: str | None) -> _Position:
        if cursor is None:
            return cls(None, 0)
        position = decode_cursor(cursor)
        if (
            not isinstance(position, dict)
            or set(position) - {"at"} != {"invoices", "skip"}
            or not (position["invoices"] is None or isinstance(position["invoices"], str))
            or not all(_count(position.get(name, 0)) for name in ("skip", "at"))
            or not position.get("at", 0) < INVOICES_PER_STEP
        ):
            raise InvalidCursor("next_page belongs to another list")
        return cls(position["invoices"], position["skip"], position.get("at", 0))

    def cursor(self) -> str:
        return encode_cursor({"invoices": self.invoices, "skip": self.skip, "at": self.at})


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < MAX_SKIP


_Key = tuple[str, str, int, BreakdownQuery]  # customer, invoice id, version, the query


class _RecentEntries:
    """The entries of the last few invoices read, by (customer, id, version, query): a later page of
    the same walk takes them from here instead of reading the invoice's buckets again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[_Key, list[Breakdown]] = OrderedDict()

    def get(self, key: _Key) -> list[Breakdown] | None:
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
            return found

    def put(self, key: _Key, entries: list[Breakdown]) -> None:
        with self._lock:
            self._entries[key] = entries
            self._entries.move_to_end(key)
            while len(self._entries) > RECENT_INVOICES:
                self._entries.popitem(last=False)


_RECENT: weakref.WeakKeyDictionary[object, _RecentEntries] = weakref.WeakKeyDictionary()
_RECENT_LOCK = threading.Lock()


def _recent(store: object) -> _RecentEntries:
    with _RECENT_LOCK:
        recent = _RECENT.get(store)
        if recent is None:
            recent = _RECENT[store] = _RecentEntries()
        return recent


def _entries_of(deps: ApiDependencies, listing: InvoiceListing, query: BreakdownQuery) -> list[Breakdown]:
    key = (listing.invoice.customer_id, listing.invoice.id, listing.invoice.version, query)
    recent = _recent(deps.store)
    entries = recent.get(key)
    if entries is None:
        invoice = deps.store.get_invoice(listing.invoice.id, buckets=True)
        # Deleted between the two reads: nothing to show. Replaced by a newer version: its entries
        # are the newer version's, kept under the version they belong to.
        entries = [] if invoice is None else breakdowns_of(invoice, query)
        if invoice is not None:
            recent.put((invoice.customer_id, invoice.id, invoice.version, query), entries)
    return entries


def weight(entry: Breakdown) -> int:
    """About what an entry weighs in the answer's JSON, bytes (generous: ids and names at full length)."""
    return 300 + sum(200 + len(line.id) * 6 + len(line.name) * 6 for line in entry.line_items)


def _check_customer(deps: ApiDependencies, customer_id: str) -> None:
    if deps.store.get_customer(customer_id) is None:
        raise NotFound(f"customer {customer_id!r} not found")


def list_breakdowns(
    deps: ApiDependencies, customer_id: str, query: BreakdownQuery, page: PageRequest
) -> Page[Breakdown]:
    position = _Position.of(page.cursor)
    # A later page reads no customer: its cursor came from this customer's list, and customers are
    # never deleted. Only a walk that finds nothing at its start asks whether the customer exists.
    if page.cursor is None:
        _check_customer(deps, customer_id)
    entries: list[Breakdown] = []
    used = 0
    invoice_query = InvoiceQuery(status=query.status)
    # The first stretch ends at the invoice the page resumes in; then they grow to INVOICES_PER_STEP.
    # A page that stops inside an invoice (a month of HOUR windows spans several) resumes with a
    # list of that one invoice, not of the nine after it.
    size = position.at + 1
    # Entries already served, from the stretch's invoice `at` on: a cursor of this build names
    # entries of that one invoice; an earlier build's counted on across its stretch of ten.
    skip = position.skip
    first = True
    while True:
        stretch = deps.store.list_invoices(customer_id, invoice_query, PageRequest(size, position.invoices))
        if first and page.cursor is not None and not stretch.items:
            _check_customer(deps, customer_id)
        first = False
        for index, listing in enumerate(stretch.items[position.at :], start=position.at):
            # The list is in order of start, to the second (a fraction sorts within its second).
            if listing.invoice.start_timestamp.replace(microsecond=0) >= query.ending_before:
                return Page(entries, None)
            if not query.overlaps(listing.invoice):
                continue
            for number, entry in enumerate(_entries_of(deps, listing, query)):
                if skip:
                    skip -= 1
                    continue
                used += weight(entry)
                if len(entries) == page.limit or (entries and used > PAGE_BYTES_MAX):
                    return Page(entries, _Position(position.invoices, number, index).cursor())
                entries.append(entry)
        if stretch.next_page is None:
            return Page(entries, None)
        position = _Position(stretch.next_page, 0)
        size = min(2 * size, INVOICES_PER_STEP)
