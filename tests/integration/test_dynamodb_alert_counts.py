"""The alert counts the router reads, on moto: a customer's own live alerts on its item, the alerts
for every customer on the account's item, each kept in the alert's create and archive transaction
(so no later write of the customer loses it); and a state's `triggered_by` as stored."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from shared.adapters.dynamodb import DynamoDBStore
from shared.domain.alert_transitions import AlertState
from shared.domain.invoice import InvoiceEvent
from shared.domain.paging import PageRequest
from tests.alert_world import alert, audit
from tests.builders import STRIPE, configuration, customer, invoice_event
from tests.conftest import TABLE_NAME

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

NOW = datetime(2025, 3, 1, tzinfo=UTC)


def count_of(store: DynamoDBStore, customer_id: str) -> int:
    found = store.get_customer(customer_id)
    assert found is not None
    return found.alert_count


def test_creates_and_archives_count_live_alerts_where_the_router_reads_them(dynamodb: DynamoDBClient) -> None:
    store = DynamoDBStore(dynamodb, TABLE_NAME)
    store.create_customer(customer("cust_acme"))
    store.create_customer(customer("cust_other"))
    assert (count_of(store, "cust_acme"), store.count_alerts_for_every_customer()) == (0, 0)
    for alert_id, customer_id in (("a1", "cust_acme"), ("a2", "cust_acme"), ("a3", None), ("a4", None)):
        store.create_alert_audited(alert(alert_id, customer_id=customer_id), audit("alerts.create", alert_id))
    assert (count_of(store, "cust_acme"), count_of(store, "cust_other")) == (2, 0)
    assert store.count_alerts_for_every_customer() == 2
    for alert_id in ("a1", "a1", "a3"):  # archiving twice counts once
        store.archive_alert_audited(alert_id, NOW, audit("alerts.archive", alert_id))
    assert (count_of(store, "cust_acme"), store.count_alerts_for_every_customer()) == (1, 1)


def test_the_count_survives_the_customers_other_writes(dynamodb: DynamoDBClient) -> None:
    store = DynamoDBStore(dynamodb, TABLE_NAME)
    store.create_customer(customer("cust_acme"))
    store.create_alert_audited(alert("a1", customer_id="cust_acme"), audit("alerts.create", "a1"))
    store.update_provider_configurations(
        "cust_acme",
        lambda current: [configuration(STRIPE, default=True)],
        audit("billingProviderConfigurations.set", "c"),
    )
    store.save_invoice(InvoiceEvent.model_validate(invoice_event(applied_credits=[])).detail, NOW)  # lifetime billings
    found = store.get_customer("cust_acme")
    assert found is not None
    assert (found.alert_count, str(found.lifetime_total("USD"))) == (1, "1234.56")
    assert [listed.alert_count for listed in store.list_customers(PageRequest(10)).items] == [1]


def test_a_state_keeps_what_triggered_its_last_transition(dynamodb: DynamoDBClient) -> None:
    store = DynamoDBStore(dynamodb, TABLE_NAME)
    state = AlertState("a1", "cust_acme", "con_1", "in_alarm", 1, NOW, triggered_by="inv_Ω")
    assert store.write_alert_state(state, 0)
    assert store.write_alert_state(AlertState("a1", "cust_acme", None, "ok", 1, NOW), 0)  # none kept: None
    stored = {(s.contract_id, s.triggered_by, s.evaluated_at) for s in store.alert_states("cust_acme")}
    assert stored == {("con_1", "inv_Ω", NOW), (None, None, NOW)}
