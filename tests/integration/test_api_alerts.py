"""Alerts through `downbeat local` (real sockets, DynamoDB and SQS on moto): create, archive and
customer-alerts/list, their 400s (naming the field), 404s and 409s, the audit entries, and an
evaluation through the stack's evaluator that queues the webhook body on the notifications queue."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.integration.alert_harness import add_commit, alert_body, delivered, evaluations_settled, new_customer
from tests.integration.api_harness import ApiClient, LocalApi

CREATE = "/v1/alerts/create"
ARCHIVE = "/v1/alerts/archive"
LIST = "/v1/customer-alerts/list"


def test_create_answers_the_alert_at_the_currencys_minor_units(api: ApiClient) -> None:
    customer_id = new_customer(api)
    filters = [{"entity": "Contract", "key": "tier", "value": "gold"}]
    created = api.post(
        CREATE, alert_body(customer_id=customer_id, custom_field_filters=filters, uniqueness_key=f"k-{uuid.uuid4()}")
    ).data
    assert created["id"].startswith("alert_")
    assert (created["threshold"], created["customer_id"], created["archived_at"]) == ("100.00", customer_id, None)
    assert created["custom_field_filters"] == filters


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (
            {"custom_field_filters": [{"entity": "Invoice", "key": "tier", "value": "gold"}]},
            "custom_field_filters.0.entity",
        ),
        ({"custom_field_filters": [{"entity": "Contract", "value": "gold"}]}, "custom_field_filters.0.key"),
        ({"threshold": "-1.00"}, "threshold"),
        ({"threshold": "1.001"}, "threshold"),
        ({"threshold": 10}, "threshold"),
        ({"currency": "XYZ"}, "currency"),
        ({"alert_type": "usage_reached"}, "alert_type"),
        ({"name": " "}, "name"),
        ({"uniqueness_key": ""}, "uniqueness_key"),
        ({"extra": 1}, "extra"),
    ],
)
def test_create_refuses_a_bad_field_naming_it(api: ApiClient, change: dict[str, Any], field: str) -> None:
    assert api.post(CREATE, alert_body(**change)).error() == (400, field)


def test_create_for_an_unknown_customer_is_a_404(api: ApiClient) -> None:
    assert api.post(CREATE, alert_body(customer_id="cust_nobody")).error() == (404, "customer_id")


def test_a_reused_uniqueness_key_is_a_409_even_after_archiving(api: ApiClient) -> None:
    key = f"gold-{uuid.uuid4()}"
    first = api.post(CREATE, alert_body(uniqueness_key=key)).data
    assert api.post(CREATE, alert_body(uniqueness_key=key, name="other")).error() == (409, "uniqueness_key")
    assert api.post(ARCHIVE, {"id": first["id"]}).status == 200
    assert api.post(CREATE, alert_body(uniqueness_key=key)).error() == (409, "uniqueness_key")


def test_archive_unknown_is_a_404_and_archived_alerts_are_not_listed(api: ApiClient) -> None:
    customer_id = new_customer(api)
    assert api.post(ARCHIVE, {"id": "alert_nobody"}).error() == (404, "id")
    assert api.post(ARCHIVE, {}).error() == (400, "id")
    kept = api.post(CREATE, alert_body(customer_id=customer_id)).data
    gone = api.post(CREATE, alert_body(customer_id=customer_id)).data
    archived = api.post(ARCHIVE, {"id": gone["id"]}).data
    assert archived["archived_at"] is not None
    assert api.post(ARCHIVE, {"id": gone["id"]}).data["archived_at"] == archived["archived_at"]
    listed = [entry["alert"]["id"] for entry in api.post(LIST, {"customer_id": customer_id, "limit": 100}).data]
    assert kept["id"] in listed
    assert gone["id"] not in listed


def test_list_bounds_and_unknown_customer(api: ApiClient) -> None:
    customer_id = new_customer(api)
    assert api.post(LIST, {"customer_id": customer_id, "limit": 0}).error() == (400, "limit")
    assert api.post(LIST, {"customer_id": customer_id, "limit": 101}).error() == (400, "limit")
    assert api.post(LIST, {}).error() == (400, "customer_id")
    assert api.post(LIST, {"customer_id": "cust_nobody"}).error() == (404, "customer_id")
    assert api.post(LIST, {"customer_id": customer_id, "next_page": "bm90IG91cnM"}).error() == (400, "next_page")


def test_list_pages_through_the_customers_alerts(api: ApiClient) -> None:
    customer_id = new_customer(api)
    created = {api.post(CREATE, alert_body(customer_id=customer_id, name=f"a{n}")).data["id"] for n in range(3)}
    seen: list[str] = []
    cursor = None
    while True:
        reply = api.post(LIST, {"customer_id": customer_id, "limit": 2, **({"next_page": cursor} if cursor else {})})
        seen += [entry["alert"]["id"] for entry in reply.data if entry["alert"]["customer_id"] == customer_id]
        cursor = reply.body["next_page"]
        if cursor is None:
            break
    assert set(seen) == created
    assert len(seen) == len(created)


def test_creates_and_archives_are_audited_refused_ones_too(api: ApiClient) -> None:
    agent = f"alerts-audit-{uuid.uuid4()}"
    created = api.post(CREATE, alert_body(), user_agent=agent).data
    assert api.post(ARCHIVE, {"id": created["id"]}, user_agent=agent).status == 200
    api.post(CREATE, alert_body(threshold="-1"), user_agent=agent)
    entries = [e for e in api.get("/v1/auditLogs?limit=100").data if e["user_agent"] == agent]
    assert sorted((e["action"], e["resource_type"], e["status_code"]) for e in entries) == [
        ("alerts.archive", "alert", 200),
        ("alerts.create", "alert", 200),
        ("alerts.create", "alert", 400),
    ]
    assert {e["resource_id"] for e in entries if e["status_code"] == 200} == {created["id"]}


def test_an_evaluation_fires_then_a_new_commit_resolves_it(local_api: LocalApi, api: ApiClient) -> None:
    customer_id = new_customer(api)
    add_commit(api, customer_id, "60.00")
    evaluations_settled(local_api)  # the commit's own evaluation: before the alert exists
    alert = api.post(CREATE, alert_body(customer_id=customer_id)).data
    entry = api.post(LIST, {"customer_id": customer_id}).data[0]
    assert (entry["alert"]["id"], entry["customer_status"], entry["contracts"]) == (alert["id"], None, None)
    assert (entry["triggered_by"], entry["changed_at"]) == (None, None)
    local_api.stack.trigger("alert_evaluator")
    fired = delivered(local_api, alert["id"], 1)
    assert [(body["type"], body["properties"]["remaining_balance"]) for body in fired] == [
        ("alerts.low_remaining_contract_credit_and_commit_balance_reached", "60.00")
    ]
    assert fired[0]["properties"]["triggered_by"] == "schedule"
    entry = api.post(LIST, {"customer_id": customer_id}).data[0]
    assert (entry["customer_status"], entry["triggered_by"]) == ("in_alarm", "schedule")
    assert entry["changed_at"] == fired[0]["properties"]["timestamp"]  # what the list says, the webhook said
    # The commit create asks for the customer's evaluation on the evaluator's queue, which the stack drives.
    commit_id = add_commit(api, customer_id, "500.00")
    resolved = delivered(local_api, alert["id"], 2)[1:]
    assert [(b["type"], b["properties"]["remaining_balance"], b["properties"]["triggered_by"]) for b in resolved] == [
        ("alerts.low_remaining_contract_credit_and_commit_balance_reached_resolved", "560.00", commit_id)
    ]
    entry = api.post(LIST, {"customer_id": customer_id}).data[0]
    assert (entry["customer_status"], entry["triggered_by"]) == ("ok", commit_id)
    assert entry["changed_at"] == resolved[0]["properties"]["timestamp"]


def test_a_spend_alert_lists_its_contracts(local_api: LocalApi, api: ApiClient) -> None:
    customer_id = new_customer(api)
    contract = {"customer_id": customer_id, "name": "2025", "starting_at": "2025-01-01T00:00:00Z"}
    gold = api.post("/v1/contracts/create", {**contract, "custom_fields": {"tier": "gold"}}).data["id"]
    assert api.post("/v1/contracts/create", {**contract, "custom_fields": {"tier": "silver"}}).status == 200
    evaluations_settled(local_api)  # the contracts' own evaluations: before the alert exists
    filters = [{"entity": "Contract", "key": "tier", "value": "gold"}]
    spend = alert_body(
        alert_type="spend_threshold_reached", customer_id=customer_id, custom_field_filters=filters, threshold="10"
    )
    assert api.post(CREATE, spend).status == 200
    [before] = api.post(LIST, {"customer_id": customer_id}).data
    unevaluated = {"contract_id": gold, "status": None, "triggered_by": None, "changed_at": None}
    assert (before["customer_status"], before["triggered_by"], before["contracts"]) == (None, None, [unevaluated])
    local_api.stack.trigger("alert_evaluator")
    [after] = api.post(LIST, {"customer_id": customer_id}).data
    # No transition of the contract's own: it shows its customer's first evaluation, the schedule's.
    assert (after["customer_status"], after["triggered_by"]) == ("ok", "schedule")
    assert after["contracts"] == [
        {"contract_id": gold, "status": "ok", "triggered_by": "schedule", "changed_at": after["changed_at"]}
    ]
    assert after["changed_at"] is not None
