"""The clock: the only place that reads the wall clock. Use cases take `Clock` as a dependency."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)
