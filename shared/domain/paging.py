"""Pages of a list (DESIGN §4a): `limit` items at most and an opaque cursor to the next page."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")
DEFAULT_LIMIT = 25
MAX_LIMIT = 100


class InvalidCursor(ValueError):
    """A `next_page` value this list did not hand out (tampered with, or from another list)."""


@dataclass(frozen=True)
class PageRequest:
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_LIMIT:
            raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    next_page: str | None  # None on the last page


def encode_cursor(position: Any) -> str:
    """An opaque cursor: URL-safe base64 of the position's compact JSON, without padding."""
    text = json.dumps(position, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(text.encode("utf-8")).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> Any:
    """The position inside `cursor`; raises InvalidCursor for anything that is not one of ours."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return json.loads(base64.urlsafe_b64decode(padded.encode("ascii")).decode("utf-8"))
    except (binascii.Error, UnicodeError, ValueError, RecursionError):  # RecursionError: "[[[[…" nested deep
        raise InvalidCursor("next_page is not a cursor this list handed out") from None
