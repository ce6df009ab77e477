"""Outbound alert webhooks: the signature, the `Date` header, and when to try again (docs/webhooks.md).

Pure rules, no I/O. The body is never rebuilt: it is the queued message's bytes, POSTed as they
are, so the `id` and every byte a receiver verifies are the same on every attempt. What changes per
attempt is the `Date` and therefore the signature.

Retries are spaced by the time since the first attempt, not by how often SQS has delivered the
message: an attempt that fails `elapsed` seconds after the first waits `elapsed + 60` seconds
(at most an hour). With attempts at 0, 60, 180, 420… that is the doubling schedule 60, 120, 240…
exactly, and a receive that was not an attempt (a crashed invocation, a message handed back
unattempted) cannot make the waits grow faster than the schedule.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

from shared.domain.types import MAX_ID_LENGTH

SIGNATURE_HEADER = "Downbeat-Webhook-Signature"
FIRST_RETRY_SECONDS = 60
MAX_RETRY_SECONDS = 3600
RETRY_WINDOW = timedelta(hours=72)
TYPE_MAX_CHARS = 128


def imf_fixdate(moment: datetime) -> str:
    """RFC 7231's IMF-fixdate: `Tue, 25 Nov 2025 14:00:00 GMT` (English names, whole seconds, GMT)."""
    return format_datetime(moment.astimezone(UTC).replace(microsecond=0), usegmt=True)


def signature(secret: str, date: str, body: bytes) -> str:
    """Lowercase hex HMAC-SHA256, keyed with the secret's UTF-8 bytes, of `Date + "\\n" + body`."""
    return hmac.new(secret.encode("utf-8"), date.encode("ascii") + b"\n" + body, hashlib.sha256).hexdigest()


def signed_headers(secret: str, body: bytes, now: datetime) -> dict[str, str]:
    """The headers of one attempt: a fresh `Date` and the signature made with it."""
    date = imf_fixdate(now)
    return {"Content-Type": "application/json", "Date": date, SIGNATURE_HEADER: signature(secret, date, body)}


def retry_delay(elapsed: timedelta) -> int:
    """Seconds to wait after an attempt that failed `elapsed` after the first: 60, 120, 240… ≤ 3600."""
    seconds = max(0, int(elapsed.total_seconds()))
    return min(MAX_RETRY_SECONDS, seconds + FIRST_RETRY_SECONDS)


def retry_schedule(attempts: int) -> list[int]:
    """The waits between the first `attempts + 1` attempts when every attempt happens on time."""
    waits: list[int] = []
    elapsed = 0
    for _ in range(attempts):
        waits.append(retry_delay(timedelta(seconds=elapsed)))
        elapsed += waits[-1]
    return waits


@dataclass(frozen=True)
class Retry:
    delay_seconds: int


@dataclass(frozen=True)
class GiveUp:
    reason: str


def after_failure(first_attempt: datetime, now: datetime, failure: str) -> Retry | GiveUp:
    """What follows a failed attempt: the next one, or the DLQ once 72 hours have passed.

    The last wait is cut short so that an attempt is made at the 72-hour mark itself."""
    elapsed = now - first_attempt
    left = RETRY_WINDOW - elapsed
    if left <= timedelta(0):
        hours = int(RETRY_WINDOW.total_seconds() // 3600)
        return GiveUp(f"not delivered within {hours} hours of the first attempt; last attempt: {failure}")
    return Retry(max(1, min(retry_delay(elapsed), int(left.total_seconds()))))


@dataclass(frozen=True)
class Notification:
    """What the sender needs to know of a queued body: its `id` and `type`, for logs and the DLQ."""

    id: str
    type: str


class UnreadableNotification(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def read_notification(body: str) -> Notification:
    """The `id` and `type` of a webhook body `{"id", "type", "properties": {…}}`, or which field is wrong."""
    try:
        parsed: Any = json.loads(body)
    except ValueError:
        raise UnreadableNotification("body", "is not JSON") from None
    if not isinstance(parsed, dict):
        raise UnreadableNotification("body", "must be a JSON object")
    for name, limit in (("id", MAX_ID_LENGTH), ("type", TYPE_MAX_CHARS)):
        value = parsed.get(name)
        if not isinstance(value, str) or not value.strip():
            raise UnreadableNotification(name, "must be a non-empty string")
        if len(value) > limit or not value.isprintable():
            raise UnreadableNotification(name, f"must be at most {limit} printable characters")
    if not isinstance(parsed.get("properties"), dict):
        raise UnreadableNotification("properties", "must be a JSON object")
    return Notification(id=parsed["id"], type=parsed["type"])
