"""Timestamps: timezone-aware UTC `datetime` inside, RFC 3339 strings at the edges."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

# RFC 3339 date-time: full date, "T" (or space is NOT accepted), time, optional fraction, offset.
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
ONE_MILLISECOND = timedelta(milliseconds=1)


def parse_rfc3339(text: object) -> datetime:
    """Parse an RFC 3339 timestamp with an explicit offset into an aware UTC datetime."""
    if not isinstance(text, str):
        raise ValueError('must be an RFC 3339 timestamp string such as "2025-03-01T00:00:00Z"')
    if not _RFC3339.match(text):
        raise ValueError(f"{text!r} is not an RFC 3339 timestamp with offset (e.g. 2025-03-01T00:00:00Z)")
    normalized = text.upper()
    fraction = re.search(r"\.(\d+)", normalized)
    if fraction and len(fraction.group(1)) > 6:  # datetime holds microseconds; drop the rest
        normalized = normalized.replace(fraction.group(0), "." + fraction.group(1)[:6])
    try:
        parsed = datetime.fromisoformat(normalized.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a valid date-time: {exc}") from None
    return parsed.astimezone(UTC)


def parse_timestamp_or_date(text: str) -> datetime:
    """Date filters accept a timestamp or a date (midnight UTC)."""
    if _DATE.match(text):
        return datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=UTC)
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
