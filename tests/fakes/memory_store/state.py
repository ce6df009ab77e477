"""The in-memory tables every aggregate mixin shares, under one lock (the fake of `table.py`)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.domain.audit import AuditEntry
from shared.domain.customers import Contract, Customer
from shared.domain.invoice import Invoice
from shared.domain.stripe_state import StripeSyncState
from shared.domain.sync import SyncRecord


@dataclass
class LeaseRecord:
    token: str | None
    until: datetime | None
    attempt: int
    pending_since: datetime | None


class MemoryTables:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.customers: dict[str, Customer] = {}
        self.contracts: dict[tuple[str, str], Contract] = {}
        self.invoices: dict[str, Invoice] = {}
        self.dispatched: dict[str, int] = {}
        self.syncs: dict[str, SyncRecord] = {}
        self.rejected_only: set[str] = set()  # sync records no accepted version has written yet
        self.outbox: dict[tuple[str, str], dict[str, Any]] = {}
        self.audit_entries: list[AuditEntry] = []
        self.leases: dict[tuple[str, str], LeaseRecord] = {}
        self.stripe_states: dict[str, StripeSyncState] = {}
