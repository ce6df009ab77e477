"""Invoice events reach alerts at once through the local stack (no scheduled run: the stack runs
none): the router asks for the customer's evaluation when it stores a new version and an alert can
apply, and the webhook the stack's receiver verified names the invoice as `triggered_by`. An
invoice of a customer no alert applies to asks for nothing.

A module of its own: no alert for every customer exists here (the router would then ask for
every invoice's customer).
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.builders import invoice_event
from tests.integration.alert_harness import add_commit, alert_body, delivered, evaluations_settled, new_customer
from tests.integration.api_harness import ApiClient, LocalApi

LOW_BALANCE = "alerts.low_remaining_contract_credit_and_commit_balance_reached"
SPEND = "alerts.spend_threshold_reached"
LIST = "/v1/customer-alerts/list"


@pytest.fixture
def evaluation_requests(local_api: LocalApi, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every message the stack hands the alert evaluator from its queue, as it hands them."""
    seen: list[dict[str, Any]] = []
    stack = local_api.stack
    original = stack.invoke
    evaluator = stack.runtime("alert_evaluator").spec.logical_id

    def invoke(name: str, event: Any) -> Any:
        if stack.runtime(name).spec.logical_id == evaluator and isinstance(event, dict):
            seen.extend(json.loads(record["body"]) for record in event.get("Records", []))
        return original(name, event)

    monkeypatch.setattr(stack, "invoke", invoke)  # the pollers look it up per call
    return seen


def route(local_api: LocalApi, invoice_id: str, version: int, **detail: Any) -> None:
    """Put the invoice event on the stack's bus; return once the router stored that version."""
    local_api.stack.put_event(invoice_event(id=invoice_id, version=version, **detail))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        stored = local_api.store.get_invoice(invoice_id, buckets=False)
        sync = local_api.store.get_sync(invoice_id)
        if stored is not None and stored.version == version and sync is not None:
            return
        time.sleep(0.02)
    raise AssertionError(f"invoice {invoice_id} version {version} was not routed")


def properties(bodies: list[dict[str, Any]], *names: str) -> list[tuple[Any, ...]]:
    return [(body["type"], *(body["properties"][name] for name in names)) for body in bodies]


def drawdown(commit_id: str, amount: str) -> dict[str, Any]:
    return {"applied_credits": [{"id": commit_id, "type": "PREPAID", "amount": amount}]}


def test_a_drawdown_fires_at_once_and_its_void_resolves_naming_the_invoice(
    local_api: LocalApi, api: ApiClient, evaluation_requests: list[dict[str, Any]]
) -> None:
    customer_id = new_customer(api)
    commit_id = add_commit(api, customer_id, "500.00")
    evaluations_settled(local_api)
    alert = api.post("/v1/alerts/create", alert_body(customer_id=customer_id)).data  # balance ≤ 100.00
    invoice_id = f"inv_drawdown_{uuid.uuid4().hex[:8]}"

    route(local_api, invoice_id, 1, customer_id=customer_id, **drawdown(commit_id, "420.00"))
    fired = delivered(local_api, alert["id"], 1)
    assert properties(fired, "remaining_balance", "triggered_by") == [(LOW_BALANCE, "80.00", invoice_id)]
    entry = api.post(LIST, {"customer_id": customer_id}).data[0]
    assert (entry["customer_status"], entry["triggered_by"]) == ("in_alarm", invoice_id)

    voided = {"status": "VOID", "total": "0.00", **drawdown(commit_id, "420.00")}
    route(local_api, invoice_id, 2, customer_id=customer_id, **voided)
    resolved = delivered(local_api, alert["id"], 2)[1:]
    assert properties(resolved, "remaining_balance", "triggered_by") == [
        (f"{LOW_BALANCE}_resolved", "500.00", invoice_id)
    ]
    entry = api.post(LIST, {"customer_id": customer_id}).data[0]
    assert (entry["customer_status"], entry["triggered_by"], entry["changed_at"]) == (
        "ok",
        invoice_id,
        resolved[0]["properties"]["timestamp"],
    )
    assert {request["customer_id"] for request in evaluation_requests if request["kind"] == "customer"} >= {customer_id}


def test_a_usage_invoice_raising_spend_fires_and_a_lower_version_resolves(local_api: LocalApi, api: ApiClient) -> None:
    customer_id = new_customer(api)
    contract = {"customer_id": customer_id, "name": "now", "starting_at": "2025-01-01T00:00:00Z"}
    contract_id = api.post("/v1/contracts/create", contract).data["id"]
    evaluations_settled(local_api)
    spend = alert_body(alert_type="spend_threshold_reached", customer_id=customer_id, threshold="100.00")
    alert = api.post("/v1/alerts/create", spend).data
    now = datetime.now(UTC)  # the stack's clock is the wall clock: the invoice's period holds now
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    period = {
        "customer_id": customer_id,
        "contract_id": contract_id,
        "status": "DRAFT",
        "start_timestamp": f"{start:%Y-%m-%dT%H:%M:%SZ}",
        "end_timestamp": f"{end:%Y-%m-%dT%H:%M:%SZ}",
        "issued_at": f"{start:%Y-%m-%dT%H:%M:%SZ}",
        "applied_credits": [],
        "line_items": [],
    }
    invoice_id = f"inv_spend_{uuid.uuid4().hex[:8]}"

    route(local_api, invoice_id, 1, **period, subtotal="150.00", total="150.00")
    fired = delivered(local_api, alert["id"], 1)
    assert properties(fired, "contract_id", "current_spend", "triggered_by") == [
        (SPEND, contract_id, "150.00", invoice_id)
    ]
    [entry] = api.post(LIST, {"customer_id": customer_id}).data
    assert (entry["customer_status"], entry["triggered_by"]) == ("in_alarm", invoice_id)
    assert [(c["contract_id"], c["status"], c["triggered_by"]) for c in entry["contracts"]] == [
        (contract_id, "in_alarm", invoice_id)
    ]

    route(local_api, invoice_id, 2, **period, subtotal="40.00", total="40.00")
    resolved = delivered(local_api, alert["id"], 2)[1:]
    assert properties(resolved, "contract_id", "current_spend", "triggered_by") == [
        (f"{SPEND}_resolved", contract_id, "40.00", invoice_id)
    ]


def test_an_invoice_of_a_customer_without_alerts_asks_for_nothing(
    local_api: LocalApi, api: ApiClient, evaluation_requests: list[dict[str, Any]]
) -> None:
    quiet = new_customer(api)
    watched = new_customer(api)
    commit_id = add_commit(api, watched, "500.00")
    evaluations_settled(local_api)
    alert = api.post("/v1/alerts/create", alert_body(customer_id=watched)).data
    evaluation_requests.clear()

    route(local_api, f"inv_quiet_{uuid.uuid4().hex[:8]}", 1, customer_id=quiet, applied_credits=[])
    watched_invoice = f"inv_watched_{uuid.uuid4().hex[:8]}"
    route(local_api, watched_invoice, 1, customer_id=watched, **drawdown(commit_id, "450.00"))
    assert properties(delivered(local_api, alert["id"], 1), "triggered_by") == [(LOW_BALANCE, watched_invoice)]
    evaluations_settled(local_api)
    assert evaluation_requests == [{"kind": "customer", "customer_id": watched, "triggered_by": watched_invoice}]
