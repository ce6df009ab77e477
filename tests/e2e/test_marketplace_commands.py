"""`downbeat marketplace land|event aws` against the local stack, and metering stopping for a buyer
who unsubscribed."""

from __future__ import annotations

import contextlib
import io
import json
import uuid
from typing import Any

from local.cli import main, request_json
from local.stack import LocalStack
from tests.builders import invoice_event
from tests.e2e.helpers import poll_until


def downbeat(*arguments: str) -> tuple[int, Any, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(arguments))
    printed = out.getvalue()
    start = printed.find("{\n")  # the in-process stack's own log lines come first, one line each
    return code, json.loads(printed[start:]) if start >= 0 else None, err.getvalue()


def test_land_prints_the_registration_once_per_buyer(local_stack: LocalStack) -> None:
    code, first, _ = downbeat("marketplace", "land", "aws", "--api", local_stack.url)
    assert code == 0
    assert (first["status"], first["provider"]) == ("pending", "aws_marketplace")
    account, licence = first["identifiers"]["aws_customer_account_id"], first["identifiers"]["aws_license_arn"]
    again = ("--account", account, "--license", licence)
    code, second, _ = downbeat("marketplace", "land", "aws", *again, "--api", local_stack.url)
    assert (code, second["id"]) == (0, first["id"])


def test_land_refuses_an_account_without_a_licence(local_stack: LocalStack) -> None:
    code, _, err = downbeat("marketplace", "land", "aws", "--account", "111122223333", "--api", local_stack.url)
    assert code == 2
    assert "--license" in err


def meter_records_for(stack: LocalStack, customer_identifier: str) -> list[Any]:
    double = stack.aws_marketplace
    assert double is not None
    return [record for record in double.records() if customer_identifier in json.dumps(record.to_json())]


def test_metering_stops_for_a_buyer_who_unsubscribed(local_stack: LocalStack) -> None:
    buyer = f"c-{uuid.uuid4().hex[:8]}"
    code, registration, _ = downbeat(
        "marketplace",
        "land",
        "aws",
        "--customer-identifier",
        buyer,
        "--product-code",
        "prod-e2e",
        "--api",
        local_stack.url,
    )
    assert code == 0
    body = {"registration_id": registration["id"], "customer": {"name": "Leaving Inc"}}
    customer = request_json(local_stack.url, "POST", "/v1/marketplaceRegistrations/complete", body)["data"]

    def send_and_meter(invoice_id: str) -> None:
        event = invoice_event(
            id=invoice_id, customer_id=customer["id"], total="3.00", subtotal="3.00", applied_credits=[], line_items=[]
        )
        local_stack.put_event(event)
        poll_until(lambda: _sync(local_stack, invoice_id), what="the invoice routed")
        local_stack.trigger("marketplace_meter")

    send_and_meter(f"inv_mp_{uuid.uuid4().hex[:8]}")
    assert len(meter_records_for(local_stack, buyer)) == 1
    code, sent, _ = downbeat(
        "marketplace", "event", "aws", "unsubscribe-success", "--customer-identifier", buyer,
        "--product-code", "prod-e2e", "--api", local_stack.url,
    )  # fmt: skip
    assert (code, sent["queue"]) == (0, "MarketplaceSubscriptionQueue")

    def unsubscribed() -> bool:
        shown = request_json(local_stack.url, "GET", f"/v1/customers/{customer['id']}")["data"]
        return bool(shown["billing_provider_configurations"][0]["subscription"]["status"] == "unsubscribed")

    poll_until(unsubscribed, what="the unsubscription applied")
    later = f"inv_mp_{uuid.uuid4().hex[:8]}"
    send_and_meter(later)
    assert len(meter_records_for(local_stack, buyer)) == 1  # nothing more was sent for this buyer
    status = _sync(local_stack, later)
    assert status is not None
    assert status["status"] == "failed"
    assert "unsubscribed" in status["reason"]


def _sync(stack: LocalStack, invoice_id: str) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = request_json(stack.url, "GET", f"/v1/invoices/{invoice_id}/sync")["data"]
    except Exception:  # 404 until the router has stored it
        return None
    return found


# -- Azure --------------------------------------------------------------------------------------------


def azure_buyer(stack: LocalStack, name: str, *extra: str) -> tuple[str, str]:
    """`downbeat marketplace land azure`, then the registration completed: (customer id, subscription)."""
    subscription = str(uuid.uuid4())
    code, registration, _ = downbeat(
        "marketplace", "land", "azure", "--subscription", subscription, *extra, "--api", stack.url
    )
    assert code == 0
    assert registration["identifiers"]["azure_subscription_id"] == subscription
    body = {"registration_id": registration["id"], "customer": {"name": name}}
    customer = request_json(stack.url, "POST", "/v1/marketplaceRegistrations/complete", body)["data"]
    return customer["id"], subscription


