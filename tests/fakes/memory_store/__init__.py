"""An in-memory Store: the same ports as `shared.adapters.dynamodb.DynamoDBStore`, split the same
way (one module per aggregate), for fast use-case tests.

tests/integration/test_store_contract.py runs one suite against both, so the two cannot drift.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tests.fakes.memory_store.alerts import MemoryAlerts
from tests.fakes.memory_store.audit import MemoryAudit
from tests.fakes.memory_store.commits import MemoryCommits
from tests.fakes.memory_store.contract_end_dates import MemoryContractEndDates
from tests.fakes.memory_store.customers import MemoryCustomers
from tests.fakes.memory_store.invoices import MemoryInvoices
from tests.fakes.memory_store.leases import MemoryLeases
from tests.fakes.memory_store.outbox import MemoryOutbox
from tests.fakes.memory_store.products import MemoryProducts
from tests.fakes.memory_store.registrations import MemoryRegistrations
from tests.fakes.memory_store.stripe_events import MemoryStripeEvents
from tests.fakes.memory_store.sync_records import MemorySyncRecords

__all__ = ["InMemoryStore", "RecordingQueue"]


class InMemoryStore(
    MemoryCustomers,
    MemoryInvoices,
    MemoryCommits,
    MemorySyncRecords,
    MemoryOutbox,
    MemoryAudit,
    MemoryLeases,
    MemoryProducts,
    MemoryContractEndDates,
    MemoryStripeEvents,
    MemoryAlerts,
    MemoryRegistrations,
):
    """Every access pattern of the table, in dictionaries under one lock."""


class RecordingQueue:
    """A MessageQueue that keeps what was sent."""

    def __init__(self) -> None:
        self.messages: list[tuple[dict[str, Any], dict[str, str]]] = []

    def send(self, body: Mapping[str, Any], attributes: Mapping[str, str] | None = None) -> str:
        self.messages.append((dict(body), dict(attributes or {})))
        return f"msg-{len(self.messages)}"

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [body for body, _ in self.messages]
