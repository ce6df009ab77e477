"""Invoice breakdowns, paged (the rules: shared/domain/breakdowns.py, docs/breakdowns.md).

A page walks the customer's invoice list in its order, a few invoices at a time, and turns each
invoice that meets the range into entries. Its cursor (`breakdown_positions.Position`) says where
the walk stands, so the next page starts at the invoice it stopped in and answers the same bytes
for the same request.

An invoice's entries come one of two ways:

- **written**: an invoice whose lines are in chunk items had every HOUR and DAY entry written with
  it (`StoredWindows`); a range aligned to its windows answers them as written, reading no bucket.
  A page that stops inside such an invoice names those windows in its cursor, and the invoices
  after it in the list it read, when theirs were written too; the next pages serve them from this
  function's memory or with one read of each by name, without listing again. So a walk shows each
  of those invoices at the version it first met, whichever instance serves each page (the windows
  of a replaced version are kept a day);
- **computed** from the buckets, for every other invoice and range: kept for the next pages by
  `(customer, id, version, query)`; a page that resumes in them reads the invoice's version first,
  and a newer version is what it shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from shared.domain.breakdown_json import weight
from shared.domain.breakdowns import BreakdownEntry, BreakdownQuery, StoredWindows, WindowSize, breakdowns_of
from shared.domain.invoice_listing import InvoiceListing, InvoiceQuery
from shared.domain.paging import Page, PageRequest
from shared.services.api_dependencies import ApiDependencies
from shared.services.api_errors import NotFound
from shared.services.breakdown_positions import (
    INVOICES_PER_STEP,
    Followers,
    Kept,
    Key,
    Position,
    followers_within_bound,
    recent,
)

PAGE_BYTES_MAX = 4_000_000  # of the entries' weight; the rest of Lambda's 6 MB is the answer's own


@dataclass
class _Answer:
    """The page being filled: up to `limit` entries, ending earlier rather than pass PAGE_BYTES_MAX."""

    limit: int
    entries: list[BreakdownEntry] = field(default_factory=list)
    used: int = 0

    def take(self, found: Sequence[BreakdownEntry], weights: Sequence[int], skip: int) -> int | None:
        """Add `found[skip:]`; the number of the first entry that did not fit, or None when all did."""
        for number in range(skip, len(found)):
            self.used += weights[number]
            if len(self.entries) == self.limit or (self.entries and self.used > PAGE_BYTES_MAX):
                return number
            self.entries.append(found[number])
        return None


@dataclass(frozen=True)
class _Held:
    """The entries of the invoice a cursor stopped in, and where the customer's list goes on after it."""

    entries: Sequence[BreakdownEntry]
    weights: Sequence[int]
    after: str


def list_breakdowns(
    deps: ApiDependencies, customer_id: str, query: BreakdownQuery, page: PageRequest
) -> Page[BreakdownEntry]:
    position = Position.of(page.cursor)
    answer = _Answer(page.limit)
    held = _held_for(deps, customer_id, query, position)
    if held is None:
        if page.cursor is None:
            # A later page reads no customer: its cursor came from this customer's list, and
            # customers are never deleted. Only a walk that finds nothing at its start asks.
            _check_customer(deps, customer_id)
        return _walk(deps, customer_id, query, position, answer, resumed=page.cursor is not None)
    # The page resumes in entries held here, or read by name: no list while it stays inside them.
    stopped = answer.take(held.entries, held.weights, position.skip)
    if stopped is not None:
        return Page(answer.entries, replace(position, skip=stopped).cursor())
    # Then the invoices the cursor names after it, each served whole or until the page is full.
    after, then = held.after, position.then
    while then:
        (invoice_id, name), then = then[0], then[1:]
        windows = _written(deps, customer_id, [(invoice_id, name), *then], query.window_size).get(invoice_id)
        if windows is None:  # expired since (a day after a newer version): the list from here on
            break
        stopped = answer.take(*windows.within(query), 0)
        if stopped is not None:
            return Page(answer.entries, Position(after, stopped, 0, invoice_id, None, name, then).cursor())
        after = windows.after
    # It goes on past them: with the stretch after the last (which ended its stretch, as the walk's
    # stretches end at the invoice a page stops in), so the cursors are the walk's. A whole stretch:
    # the invoices after the one the page stops in go into its cursor.
    return _walk(deps, customer_id, query, Position(after, 0), answer, size=INVOICES_PER_STEP)


def _walk(
    deps: ApiDependencies,
    customer_id: str,
    query: BreakdownQuery,
    position: Position,
    answer: _Answer,
    *,
    resumed: bool = False,
    size: int | None = None,
) -> Page[BreakdownEntry]:
    """Fill the page from the customer's list, from `position` on."""
    invoice_query = InvoiceQuery(status=query.status)
    # The first stretch ends at the invoice the page resumes in (a page that stops inside an
    # invoice resumes with a list of that one, not of the nine after it); they grow to ten.
    size = size or position.at + 1
    # Entries already served, from the stretch's invoice `at` on: a cursor of this build names
    # entries of that one invoice; an earlier build's counted on across its stretch of ten.
    skip = position.skip
    first = True
    while True:
        stretch = deps.store.list_invoices(customer_id, invoice_query, PageRequest(size, position.invoices))
        if first and resumed and not stretch.items:
            _check_customer(deps, customer_id)
        first = False
        for index, listing in enumerate(stretch.items[position.at :], start=position.at):
            if _past_the_range(listing, query):
                return Page(answer.entries, None)
            if not query.overlaps(listing.invoice):
                continue
            then = _followers(stretch.items[index + 1 :], query)
            found, weights, windows = _entries_of(deps, listing, query, then)
            stopped = answer.take(found, weights, skip)
            if stopped is not None:
                invoice = listing.invoice
                at = Position(position.invoices, stopped, index, invoice.id, invoice.version, windows, then)
                return Page(answer.entries, at.cursor())
            skip = max(0, skip - len(found))
        if stretch.next_page is None:
            return Page(answer.entries, None)
        position = Position(stretch.next_page, 0)
        size = min(2 * size, INVOICES_PER_STEP)


