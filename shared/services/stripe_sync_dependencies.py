"""What the Stripe worker is given and what it answers: the queue message, its dependencies, the result."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.stripe_plan import ADD_LINES_MAX_PER_CALL
from shared.domain.sync import SyncStatus
from shared.domain.types import Identifier
from shared.ports.errors import RetryableError
from shared.ports.leases import WorkerLeases
from shared.ports.store import StripeSyncStore
from shared.ports.stripe import StripeInvoices


class StripeSyncMessage(BaseModel):
    """What the router puts on the Stripe queue."""

    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    invoice_id: Identifier
    version: int = Field(ge=0)
    action: Literal["sync", "void"] = "sync"


@dataclass(frozen=True)
class Delivery:
    """Which receive of its message a run is: SQS moves a message to the Stripe sync DLQ once it
    has been received `max_receives` times (the queue's maxReceiveCount) without being deleted."""

    receive_count: int = 1
    max_receives: int | None = None  # None: not known, so no receive counts as the last

    @property
    def is_last(self) -> bool:
        return self.max_receives is not None and self.receive_count >= self.max_receives


class StripeWorkerStore(StripeSyncStore, WorkerLeases, Protocol):
    """The table as the Stripe worker sees it: its reads and writes, and the invoice's lease."""


@dataclass
class StripeSyncDependencies:
    store: StripeWorkerStore
    stripe: StripeInvoices
    clock: Callable[[], datetime]
    sleep: Callable[[float], None] = time.sleep
    jitter: Callable[[], float] = random.random  # in [0, 1)
    lease: timedelta = timedelta(minutes=2)  # > the function timeout (60 s); < the visibility timeout
    max_rounds: int = 3  # observe → act rounds within one run
    rate_limit_wait_seconds: float = 4.0  # total back-off for 429 rate_limit / 409 within one run
    bulk_lines: bool = True  # add_lines; False: one invoice item per line (`invoice=`)
    add_lines_cap: int = ADD_LINES_MAX_PER_CALL
    max_receives: int | None = None  # the Stripe queue's maxReceiveCount (STRIPE_SYNC_MAX_RECEIVES)


@dataclass(frozen=True)
class StripeSyncResult:
    invoice_id: str
    status: SyncStatus
    reason: str
    stripe_invoice_id: str | None = None
    failure_code: str | None = None  # a metric dimension: total_mismatch, resource_missing…
    calls: int = 0  # Stripe calls in this run
    total_calls: int = 0  # Stripe calls for this invoice over all runs
    attempt: int = 0


class SyncBusy(RetryableError):
    """Another run holds this invoice's lease."""
