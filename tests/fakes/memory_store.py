"""An in-memory Store: the same port as DynamoDBStore, for fast use-case tests.

tests/integration/test_store_contract.py runs one suite against both, so the two cannot drift.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from shared.domain.audit import AuditEntry, AuditQuery
from shared.domain.customers import Contract, Customer
from shared.domain.invoice import Invoice
from shared.domain.invoice_listing import InvoiceQuery
from shared.domain.paging import InvalidCursor, Page, PageRequest, decode_cursor, encode_cursor
from shared.domain.providers import BillingProvider
from shared.domain.stripe_state import StripeSyncState, SyncLeaseLost
from shared.domain.sync import SyncAttempt, SyncRecord, SyncStatus
from shared.domain.timestamps import format_timestamp
from shared.ports import AlreadyExists, ConfigurationsChange, InvoiceWrite, InvoiceWriteOutcome, MeterOutboxEntry

T = TypeVar("T")


class InMemoryStore:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.customers: dict[str, Customer] = {}
        self.contracts: dict[tuple[str, str], Contract] = {}
        self.invoices: dict[str, Invoice] = {}
        self.dispatched: dict[str, int] = {}
        self.syncs: dict[str, SyncRecord] = {}
        self.outbox: dict[tuple[str, str], dict[str, Any]] = {}
        self.audit_entries: list[AuditEntry] = []  # API (issue #10)

    def create_customer(self, customer: Customer) -> None:
        with self._lock:
            if customer.id in self.customers:
                raise AlreadyExists(customer.id)
            self.customers[customer.id] = customer

    def get_customer(self, customer_id: str) -> Customer | None:
        return self.customers.get(customer_id)

    def create_contract(self, contract: Contract) -> None:
        with self._lock:
            key = (contract.customer_id, contract.id)
            if key in self.contracts:
                raise AlreadyExists(contract.id)
            self.contracts[key] = contract

    def get_contract(self, customer_id: str, contract_id: str) -> Contract | None:
        return self.contracts.get((customer_id, contract_id))

    def save_invoice(self, invoice: Invoice, received_at: datetime) -> InvoiceWrite:
        with self._lock:
            previous = self.invoices.get(invoice.id)
            dispatched = self.dispatched.get(invoice.id)
            if previous is not None and invoice.version <= previous.version:
                same = invoice.version == previous.version
                outcome = InvoiceWriteOutcome.DUPLICATE if same else InvoiceWriteOutcome.STALE
                return InvoiceWrite(outcome, previous.version, dispatched)
            self.invoices[invoice.id] = invoice
            self._adjust_lifetime(previous, -1)
            self._adjust_lifetime(invoice, 1)
            outcome = InvoiceWriteOutcome.CREATED if previous is None else InvoiceWriteOutcome.UPDATED
            return InvoiceWrite(outcome, invoice.version, dispatched)

    def _adjust_lifetime(self, invoice: Invoice | None, sign: int) -> None:
        if invoice is None or invoice.status != "FINALIZED":
            return
        customer = self.customers[invoice.customer_id]
        billings = dict(customer.lifetime_billings)
        billings[invoice.currency] = billings.get(invoice.currency, Decimal(0)) + sign * invoice.total
        self.customers[customer.id] = customer.model_copy(update={"lifetime_billings": billings})

    def get_invoice(self, invoice_id: str) -> Invoice | None:
        return self.invoices.get(invoice_id)

    def mark_dispatched(self, invoice_id: str, version: int) -> None:
        with self._lock:
            if invoice_id in self.invoices and self.dispatched.get(invoice_id, -1) < version:
                self.dispatched[invoice_id] = version

    def record_sync(
        self,
        invoice_id: str,
        *,
        provider: BillingProvider | None,
        status: SyncStatus,
        reason: str | None,
        attempt: SyncAttempt,
        provider_ids: Mapping[str, Any] | None = None,
    ) -> None:
        with self._lock:
            current = self.syncs.get(invoice_id)
            kept_ids = current.provider_ids if current else {}
            self.syncs[invoice_id] = SyncRecord(
                invoice_id=invoice_id,
                provider=provider,
                status=status,
                reason=reason,
                provider_ids=dict(provider_ids) if provider_ids is not None else kept_ids,
                attempts=[*(current.attempts if current else []), attempt],
                updated_at=attempt.at,
            )

    def get_sync(self, invoice_id: str) -> SyncRecord | None:
        return self.syncs.get(invoice_id)

    def upsert_meter_outbox(self, entry: MeterOutboxEntry) -> None:
        with self._lock:
            key = (entry.invoice_id, entry.provider)
            current = self.outbox.get(key)
            if current is not None and current["invoice_version"] >= entry.invoice_version:
                return
            self.outbox[key] = {
                "customer_id": entry.customer_id,
                "currency": entry.currency,
                "invoice_version": entry.invoice_version,
                "invoice_status": entry.invoice_status,
                "target_amount": entry.target_amount,
                "metered_amount": current["metered_amount"] if current else Decimal(0),
            }

    # ==== API (issue #10): audited writes, list pages, the audit log ==========================
    def create_customer_audited(self, customer: Customer, audit: AuditEntry) -> None:
        with self._lock:
            self.create_customer(customer)
            self.audit_entries.append(audit)

    def update_provider_configurations(
        self, customer_id: str, change: ConfigurationsChange, audit: AuditEntry
    ) -> Customer | None:
        with self._lock:
            current = self.customers.get(customer_id)
            if current is None:
                return None
            updated = current.model_copy(update={"billing_provider_configurations": change(current)})
            self.customers[customer_id] = updated
            self.audit_entries.append(audit)
            return updated

    def create_contract_audited(self, contract: Contract, audit: AuditEntry) -> None:
        with self._lock:
            self.create_contract(contract)
            self.audit_entries.append(audit)

    def record_audit(self, entry: AuditEntry) -> None:
        with self._lock:
            self.audit_entries.append(entry)

    def list_customers(self, page: PageRequest) -> Page[Customer]:
        with self._lock:
            ordered = sorted(self.customers.values(), key=lambda c: (format_timestamp(c.created_at), c.id))
        return _page("customers", ordered, lambda c: [format_timestamp(c.created_at), c.id], page)

    def list_contracts(self, customer_id: str, page: PageRequest) -> Page[Contract]:
        with self._lock:
            ordered = sorted((c for c in self.contracts.values() if c.customer_id == customer_id), key=lambda c: c.id)
        return _page(f"contracts:{customer_id}", ordered, lambda c: [c.id], page)

    def list_invoices(self, customer_id: str, query: InvoiceQuery, page: PageRequest) -> Page[Invoice]:
        with self._lock:
            matching = [i for i in self.invoices.values() if i.customer_id == customer_id and query.matches(i)]
        ordered = sorted(matching, key=lambda i: (i.start_timestamp, i.id))
        return _page(f"invoices:{customer_id}", ordered, lambda i: [i.start_timestamp.isoformat(), i.id], page)

    def list_audit_entries(self, query: AuditQuery, page: PageRequest) -> Page[AuditEntry]:
        with self._lock:
            matching = [entry for entry in self.audit_entries if query.matches(entry)]
        ordered = sorted(matching, key=lambda entry: entry.sort_key, reverse=True)
        return _page("audit", ordered, lambda entry: [entry.sort_key], page)

    # ==== end API section =====================================================================
    # ==== Stripe sync section (owner: Stripe sync, issue #4) ===================================
    @property
    def stripe_states(self) -> dict[str, StripeSyncState]:
        states: dict[str, StripeSyncState] | None = self.__dict__.get("_stripe_states")
        if states is None:
            states = self.__dict__["_stripe_states"] = {}
        return states

    def claim_stripe_sync(
        self, invoice_id: str, *, now: datetime, lease_until: datetime, token: str
    ) -> StripeSyncState | None:
        with self._lock:
            current = self.stripe_states.get(invoice_id) or StripeSyncState(invoice_id=invoice_id)
            if current.lease_until is not None and current.lease_until >= now:
                return None
            claimed = replace(
                current,
                attempt=current.attempt + 1,
                lease_token=token,
                lease_until=lease_until,
                pending_since=current.pending_since or now,
                updated_at=now,
            )
            self.stripe_states[invoice_id] = claimed
            return claimed

    def save_stripe_sync(self, state: StripeSyncState, *, token: str) -> None:
        with self._lock:
            current = self.stripe_states.get(state.invoice_id)
            if current is None or current.lease_token != token:
                raise SyncLeaseLost(f"invoice {state.invoice_id}: the Stripe sync lease was taken over")
            pending = None if state.settled else (state.pending_since or current.pending_since)
            self.stripe_states[state.invoice_id] = replace(state, pending_since=pending)

    def get_stripe_sync(self, invoice_id: str) -> StripeSyncState | None:
        return self.stripe_states.get(invoice_id)

    def oldest_unsynced_stripe(self) -> datetime | None:
        pending = [state.pending_since for state in self.stripe_states.values() if state.pending_since is not None]
        return min(pending, default=None)

    # ==== end Stripe sync section ===============================================================


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


# ==== API (issue #10): paging over sorted lists ==================================================
def _page(name: str, ordered: Sequence[T], position: Callable[[T], list[str]], page: PageRequest) -> Page[T]:
    """`limit` items after the cursor's position; the cursor names its list so others are refused."""
    start = 0
    if page.cursor is not None:
        decoded = decode_cursor(page.cursor)
        if not isinstance(decoded, dict) or decoded.get("list") != name or not isinstance(decoded.get("after"), list):
            raise InvalidCursor("next_page belongs to another list")
        positions = [position(item) for item in ordered]
        start = next((index + 1 for index, key in enumerate(positions) if key == decoded["after"]), -1)
        if start == -1:  # the item is gone: continue after where it would sort
            start = sum(1 for key in positions if key <= decoded["after"])
    items = list(ordered[start : start + page.limit])
    more = start + page.limit < len(ordered)
    return Page(items, encode_cursor({"list": name, "after": position(items[-1])}) if more else None)


# ==== end API section ============================================================================