def _past_the_range(listing: InvoiceListing, query: BreakdownQuery) -> bool:
    # The list is in order of start, to the second (a fraction sorts within its second).
    return listing.invoice.start_timestamp.replace(microsecond=0) >= query.ending_before


def _followers(listed: Sequence[InvoiceListing], query: BreakdownQuery) -> Followers:
    """The invoices after the one a page stopped in that the next pages can serve without listing:
    in list order, those meeting the query, up to the first whose windows were not written (or the
    end of the range, or of what was listed)."""
    if not query.aligned:
        return ()
    followers: list[tuple[str, str]] = []
    for listing in listed:
        if _past_the_range(listing, query):
            break
        if not query.overlaps(listing.invoice):
            continue
        if listing.windows is None:
            break
        followers.append((listing.invoice.id, listing.windows))
    return followers_within_bound(followers)


def _entries_of(
    deps: ApiDependencies, listing: InvoiceListing, query: BreakdownQuery, followers: Followers
) -> tuple[Sequence[BreakdownEntry], Sequence[int], str | None]:
    """The invoice's entries for the query, their weights, and the name of the written windows they
    are from (None: computed). Written windows are read with those of its `followers` (what a cursor
    stopping in it names after it: one batch read, not one read each)."""
    invoice = listing.invoice
    if listing.windows is not None and query.aligned:
        wanted = [(invoice.id, listing.windows), *followers]
        windows = _written(deps, invoice.customer_id, wanted, query.window_size).get(invoice.id)
        if windows is not None:
            return *windows.within(query), listing.windows
    key: Key = ("computed", invoice.customer_id, invoice.id, invoice.version, query)
    kept = recent(deps.store).get(key)
    if isinstance(kept, Kept):
        return kept.entries, kept.weights, None
    usage = deps.store.get_invoice_usage(invoice.id)
    if usage is None:  # deleted between the two reads: nothing to show
        return [], [], None
    # Replaced by a newer version between the two reads: its entries are the newer version's, kept
    # under the version they belong to.
    read = usage.invoice
    entries = breakdowns_of(usage, query)
    kept = Kept(read, entries, [weight(entry) for entry in entries])
    recent(deps.store).put(("computed", read.customer_id, read.id, read.version, query), kept)
    return kept.entries, kept.weights, None


def _written(
    deps: ApiDependencies, customer_id: str, wanted: Sequence[tuple[str, str]], size: WindowSize
) -> dict[str, StoredWindows]:
    """The windows written with each (invoice id, name) of `wanted`, by invoice id: from memory, the
    rest read together by name. An invoice is left out when they are gone (expired a day after a
    newer version) or are not this customer's (a cursor edited to name another customer's invoice)."""
    kept = recent(deps.store)
    found: dict[str, StoredWindows] = {}
    missing: dict[str, str] = {}
    for invoice_id, name in wanted:
        windows = kept.get(("written", customer_id, invoice_id, name, size))
        if isinstance(windows, StoredWindows):
            found[invoice_id] = windows
        else:
            missing[invoice_id] = name
    if missing:
        for invoice_id, windows in deps.store.get_invoice_windows(list(missing.items()), size).items():
            if invoice_id in missing and windows.customer_id == customer_id:
                kept.put(("written", customer_id, invoice_id, missing[invoice_id], size), windows)
                found[invoice_id] = windows
    return found


def _held_for(deps: ApiDependencies, customer_id: str, query: BreakdownQuery, position: Position) -> _Held | None:
    """The entries of the invoice the cursor stopped in: its written windows (from memory or read by
    name); or its computed entries, when this function holds them and that invoice's stored version
    is still the one they were computed from (one small GetItem). Else None: the walk of the list
    serves the page, with the same entries and cursor."""
    if position.invoice is None:
        return None
    if position.windows is not None and query.aligned:
        # Alone: most pages stay inside it (those that go on read the rest of `then` together).
        windows = _written(deps, customer_id, [(position.invoice, position.windows)], query.window_size).get(
            position.invoice
        )
        return None if windows is None else _Held(*windows.within(query), windows.after)
    if position.version is None:
        return None
    kept = recent(deps.store).get(("computed", customer_id, position.invoice, position.version, query))
    if not isinstance(kept, Kept) or deps.store.invoice_version(position.invoice) != position.version:
        return None
    return _Held(kept.entries, kept.weights, deps.store.invoice_list_cursor(kept.invoice))


def _check_customer(deps: ApiDependencies, customer_id: str) -> None:
    if deps.store.get_customer(customer_id) is None:
        raise NotFound(f"customer {customer_id!r} not found")
