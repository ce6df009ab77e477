"""Timestamps: timezone-aware UTC `datetime` inside, RFC 3339 strings at the edges."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from shared.domain.validation import shown

# RFC 3339 date-time: full date, "T" (or space is NOT accepted), time, optional fraction, offset.
# ASCII digits only (Python's \d is any Unicode digit), matched to the very end (no trailing newline).
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
ONE_MILLISECOND = timedelta(milliseconds=1)

# Every timestamp downbeat accepts lies in this range once in UTC (inclusive). The floor keeps
# years four digits wide (text order is time order in sort keys); the ceiling leaves a day of room
# so that arithmetic on an accepted timestamp (a window's end, an end minus 1 ms) never overflows.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, tzinfo=UTC)
RANGE_TEXT = "between 1970-01-01T00:00:00Z and 9999-12-30T00:00:00Z (UTC)"


def in_range(moment: datetime) -> datetime:
    """`moment` (aware) in UTC, or ValueError when it lies outside EARLIEST..LATEST."""
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-05:00 is in year 10000 once in UTC
        raise ValueError(f"must be {RANGE_TEXT}") from None
    if not EARLIEST <= utc <= LATEST:
        raise ValueError(f"must be {RANGE_TEXT}")
    return utc


def parse_rfc3339(text: object) -> datetime:
    """Parse an RFC 3339 timestamp with an explicit offset into an aware UTC datetime."""
    if not isinstance(text, str):
        raise ValueError('must be an RFC 3339 timestamp string such as "2025-03-01T00:00:00Z"')
    if not _RFC3339.fullmatch(text):
        raise ValueError(f"{shown(text)} is not an RFC 3339 timestamp with offset (e.g. 2025-03-01T00:00:00Z)")
    normalized = text.upper()
    fraction = re.search(r"\.(\d+)", normalized)
    if fraction and len(fraction.group(1)) > 6:  # datetime holds microseconds; drop the rest
        normalized = normalized.replace(fraction.group(0), "." + fraction.group(1)[:6])
    try:
        parsed = datetime.fromisoformat(normalized.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"{shown(text)} is not a valid date-time: {exc}") from None
    return in_range(parsed)


def parse_timestamp_or_date(text: str) -> datetime:
    """Date filters accept a timestamp or a date (midnight UTC), in the same range as timestamps."""
    if _DATE.fullmatch(text):
        try:
            day = date.fromisoformat(text)
        except ValueError as exc:
            raise ValueError(f"{shown(text)} is not a valid date: {exc}") from None
        return in_range(datetime.combine(day, datetime.min.time(), tzinfo=UTC))
    return parse_rfc3339(text)


def format_timestamp(moment: datetime) -> str:
    """The API's format, `YYYY-MM-DDTHH:MM:SSZ` (DESIGN §4a): fixed width, so it sorts as text."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_precise_timestamp(moment: datetime) -> str:
    """RFC 3339 keeping any fraction of a second: what storage uses, so nothing upstream sent is lost."""
    utc = moment.astimezone(UTC)
    if utc.microsecond:
        fraction = f"{utc.microsecond:06d}".rstrip("0")
        return utc.strftime("%Y-%m-%dT%H:%M:%S.") + fraction + "Z"
    return format_timestamp(utc)


def sortable_timestamp(moment: datetime) -> str:
    """Fixed-width UTC text with microseconds always present, so text order is time order (sort keys)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_sortable_timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def last_service_date(end_exclusive: datetime) -> date:
    """The UTC calendar date of the last moment of a period whose end is exclusive."""
    return (end_exclusive.astimezone(UTC) - ONE_MILLISECOND).date()
