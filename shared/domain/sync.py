"""Sync status of an invoice with its provider (`GET /v1/invoices/{id}/sync`; docs/api.md).

The status never hides a failure: an invoice whose event or message ended in a dead-letter queue
shows `failed`, the reason, and which queue holds it (`dead_letter_queue`, named as `downbeat dlq
list` prints it: the template's logical id).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.providers import BillingProvider
from shared.domain.types import Identifier, Timestamp

SyncStatus = Literal["pending", "synced", "draft", "skipped", "expired", "failed", "voided"]

DeadLetterQueue = Literal["RouterDLQ", "StripeSyncDLQ"]
ROUTER_DLQ: DeadLetterQueue = "RouterDLQ"  # rejected events (the router writes them), failed router runs
STRIPE_SYNC_DLQ: DeadLetterQueue = "StripeSyncDLQ"  # Stripe sync messages past the queue's maxReceiveCount

REASON_MAX_CHARS = 1000
_WHITESPACE_RUN = re.compile(r"\s+")


def reason_line(text: str, limit: int = REASON_MAX_CHARS) -> str:
    """`text` as one line a person reads in a status or a DLQ listing: every run of whitespace
    (newlines included) becomes one space, and a text over `limit` characters is cut with "…".
    Tracebacks belong in the log line, never here."""
    line = _WHITESPACE_RUN.sub(" ", text).strip()
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


class SyncAttempt(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    at: Timestamp
    outcome: str
    detail: str | None = None


class SyncRecord(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    invoice_id: Identifier
    provider: BillingProvider | None
    status: SyncStatus
    reason: str | None = None
    dead_letter_queue: DeadLetterQueue | None = Field(
        default=None,
        description=(
            "with `status: failed`, the dead-letter queue holding the invoice's event or message, named as"
            " `downbeat dlq list` prints it (`RouterDLQ`: the router rejected the event or could not finish;"
            " `StripeSyncDLQ`: the Stripe sync gave up after its retries); null otherwise"
        ),
    )
    provider_ids: dict[str, Any] = Field(default_factory=dict)
    attempts: list[SyncAttempt] = Field(default_factory=list)
    updated_at: Timestamp
    provider_status: str | None = Field(
        default=None,
        description=(
            "the provider's own status of the invoice as last reported (Stripe: draft, open, paid, uncollectible,"
            " void, payment_failed or deleted, read back from Stripe when its webhook arrives); null until the"
            " provider reports. It never changes `status`"
        ),
    )
    provider_status_at: Timestamp | None = Field(
        default=None, description="when the provider made the newest event applied to `provider_status`"
    )
