"""The Store contract for alerts, run against DynamoDB (moto) and the in-memory fake: audited creates
with account-wide uniqueness keys, archiving, lists (all, and those applying to a customer), alert
states written only from the version read, pending notifications claimed once and cleared, and the
spend markers that follow an invoice's versions."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from shared.domain.alert_transitions import AlertState
from shared.domain.alerts import SpendInvoice
from shared.domain.audit import AuditQuery
from shared.domain.invoice import InvoiceEvent
from shared.domain.paging import PageRequest
from shared.ports.store import AlreadyExists, Store, UniquenessKeyTaken
from shared.services.alert_evaluation import read_all
from tests.alert_world import alert, audit
from tests.builders import customer, invoice_event
from tests.integration.test_store_contract import store

__all__ = ["store"]  # the fixture: both stores
NOW = datetime(2025, 3, 15, tzinfo=UTC)


def test_an_alert_is_created_with_its_audit_entry_and_its_key_claimed_account_wide(store: Store) -> None:
    first = alert("alert_1").model_copy(update={"uniqueness_key": "gold-10k"})
    store.create_alert_audited(first, audit("alerts.create", "alert_1"))
    assert store.get_alert("alert_1") == first
    assert store.get_alert("alert_none") is None
    second = alert("alert_2", customer_id="cust_other").model_copy(update={"uniqueness_key": "gold-10k"})
    with pytest.raises(UniquenessKeyTaken):
        store.create_alert_audited(second, audit("alerts.create", "alert_2"))
    assert store.get_alert("alert_2") is None
    with pytest.raises(AlreadyExists):
        store.create_alert_audited(alert("alert_1"), audit("alerts.create", "alert_1"))
    logged = store.list_audit_entries(AuditQuery(resource_type="alert"), PageRequest(100))
    assert [entry.resource_id for entry in logged.items] == ["alert_1"]


def test_archiving_sets_archived_at_once_and_lists_keep_only_applying_alerts(store: Store) -> None:
    for customer_id in ("cust_acme", "cust_other"):  # an alert names an existing customer (the API checks)
        store.create_customer(customer(customer_id))
    for number, owner in enumerate((None, "cust_acme", "cust_other", None)):
        created = alert(f"alert_{number}", customer_id=owner, created_at=NOW + timedelta(seconds=number))
        store.create_alert_audited(created, audit("alerts.create", created.id))
    archived = store.archive_alert_audited("alert_3", NOW, audit("alerts.archive", "alert_3"))
    assert archived is not None
    assert archived.archived_at == NOW
    again = store.archive_alert_audited("alert_3", NOW + timedelta(days=1), audit("alerts.archive", "alert_3"))
    assert again is not None
    assert again.archived_at == NOW
    assert store.archive_alert_audited("alert_none", NOW, audit("alerts.archive", "alert_none")) is None
    assert [a.id for a in read_all(store.list_alerts)] == ["alert_0", "alert_1", "alert_2", "alert_3"]
    applying = read_all(lambda page: store.list_alerts(PageRequest(1, page.cursor), applying_to="cust_acme"))
    assert [a.id for a in applying] == ["alert_0", "alert_1"]
    # The live alerts are counted where the router reads them: archiving twice counts once.
    acme = store.get_customer("cust_acme")
    assert acme is not None
    assert (acme.alert_count, store.count_alerts_for_every_customer()) == (1, 1)


def state(version: int, contract_id: str | None = None, **fields: Any) -> AlertState:
    return AlertState("alert_1", "cust_acme", contract_id, fields.pop("status", "ok"), version, NOW, **fields)


def test_a_state_is_written_only_from_the_version_read(store: Store) -> None:
    store.create_customer(customer("cust_acme"))
    assert store.write_alert_state(state(1), 0)
    assert not store.write_alert_state(state(1, status="in_alarm"), 0)  # another run wrote first
    assert store.write_alert_state(state(2, status="in_alarm", pending='{"id":"n"}', pending_since=NOW), 1)
    assert not store.write_alert_state(state(2), 1)
    assert store.write_alert_state(state(1, "con_1", status="in_alarm"), 0)  # a contract's own state
    states = sorted(store.alert_states("cust_acme"), key=lambda found: found.contract_id or "")
    assert states == [
        state(2, status="in_alarm", pending='{"id":"n"}', pending_since=NOW),
        state(1, "con_1", status="in_alarm"),
    ]
    assert store.alert_states("cust_other") == []


def test_a_pending_notification_is_claimed_by_one_run_and_cleared_from_its_version_only(store: Store) -> None:
    pending = state(2, status="in_alarm", pending='{"id":"n"}', pending_since=NOW)
    store.write_alert_state(state(1), 0)
    store.write_alert_state(pending, 1)
    later = NOW + timedelta(minutes=6)
    assert store.claim_pending(pending, later)
    assert not store.claim_pending(pending, later)  # its pending_since moved: a second run loses
    store.clear_pending(state(1))  # an older version: nothing cleared
    [kept] = store.alert_states("cust_acme")
    assert (kept.pending, kept.pending_since) == ('{"id":"n"}', later)
    store.clear_pending(replace(pending, pending_since=later))
    [cleared] = store.alert_states("cust_acme")
    assert (cleared.pending, cleared.pending_since, cleared.version) == (None, None, 2)
    assert not store.claim_pending(replace(pending, pending_since=later), later)


def save(store: Store, **overrides: Any) -> None:
    fields: dict[str, Any] = {
        "contract_id": "con_1",
        "applied_credits": [],
        "start_timestamp": "2025-03-01T00:00:00Z",
        "end_timestamp": "2025-04-01T00:00:00Z",
        "subtotal": "104.10",
        "total": "104.10",
    }
    store.save_invoice(InvoiceEvent.model_validate(invoice_event(**(fields | overrides))).detail, NOW)


def test_spend_invoices_follow_the_latest_version_and_read_current_periods_only(store: Store) -> None:
    store.create_customer(customer("cust_acme"))
    save(store, id="inv_feb", start_timestamp="2025-02-01T00:00:00Z", end_timestamp="2025-03-01T00:00:00Z")
    save(store, id="inv_mar", status="DRAFT", version=1)
    save(store, id="inv_scheduled", type="SCHEDULED")
    save(store, id="inv_no_contract", contract_id=None)
    assert store.spend_invoices("cust_acme", NOW) == [
        SpendInvoice(
            "inv_mar",
            "con_1",
            "USD",
            datetime(2025, 3, 1, tzinfo=UTC),
            datetime(2025, 4, 1, tzinfo=UTC),
            datetime(2025, 3, 1, 0, 4, 10, tzinfo=UTC),
            Decimal("104.10"),
        )
    ]
    save(store, id="inv_mar", version=2, subtotal="150.00", end_timestamp="2025-03-20T00:00:00Z")
    [moved] = store.spend_invoices("cust_acme", NOW)
    assert (moved.subtotal, moved.end_timestamp) == (Decimal("150.00"), datetime(2025, 3, 20, tzinfo=UTC))
    assert store.spend_invoices("cust_acme", datetime(2025, 3, 20, tzinfo=UTC)) == []  # the end is exclusive
    save(store, id="inv_mar", version=3, status="VOID", end_timestamp="2025-03-20T00:00:00Z")
    assert store.spend_invoices("cust_acme", NOW) == []
    assert store.spend_invoices("cust_other", NOW) == []
