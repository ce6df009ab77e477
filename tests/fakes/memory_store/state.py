"""The in-memory tables every aggregate mixin shares, under one lock (the fake of `table.py`)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from shared.adapters.dynamodb.table import UnreadableItem, log_unreadable
from shared.domain.alert_transitions import AlertState
from shared.domain.alerts import Alert
from shared.domain.audit import AuditEntry
from shared.domain.commits import Commit
from shared.domain.customers import Contract, Customer
from shared.domain.invoice import Invoice
from shared.domain.ledger import Drawdown, LedgerEntry
from shared.domain.paging import Page, PageRequest, decode_cursor
from shared.domain.products import Product
from shared.domain.registrations import Registration
from shared.domain.stripe_state import StripeSyncState
from shared.domain.sync import SyncRecord
from shared.ports.meter_store import StoredUsageRecord
from tests.fakes.memory_store.pages import page_of

T = TypeVar("T")


@dataclass
class LeaseRecord:
    token: str | None
    until: datetime | None
    attempt: int
    pending_since: datetime | None


class MemoryTables:
    def __init__(self, on_unreadable: UnreadableItem | None = None) -> None:
        self._on_unreadable = on_unreadable or log_unreadable
        # Per list: items no read can map (the fake holds models, so a test plants these), each at
        # its sort position, reported like the table's when a page passes over them.
        self.unreadable: dict[str, list[tuple[list[str], dict[str, str]]]] = {}
        self._lock = threading.RLock()
        self.customers: dict[str, Customer] = {}
        self.contracts: dict[tuple[str, str], Contract] = {}
        self.invoices: dict[str, Invoice] = {}
        self.dispatched: dict[str, int] = {}
        self.syncs: dict[str, SyncRecord] = {}
        self.rejected_only: set[str] = set()  # sync records no accepted version has written yet
        self.outbox: dict[tuple[str, str], dict[str, Any]] = {}
        # (provider, customer, dimension, hour) -> the record
        self.usage_records: dict[tuple[str, str, str, datetime], StoredUsageRecord] = {}
        self.audit_entries: list[AuditEntry] = []
        self.leases: dict[tuple[str, str], LeaseRecord] = {}
        self.stripe_states: dict[str, StripeSyncState] = {}
        self.products: dict[str, Product] = {}
        self.product_batch_reads = 0  # calls of get_products: a page of invoices makes one
        # Commits and credits by (customer, id), their manual entries, and their drawdowns by invoice.
        self.commits: dict[tuple[str, str], Commit] = {}
        self.manual_entries: dict[tuple[str, str], list[LedgerEntry]] = {}
        self.drawdowns: dict[tuple[str, str], dict[str, Drawdown]] = {}
        self.uniqueness_keys: dict[tuple[str, str], str] = {}  # (customer, key) → commit id
        self.recurring_plans: dict[tuple[str, str], str] = {}  # (customer, contract) → its create's plan
        self.stripe_events: dict[str, datetime] = {}  # Stripe event id → when it may be forgotten
        self.provider_status_orders: dict[str, str] = {}  # invoice id → order of its provider_status
        self.alerts: dict[str, Alert] = {}
        self.alert_keys: dict[str, str] = {}  # uniqueness_key → alert id
        self.every_customer_alert_count = 0  # live alerts with no customer_id
        self.every_customer_count_reads = 0
        self.alert_state_items: dict[str, dict[tuple[str, str | None], AlertState]] = {}  # by customer
        self.registrations: dict[str, Registration] = {}
        self.buyer_claims: dict[tuple[str, str], str] = {}  # (partition, claim) → registration id
        self.unmatched_events: dict[tuple[str, str], str] = {}  # (source, event id) → the event
        self.marketplace_operations: dict[tuple[str, str], str] = {}  # (source, operation id) → outcome

    def plant_unreadable(self, list_name: str, position: list[str], key: dict[str, str]) -> None:
        with self._lock:
            self.unreadable.setdefault(list_name, []).append((position, key))

    def _page(
        self,
        name: str,
        ordered: Sequence[T],
        position: Callable[[T], list[str]],
        page: PageRequest,
        weigh: tuple[Callable[[T], int], int] | None = None,
    ) -> Page[T]:
        """`page_of`, reporting each planted unreadable item that sorts within the page's range."""
        result = page_of(name, ordered, position, page, weigh)
        after = _cursor_position(name, page)
        until = position(result.items[-1]) if result.items and result.next_page else None
        for planted, key in self.unreadable.get(name, []):
            if (after is None or planted > after) and (until is None or planted <= until):
                self._on_unreadable(key, "planted by a test")
        return result


def _cursor_position(name: str, page: PageRequest) -> list[str] | None:
    if page.cursor is None:
        return None
    decoded = decode_cursor(page.cursor)
    after = decoded.get("after") if isinstance(decoded, dict) and decoded.get("list") == name else None
    return after if isinstance(after, list) else None
