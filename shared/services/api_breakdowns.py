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
same entries (a version the router has not seen yet is a new key). A page that resumes in kept
entries whose version is still the stored one serves them without listing, and when it goes on
past them continues the list right after that invoice — with the cursors the walk would hand out.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass, replace

from shared.domain.breakdowns import Breakdown, BreakdownQuery, breakdowns_of
from shared.domain.invoice import Invoice
from shared.domain.invoice_listing import InvoiceListing, InvoiceQuery
from shared.domain.paging import InvalidCursor, Page, PageRequest, decode_cursor, encode_cursor
from shared.domain.types import MAX_ID_LENGTH
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
    # The invoice (and its version) the page stopped in: a next page that stays inside it is served
    # from the entries kept for it, after one read of its version number — no list, no buckets.
    invoice: str | None = None
    version: int | None = None

    @classmethod
    def of(cls, cursor: str | None) -> _Position:
        if cursor is None:
            return cls(None, 0)
        position = decode_cursor(cursor)
        if (
            not isinstance(position, dict)
            or not {"invoices", "skip"} <= set(position) <= {"invoices", "skip", "at", "id", "version"}
            or ("id" in position) != ("version" in position)
            or not (position["invoices"] is None or isinstance(position["invoices"], str))
            or not all(_count(position.get(name, 0)) for name in ("skip", "at", "version"))
            or not position.get("at", 0) < INVOICES_PER_STEP
            or not (isinstance(position.get("id", ""), str) and len(position.get("id", "")) <= MAX_ID_LENGTH)
        ):
            raise InvalidCursor("next_page belongs to another list")
        return cls(
            position["invoices"], position["skip"], position.get("at", 0), position.get("id"), position.get("version")
        )

    def cursor(self) -> str:
        fields: dict[str, object] = {"invoices": self.invoices, "skip": self.skip, "at": self.at}
        if self.invoice is not None:
            fields.update({"id": self.invoice, "version": self.version})
        return encode_cursor(fields)


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < MAX_SKIP


_Key = tuple[str, str, int, BreakdownQuery]  # customer, invoice id, version, the query


@dataclass(frozen=True)
class _Kept:
    invoice: Invoice  # the version the entries are of (where the customer's list goes on after it)
    entries: list[Breakdown]


class _RecentEntries:
    """The entries of the last few invoices read, by (customer, id, version, query): a later page of
    the same walk takes them from here instead of reading the invoice's buckets again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[_Key, _Kept] = OrderedDict()

    def get(self, key: _Key) -> _Kept | None:
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
            return found

    def put(self, key: _Key, kept: _Kept) -> None:
        with self._lock:
            self._entries[key] = kept
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
    kept = recent.get(key)
    if kept is not None:
        return kept.entries
    usage = deps.store.get_invoice_usage(listing.invoice.id)
    if usage is None:  # deleted between the two reads: nothing to show
        return []
    # Replaced by a newer version between the two reads: its entries are the newer version's, kept
    # under the version they belong to.
    invoice = usage.invoice
    entries = breakdowns_of(usage, query)
    recent.put((invoice.customer_id, invoice.id, invoice.version, query), _Kept(invoice, entries))
    return entries


def weight(entry: Breakdown) -> int:
    """About what an entry weighs in the answer's JSON, bytes (generous: ids and names at full length)."""
    return 300 + sum(200 + len(line.id) * 6 + len(line.name) * 6 for line in entry.line_items)


def _check_customer(deps: ApiDependencies, customer_id: str) -> None:
    if deps.store.get_customer(customer_id) is None:
        raise NotFound(f"customer {customer_id!r} not found")


def _kept_for(deps: ApiDependencies, customer_id: str, query: BreakdownQuery, position: _Position) -> _Kept | None:
    """The entries kept of the invoice the cursor stopped in, when this function holds them and
    that invoice's stored version is still the one they were computed from (one small GetItem);
    else None (the walk of the list serves the page, with the same entries and cursor)."""
    if position.invoice is None or position.version is None:
        return None
    kept = _recent(deps.store).get((customer_id, position.invoice, position.version, query))
    if kept is None or deps.store.invoice_version(position.invoice) != position.version:
        return None
    return kept


def list_breakdowns(
    deps: ApiDependencies, customer_id: str, query: BreakdownQuery, page: PageRequest
) -> Page[Breakdown]:
    position = _Position.of(page.cursor)
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
    kept = _kept_for(deps, customer_id, query, position)
    if kept is not None:
        # The page resumes in entries kept here: no list, no buckets, while it stays inside them.
        for number in range(position.skip, len(kept.entries)):
            used += weight(kept.entries[number])
            if len(entries) == page.limit or (entries and used > PAGE_BYTES_MAX):
                return Page(entries, replace(position, skip=number).cursor())
            entries.append(kept.entries[number])
        # It goes on past that invoice: with the stretch after it, as the walk would (that invoice
        # ends its stretch of `at + 1`), so the cursors are the walk's.
        position = _Position(deps.store.invoice_list_cursor(kept.invoice), 0)
        size, skip, first = min(2 * size, INVOICES_PER_STEP), max(0, skip - len(kept.entries)), False
    elif page.cursor is None:
        # A later page reads no customer: its cursor came from this customer's list, and customers
        # are never deleted. Only a walk that finds nothing at its start asks whether it exists.
        _check_customer(deps, customer_id)
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
                    stopped_in = _Position(
                        position.invoices, number, index, listing.invoice.id, listing.invoice.version
                    )
                    return Page(entries, stopped_in.cursor())
                entries.append(entry)
        if stretch.next_page is None:
            return Page(entries, None)
        position = _Position(stretch.next_page, 0)
        size = min(2 * size, INVOICES_PER_STEP)
