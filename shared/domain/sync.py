"""Sync status of an invoice with its provider (DESIGN §4 `GET /v1/invoices/{id}/sync`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.providers import BillingProvider
from shared.domain.types import Identifier, Timestamp

SyncStatus = Literal["pending", "synced", "draft", "skipped", "expired", "failed", "voided"]


class SyncAttempt(BaseModel):
    model_config = ConfigDict(frozen=True)

    at: Timestamp
    outcome: str
    detail: str | None = None


class SyncRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    invoice_id: Identifier
    provider: BillingProvider | None
    status: SyncStatus
    reason: str | None = None
    provider_ids: dict[str, Any] = Field(default_factory=dict)
    attempts: list[SyncAttempt] = Field(default_factory=list)
    updated_at: Timestamp