def azure_event(stack: LocalStack, action: str, subscription: str, *extra: str) -> dict[str, Any]:
    code, sent, err = downbeat(
        "marketplace", "event", "azure", action, "--subscription", subscription, *extra, "--api", stack.url
    )
    assert code == 0, err
    return dict(sent)


def azure_events_for(stack: LocalStack, subscription: str) -> list[Any]:
    double = stack.azure
    assert double is not None
    return [event for event in double.events() if event.resource_id == subscription]


def meter_an_invoice(stack: LocalStack, customer_id: str) -> dict[str, Any]:
    invoice_id = f"inv_az_{uuid.uuid4().hex[:8]}"
    event = invoice_event(
        id=invoice_id, customer_id=customer_id, total="2.50", subtotal="2.50", applied_credits=[], line_items=[]
    )
    stack.put_event(event)
    poll_until(lambda: _sync(stack, invoice_id), what="the invoice routed")
    stack.trigger("marketplace_meter")
    status = _sync(stack, invoice_id)
    assert status is not None
    return status


def test_land_azure_prints_the_registration_once_per_subscription(local_stack: LocalStack) -> None:
    subscription = str(uuid.uuid4())
    arguments = ("marketplace", "land", "azure", "--subscription", subscription, "--plan", "silver", "--quantity", "2")
    code, first, _ = downbeat(*arguments, "--api", local_stack.url)
    assert (code, first["provider"], first["status"]) == (0, "azure_marketplace", "pending")
    assert (first["identifiers"]["azure_plan_id"], first["identifiers"]["azure_quantity"]) == ("silver", 2)
    code, again, _ = downbeat(*arguments, "--api", local_stack.url)
    assert (code, again["id"]) == (0, first["id"])


def test_azure_options_are_refused_for_aws_and_an_azure_event_needs_its_subscription(local_stack: LocalStack) -> None:
    code, _, err = downbeat("marketplace", "land", "aws", "--subscription", "s-1", "--api", local_stack.url)
    assert (code, "--subscription" in err) == (2, True)
    code, _, err = downbeat("marketplace", "event", "azure", "Suspend", "--api", local_stack.url)
    assert (code, "--subscription" in err) == (2, True)
    code, _, err = downbeat("marketplace", "event", "azure", "unsubscribe-success", "--subscription", "s-1")
    assert (code, "ACTION for azure" in err) == (2, True)


def test_azure_event_changes_the_plan_and_acknowledges_it(local_stack: LocalStack) -> None:
    customer_id, subscription = azure_buyer(local_stack, "Plan Change Inc")
    sent = azure_event(local_stack, "ChangePlan", subscription, "--plan", "platinum")
    assert (sent["webhook"]["outcome"], sent["webhook"]["acknowledged"]) == ("changed", True)
    shown = request_json(local_stack.url, "GET", f"/v1/customers/{customer_id}")["data"]
    assert shown["billing_provider_configurations"][0]["configuration"]["azure_plan_id"] == "platinum"


def test_azure_metering_holds_while_suspended_and_sends_once_reinstated(local_stack: LocalStack) -> None:
    customer_id, subscription = azure_buyer(local_stack, "Paused Inc")
    azure_event(local_stack, "Suspend", subscription)
    held = meter_an_invoice(local_stack, customer_id)
    assert held["status"] == "pending"
    assert "suspended" in held["reason"]
    assert azure_events_for(local_stack, subscription) == []
    azure_event(local_stack, "Reinstate", subscription)
    local_stack.trigger("marketplace_meter")
    assert [event.quantity for event in azure_events_for(local_stack, subscription)] == [250]


def test_azure_metering_stops_for_a_buyer_who_unsubscribed(local_stack: LocalStack) -> None:
    customer_id, subscription = azure_buyer(local_stack, "Leaving Azure Inc")
    assert meter_an_invoice(local_stack, customer_id)["status"] == "synced"
    assert len(azure_events_for(local_stack, subscription)) == 1
    sent = azure_event(local_stack, "Unsubscribe", subscription)
    assert sent["webhook"]["outcome"] == "changed"
    later = meter_an_invoice(local_stack, customer_id)
    assert later["status"] == "failed"
    assert "unsubscribed" in later["reason"]
    assert len(azure_events_for(local_stack, subscription)) == 1  # nothing more was sent for this buyer
