"""Alerts and their states in memory (the fake of `shared/adapters/dynamodb/alerts.py`)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from shared.domain.alert_transitions import AlertState
from shared.domain.alerts import Alert, SpendInvoice
from shared.domain.audit import AuditEntry
from shared.domain.paging import Page, PageRequest
from shared.domain.timestamps import format_timestamp
from shared.ports.store import AlreadyExists, UniquenessKeyTaken
from tests.fakes.memory_store.state import MemoryTables


class MemoryAlerts(MemoryTables):
    def create_alert_audited(self, alert: Alert, audit: AuditEntry) -> None:
        with self._lock:
            if alert.id in self.alerts:
                raise AlreadyExists(alert.id)
            if alert.uniqueness_key is not None:
                if alert.uniqueness_key in self.alert_keys:
                    raise UniquenessKeyTaken(alert.uniqueness_key)
                self.alert_keys[alert.uniqueness_key] = alert.id
            self.alerts[alert.id] = alert
            self._count_alert(alert, 1)
            self.audit_entries.append(audit)

    def get_alert(self, alert_id: str) -> Alert | None:
        return self.alerts.get(alert_id)

    def archive_alert_audited(self, alert_id: str, at: datetime, audit: AuditEntry) -> Alert | None:
        with self._lock:
            alert = self.alerts.get(alert_id)
            if alert is None:
                return None
            if alert.archived_at is None:
                alert = alert.model_copy(update={"archived_at": at})
                self.alerts[alert_id] = alert
                self._count_alert(alert, -1)
            self.audit_entries.append(audit)
            return alert

    def count_alerts_for_every_customer(self) -> int:
        self.every_customer_count_reads += 1
        return self.every_customer_alert_count

    def _count_alert(self, alert: Alert, change: int) -> None:
        if alert.customer_id is None:
            self.every_customer_alert_count += change
            return
        counted = self.customers.get(alert.customer_id)
        if counted is not None:  # the API checks that it exists; some scenarios never create it
            self.customers[alert.customer_id] = counted.model_copy(update={"alert_count": counted.alert_count + change})

    def list_alerts(self, page: PageRequest, applying_to: str | None = None) -> Page[Alert]:
        with self._lock:
            ordered = sorted(
                (a for a in self.alerts.values() if applying_to is None or a.applies_to(applying_to)),
                key=lambda a: (format_timestamp(a.created_at), a.id),
            )
        return self._page("alerts", ordered, lambda a: [format_timestamp(a.created_at), a.id], page)

    def alert_states(self, customer_id: str) -> list[AlertState]:
        with self._lock:
            return list(self.alert_state_items.get(customer_id, {}).values())

    def spend_invoices(self, customer_id: str, now: datetime) -> list[SpendInvoice]:
        with self._lock:
            invoices = [invoice for invoice in self.invoices.values() if invoice.customer_id == customer_id]
        return [
            SpendInvoice(
                invoice.id,
                invoice.contract_id,
                invoice.currency,
                invoice.start_timestamp,
                invoice.end_timestamp,
                invoice.issued_at,
                invoice.subtotal,
            )
            for invoice in invoices
            if invoice.type == "USAGE"
            and invoice.status != "VOID"
            and invoice.contract_id is not None
            and invoice.end_timestamp > now
        ]

    def write_alert_state(self, state: AlertState, expected_version: int) -> bool:
        with self._lock:
            states = self.alert_state_items.setdefault(state.customer_id, {})
            current = states.get((state.alert_id, state.contract_id))
            if (current.version if current is not None else 0) != expected_version:
                return False
            states[(state.alert_id, state.contract_id)] = state
            return True

    def claim_pending(self, state: AlertState, at: datetime) -> bool:
        with self._lock:
            states = self.alert_state_items.get(state.customer_id, {})
            current = states.get((state.alert_id, state.contract_id))
            if (
                current is None
                or current.version != state.version
                or current.pending is None
                or current.pending_since != state.pending_since
            ):
                return False
            states[(state.alert_id, state.contract_id)] = replace(current, pending_since=at)
            return True

    def clear_pending(self, state: AlertState) -> None:
        with self._lock:
            states = self.alert_state_items.get(state.customer_id, {})
            current = states.get((state.alert_id, state.contract_id))
            if current is not None and current.version == state.version:
                states[(state.alert_id, state.contract_id)] = replace(current, pending=None, pending_since=None)
