"""Where a breakdowns walk stands (its cursor), and the entries a function keeps between pages.

A cursor holds the invoice list's own cursor to a stretch of invoices (`invoices`), how many of the
stretch's invoices are behind it (`at`) and how many entries of the next one were already served
(`skip`). A page that stops inside an invoice also names it (`id`, and `version` or the store's
name of its written `windows`), and — when the invoices after it in the list the page read have
written windows too — those (`then`: id and windows, in list order, the ones that meet the query),
so that the next pages serve them without listing again.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from shared.domain.breakdowns import Breakdown, BreakdownQuery, StoredWindows, WindowSize
from shared.domain.invoice import Invoice
from shared.domain.paging import InvalidCursor, decode_cursor, encode_cursor
from shared.domain.types import MAX_ID_LENGTH

INVOICES_PER_STEP = 10  # the most invoices listed at once (the first stretch of a page lists fewer)
MAX_SKIP = 10**7
MAX_NAME_LENGTH = 100  # of a store's name for written windows
THEN_MAX_CHARACTERS = 1_500  # of the invoices named after the one a page stopped in (the cursor stays short)
# Per store, about (the entries' weights): the invoice a page stopped in and those its cursor names
# after it — ten months of hourly windows of a few lines are ~4 MB, one of thousands of lines ~30 MB.
RECENT_WEIGHT_MAX = 64_000_000

Followers = tuple[tuple[str, str], ...]  # (invoice id, its windows), in list order


@dataclass(frozen=True)
class Position:
    invoices: str | None  # the invoice list's cursor to the stretch of invoices being served
    skip: int  # entries already served of the stretch's invoices from `at` on
    at: int = 0  # the stretch's invoices wholly served (their entries need not be computed again)
    # The invoice the page stopped in: its version (entries computed from its buckets) or its
    # written windows (the store's name for them), or both.
    invoice: str | None = None
    version: int | None = None
    windows: str | None = None
    then: Followers = ()

    @classmethod
    def of(cls, cursor: str | None) -> Position:
        if cursor is None:
            return cls(None, 0)
        fields = decode_cursor(cursor)
        if not _valid(fields):
            raise InvalidCursor("next_page belongs to another list")
        return cls(
            fields["invoices"],
            fields["skip"],
            fields.get("at", 0),
            fields.get("id"),
            fields.get("version"),
            fields.get("windows"),
            tuple((invoice, windows) for invoice, windows in fields.get("then", [])),
        )

    def cursor(self) -> str:
        fields: dict[str, object] = {"invoices": self.invoices, "skip": self.skip, "at": self.at}
        if self.invoice is not None:
            fields["id"] = self.invoice
        if self.version is not None:
            fields["version"] = self.version
        if self.windows is not None:
            fields["windows"] = self.windows
        if self.then:
            fields["then"] = [list(follower) for follower in self.then]
        return encode_cursor(fields)


def followers_within_bound(followers: list[tuple[str, str]]) -> Followers:
    """As many of `followers` (from the first) as the cursor takes."""
    kept: list[tuple[str, str]] = []
    length = 0
    for follower in followers:
        length += len(json.dumps(follower)) + 1
        if length > THEN_MAX_CHARACTERS:
            break
        kept.append(follower)
    return tuple(kept)


def _valid(fields: Any) -> bool:
    if not isinstance(fields, dict) or not {"invoices", "skip"} <= set(fields) <= {
        "invoices", "skip", "at", "id", "version", "windows", "then"
    }:  # fmt: skip
        return False
    named = "id" in fields
    return (
        (fields["invoices"] is None or isinstance(fields["invoices"], str))
        and all(_count(fields.get(name, 0)) for name in ("skip", "at", "version"))
        and fields.get("at", 0) < INVOICES_PER_STEP
        and (not named or _id(fields["id"]))
        # an invoice named with its version, or its windows, or both; neither without the invoice
        and (named == ("version" in fields or "windows" in fields))
        and ("windows" not in fields or _name(fields["windows"]))
        and ("then" not in fields or _followers(fields["then"]))
    )


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < MAX_SKIP


def _id(value: object) -> bool:
    return isinstance(value, str) and len(value) <= MAX_ID_LENGTH


def _name(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_NAME_LENGTH


def _followers(value: object) -> bool:
    return (
        isinstance(value, list)
        and len(value) < INVOICES_PER_STEP
        and all(isinstance(pair, list) and len(pair) == 2 and _id(pair[0]) and _name(pair[1]) for pair in value)
    )


# ("computed", customer, invoice id, version, query) or ("written", customer, invoice id, windows, size)
Key = tuple[str, str, str, int | str, BreakdownQuery | WindowSize]


@dataclass(frozen=True)
class Kept:
    invoice: Invoice  # the version the entries are of (where the customer's list goes on after it)
    entries: list[Breakdown]
    weights: list[int]


class RecentEntries:
    """The entries of the last invoices read, up to RECENT_WEIGHT_MAX: a later page of the same walk
    takes them from here instead of reading the invoice again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[Key, tuple[Kept | StoredWindows, int]] = OrderedDict()
        self._weight = 0

    def get(self, key: Key) -> Kept | StoredWindows | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            self._entries.move_to_end(key)
            return found[0]

    def put(self, key: Key, kept: Kept | StoredWindows) -> None:
        weight = sum(kept.weights)
        with self._lock:
            previous = self._entries.pop(key, None)
            self._weight += weight - (0 if previous is None else previous[1])
            self._entries[key] = (kept, weight)
            while self._weight > RECENT_WEIGHT_MAX and len(self._entries) > 1:  # the newest always stays
                self._weight -= self._entries.popitem(last=False)[1][1]

    def forget(self) -> None:
        with self._lock:
            self._entries.clear()
            self._weight = 0


_RECENT: weakref.WeakKeyDictionary[object, RecentEntries] = weakref.WeakKeyDictionary()
_RECENT_LOCK = threading.Lock()


def recent(store: object) -> RecentEntries:
    """The entries kept for `store` (one per function instance: the composition root's store)."""
    with _RECENT_LOCK:
        found = _RECENT.get(store)
        if found is None:
            found = _RECENT[store] = RecentEntries()
        return found
