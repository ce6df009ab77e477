"""Paging over sorted lists, with cursors that name their list (the fake of `pages.py`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from shared.domain.paging import InvalidCursor, Page, PageRequest, decode_cursor, encode_cursor

T = TypeVar("T")


def page_of(
    name: str,
    ordered: Sequence[T],
    position: Callable[[T], list[str]],
    page: PageRequest,
    weigh: tuple[Callable[[T], int], int] | None = None,
) -> Page[T]:
    """`limit` items after the cursor's position; the cursor names its list so others are refused.
    With `weigh` (a weight per item, the most a page may weigh) a page ends before the item that
    would pass it, but always holds one."""
    start = 0
    if page.cursor is not None:
        decoded = decode_cursor(page.cursor)
        if not isinstance(decoded, dict) or decoded.get("list") != name or not isinstance(decoded.get("after"), list):
            raise InvalidCursor("next_page belongs to another list")
        positions = [position(item) for item in ordered]
        start = next((index + 1 for index, key in enumerate(positions) if key == decoded["after"]), -1)
        if start == -1:  # the item is gone: continue after where it would sort
            start = sum(1 for key in positions if key <= decoded["after"])
    items = list(ordered[start : start + page.limit])
    if weigh is not None:
        weight, fits = 0, 0
        for item in items:
            weight += weigh[0](item)
            if fits and weight > weigh[1]:
                break
            fits += 1
        items = items[:fits]
    more = start + len(items) < len(ordered)
    return Page(items, encode_cursor({"list": name, "after": position(items[-1])}) if more else None)
