"""`make demo`: the local stack, four sample invoices, and where each one went.

Starts the stack in this process on a free port, loads the demo customers and contracts, sends
one invoice per route (Stripe by the customer's default, the AWS Marketplace outbox by a contract
override, the Azure outbox, and one invalid event), waits — polling, no fixed sleeps — until each
is settled, and prints the sync status per invoice and the dead-letter entries. It prints an
embeddable dashboard link per dashboard for the demo customer, opened once to show it works, a
buyer landing from each marketplace (metered, then the Azure one unsubscribed: local/demo_listings.py),
and last an alert firing and resolving: a low-balance alert on the demo customer, an invoice through
the router drawing its commit down (the router asks for the evaluation), then a top-up, each
webhook shown as the stack's receiver got and verified it; in a terminal the stack then stays up
until Enter, so the links open in a browser.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import boto3

from local.cli import request_json
from local.demo_data import DEMO_EVENTS, DEMO_STRIPE_CUSTOMERS, ApiCall, demo_event, seed_demo_data_via_api
from local.demo_listings import show_marketplace_buyers
from local.stack import LocalStack, StackOptions
from local.webhook_receiver import Delivery, LocalWebhookReceiver
from shared.adapters.dynamodb import DynamoDBStore
from shared.domain.sync import SyncRecord

DEADLINE_SECONDS = 60.0


@dataclass
class Outcome:
    invoice_id: str
    label: str
    sync: SyncRecord | None = None
    dead_letter: dict[str, Any] | None = None


def wait_for(condition: Callable[[], bool], deadline: float, interval: float = 0.1) -> bool:
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


def _waiter(condition: Callable[[], bool]) -> bool:
    return wait_for(condition, time.monotonic() + DEADLINE_SECONDS)


def run_demo(out: TextIO) -> int:
    options = StackOptions(
        port=0,
        retry_visibility_seconds=1,
        run_schedules=False,
        stripe_customers=DEMO_STRIPE_CUSTOMERS,
        environ={**os.environ, "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING")},
    )
    with LocalStack(options) as stack:
        assert stack.resources is not None
        store = DynamoDBStore(boto3.client("dynamodb"), stack.resources.table_name)
        print(f"downbeat demo: local stack at {stack.url}", file=out)
        ids = seed_demo_data_via_api(_api_client(stack.url, stack.api_token))
        print("  created through the API (POST /v1/customers, /v1/contracts/create):", file=out)
        for placeholder, created in ids.items():
            print(f"    {placeholder:<22} → {created}", file=out)
        outcomes = []
        for label, file_name in DEMO_EVENTS:
            event = demo_event(file_name, ids)
            event_id = request_json(stack.url, "POST", "/_local/events", event, token=stack.api_token)["event_id"]
            print(f"  sent {file_name:<28} event {event_id}", file=out)
            outcomes.append(Outcome(str(event["detail"]["id"]), label))
        deadline = time.monotonic() + DEADLINE_SECONDS
        settled = wait_for(lambda: all(_settle(o, stack, store) for o in outcomes), deadline)
        _print_summary(out, outcomes, stack)
        if not settled:
            print("demo: some invoices were not settled before the deadline", file=out)
            return 1
        if not _meter_marketplaces(out, stack, _api_client(stack.url, stack.api_token), outcomes):
            return 1
        if not _pay_in_stripe(out, stack, _api_client(stack.url, stack.api_token), outcomes):
            return 1
        if not _print_dashboards(out, _api_client(stack.url, stack.api_token), ids["cust_acme"]):
            return 1
        if not _reconcile(out, stack):
            return 1
        if not show_marketplace_buyers(out, stack, _api_client(stack.url, stack.api_token), _waiter):
            return 1
        if not _fire_and_resolve_an_alert(out, stack, _api_client(stack.url, stack.api_token), ids):
            return 1
        if sys.stdin is not None and sys.stdin.isatty():
            out.write("\nThe stack stays up so that the links open: press Enter to stop it. ")
            out.flush()
            sys.stdin.readline()
    return 0


MARKETPLACES = ("aws_marketplace", "azure_marketplace")


def _meter_marketplaces(out: TextIO, stack: LocalStack, call: ApiCall, outcomes: list[Outcome]) -> bool:
    """Run the marketplace meter once (as its 10-minute schedule would) and show each marketplace
    invoice's usage records, read back through GET /v1/invoices/{id}/sync."""
    result = stack.trigger("marketplace_meter")
    print(
        f"\nMarketplace meter (`downbeat trigger marketplace_meter`): {result['records_sent']} record(s) sent in"
        f" {result['calls']} call(s), {result['accepted']} accepted",
        file=out,
    )
    metered = True
    for outcome in outcomes:
        if outcome.sync is None or outcome.sync.provider not in MARKETPLACES:
            continue
        sync = call("GET", f"/v1/invoices/{urllib.parse.quote(outcome.invoice_id, safe='')}/sync", None)["data"]
        print(f"  {outcome.invoice_id}: {sync['provider']}   status: {sync['status']}   {sync['reason']}", file=out)
        for record in sync["provider_ids"].get("records", []):
            receipt = record["receipt"] or "(none yet)"
            print(f"    {record['hour']}  {record['cents']} cents  {record['state']}  receipt {receipt}", file=out)
        metered = metered and sync["status"] == "synced"
    return metered


def _pay_in_stripe(out: TextIO, stack: LocalStack, call: ApiCall, outcomes: list[Outcome]) -> bool:
    """The customer pays the Stripe invoice in Stripe (the double): its signed `invoice.paid` webhook
    reaches the stack, and the sync status's `provider_status` becomes `paid` (docs/stripe-webhooks.md)."""
    stripe_invoices = [o for o in outcomes if o.sync is not None and o.sync.provider == "stripe"]
    if not stripe_invoices or stack.stripe is None:
        return True  # STRIPE_API_BASE points elsewhere: no double to pay in
    paid = True
    for outcome in stripe_invoices:
        path = f"/v1/invoices/{urllib.parse.quote(outcome.invoice_id, safe='')}/sync"
        before = call("GET", path, None)["data"]["provider_status"]
        answer = request_json(
            stack.url, "POST", "/_local/stripe/pay", {"invoice": outcome.invoice_id}, token=stack.api_token
        )
        webhook = answer["webhook"]
        sync = call("GET", path, None)["data"]
        print(
            f"\nPaid in Stripe (`downbeat stripe pay {outcome.invoice_id}`): {answer['stripe_invoice_id']} is"
            f" {answer['status']}; Stripe's {webhook['type']} webhook {webhook['event_id']}"
            f" answered {webhook['status']}",
            file=out,
        )
        print(
            f"  {outcome.invoice_id}: provider_status {before or 'null'} → {sync['provider_status']}"
            f" (at {sync['provider_status_at']}); sync status still {sync['status']}",
            file=out,
        )
        paid = paid and sync["provider_status"] == "paid"
    return paid


LOW_BALANCE = "low_remaining_contract_credit_and_commit_balance_reached"
ALERT_INVOICE_ID = "inv_demo_alert"


def _fire_and_resolve_an_alert(out: TextIO, stack: LocalStack, call: ApiCall, ids: dict[str, str]) -> bool:
    """A low-balance alert on the demo customer fires when an invoice, through the router, draws its
    commit down to the threshold, and resolves when a manual entry tops it up: each transition's
    webhook as the stack's receiver got it, verified by the receiver example of docs/webhooks.md."""
    receiver = stack.webhook_receiver
    if receiver is None:
        return True  # WEBHOOK_URL points elsewhere: nothing of ours to show
    customer_id = ids["cust_acme"]
    schedule = [{"amount": "500.00", "starting_at": "2025-01-01T00:00:00Z", "ending_before": "2030-01-01T00:00:00Z"}]
    commit_body = {"customer_id": customer_id, "type": "PREPAID", "name": "Demo prepaid", "currency": "USD"}
    commit = call("POST", "/v1/contracts/customerCommits/create", {**commit_body, "access_schedule": schedule})["data"]
    low = {"alert_type": LOW_BALANCE, "name": "Acme balance low", "threshold": "100.00", "currency": "USD"}
    alert = call("POST", "/v1/alerts/create", {**low, "customer_id": customer_id})["data"]
    print(
        f"\nAlert {alert['id']} (POST /v1/alerts/create): Acme's remaining balance ≤ 100.00 USD;"
        f" commit {commit['id']}: 500.00 USD",
        file=out,
    )
    event = demo_event("finalized.json", ids)
    event["detail"].update(
        id=ALERT_INVOICE_ID,
        total="1110.00",
        applied_credits=[{"id": commit["id"], "type": "PREPAID", "amount": "420.00"}],
    )
    request_json(stack.url, "POST", "/_local/events", event, token=stack.api_token)
    print(
        f"  sent invoice {ALERT_INVOICE_ID}: draws 420.00 from the commit; the router asks for an evaluation",
        file=out,
    )
    fired = _show_alert_webhook(out, receiver, alert["id"], f"alerts.{LOW_BALANCE}")
    entry = call(
        "POST",
        "/v1/contracts/addManualBalanceLedgerEntry",
        {"customer_id": customer_id, "id": commit["id"], "amount": "250.00", "reason": "demo top-up",
         "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")},
    )["data"]  # fmt: skip
    print(f"  manual ledger entry {entry['id']}: +250.00 (POST /v1/contracts/addManualBalanceLedgerEntry)", file=out)
    resolved = _show_alert_webhook(out, receiver, alert["id"], f"alerts.{LOW_BALANCE}_resolved")
    return fired and resolved


def _show_alert_webhook(out: TextIO, receiver: LocalWebhookReceiver, alert_id: str, webhook_type: str) -> bool:
    """Wait for the alert's webhook of that type, then print it as the receiver got it."""

    def found() -> Delivery | None:
        return next(
            (
                d
                for d in receiver.seen()
                if d.webhook is not None
                and d.webhook["type"] == webhook_type
                and d.webhook["properties"]["alert_id"] == alert_id
            ),
            None,
        )

    arrived = wait_for(lambda: found() is not None, time.monotonic() + DEADLINE_SECONDS)
    delivery = found()
    if not arrived or delivery is None or delivery.webhook is None:
        print(f"  no {webhook_type} webhook reached the receiver before the deadline", file=out)
        return False
    properties = delivery.webhook["properties"]
    print(
        f"  webhook {webhook_type}: remaining_balance {properties['remaining_balance']},"
        f" triggered_by {properties['triggered_by']}",
        file=out,
    )
    print(f"    POST {receiver.url} → {delivery.status}, {delivery.outcome} by the receiver example", file=out)
    print(f"    Date: {delivery.date}", file=out)
    print(f"    Downbeat-Webhook-Signature: {delivery.headers.get('downbeat-webhook-signature')}", file=out)
    print(f"    {delivery.body.decode()}", file=out)
    return True


# The demo invoices are for February 2025: the usage link shows that month, not the last 30 days.
DEMO_USAGE_DAYS = {"ending_before": "2025-03-01", "days": "28"}


def _print_dashboards(out: TextIO, call: ApiCall, customer_id: str) -> bool:
    """Embeddable dashboard links for the demo customer, each opened once to show that it works."""
    print("\nEmbeddable dashboards of Acme Corp (POST /v1/dashboards/getEmbeddableUrl), valid 1 hour:", file=out)
    opened = True
    for dashboard in ("invoices", "usage"):
        link = call("POST", "/v1/dashboards/getEmbeddableUrl", {"customer_id": customer_id, "dashboard": dashboard})
        url = link["data"]["url"] + ("&" + urllib.parse.urlencode(DEMO_USAGE_DAYS) if dashboard == "usage" else "")
        with urllib.request.urlopen(url, timeout=30) as response:
            status, page = response.status, response.read().decode("utf-8")
        works = status == 200 and "Acme Corp" in page
        opened = opened and works
        print(f"  {dashboard:<9} {url}", file=out)
        print(f"            opens: HTTP {status}{'' if works else ' (not the expected page)'}", file=out)
    return opened


def _reconcile(out: TextIO, stack: LocalStack) -> bool:
    """`downbeat reconcile` for each provider, as a user would run it against this stack: what the
    providers hold now against what downbeat sent (exit 0: no difference)."""
    from local.reconcile_cli import FUNCTION, reconcile_against_stack  # noqa: PLC0415

    print("\nReconciliation (`downbeat reconcile --provider P`): the providers' side against ours", file=out)
    clean = True
    for provider in ("stripe", *MARKETPLACES):
        args = argparse.Namespace(provider=provider, since=None, customer=None, json=False)
        report = io.StringIO()
        with contextlib.redirect_stdout(report):
            code = reconcile_against_stack(
                args, stack.function_environment(FUNCTION), stack.withheld_variables(FUNCTION)
            )
        for line in report.getvalue().splitlines():
            print(f"  {provider:<18} {line}", file=out)
        clean = clean and code == 0
    return clean


def _api_client(base: str, token: str) -> ApiCall:
    def call(method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        request = urllib.request.Request(
            base + path,
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {token}",
                "User-Agent": "downbeat-demo",
            },
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer: dict[str, Any] = json.loads(response.read())
        return answer

    return call


def _settle(outcome: Outcome, stack: LocalStack, store: DynamoDBStore) -> bool:
    """Whether the invoice has reached where it is going (sync status or a dead-letter entry)."""
    outcome.sync = store.get_sync(outcome.invoice_id)
    outcome.dead_letter = next(
        (entry for entry in stack.dead_letters() if _invoice_id_of(entry) == outcome.invoice_id), None
    )
    if outcome.sync is None:
        return outcome.dead_letter is not None
    if outcome.sync.provider == "stripe" and outcome.sync.status == "pending":
        stripe_worker = stack.runtime("StripeSyncFunction").available
        return not stripe_worker or outcome.dead_letter is not None
    return True


def _invoice_id_of(entry: dict[str, Any]) -> str | None:
    body = entry.get("body")
    if not isinstance(body, dict):
        return None
    event = body.get("requestPayload") or body  # an OnFailure record, or the rejected event itself
    if isinstance(event, dict) and isinstance(event.get("detail"), dict):
        invoice_id = event["detail"].get("id")
    else:
        invoice_id = body.get("invoice_id")
    return invoice_id if isinstance(invoice_id, str) else None


def _print_summary(out: TextIO, outcomes: list[Outcome], stack: LocalStack) -> None:
    print("\nWhere each invoice went:", file=out)
    for outcome in outcomes:
        print(f"\n  {outcome.invoice_id} — {outcome.label}", file=out)
        if outcome.sync is not None:
            sync = outcome.sync
            print(f"    provider: {sync.provider or '(none)'}   status: {sync.status}", file=out)
            print(f"    reason:   {sync.reason}", file=out)
            for line in _provider_details(sync, stack):
                print(f"    {line}", file=out)
        if outcome.dead_letter is not None:
            print(f"    dead letter in {outcome.dead_letter['queue']}: {outcome.dead_letter['reason']}", file=out)
    print("\nDead-letter queues (`downbeat dlq list`):", file=out)
    for entry in stack.dead_letters():
        print("  " + json.dumps({k: entry[k] for k in ("queue", "message_id", "reason")}), file=out)


def _provider_details(sync: SyncRecord, stack: LocalStack) -> list[str]:
    """What the provider holds for the invoice — the place for Stripe's invoice id and effective_at."""
    stripe_invoice_id = sync.provider_ids.get("stripe_invoice_id")
    if stripe_invoice_id is None:
        return [f"provider ids: {json.dumps(sync.provider_ids)}"] if sync.provider_ids else []
    lines = [f"Stripe invoice: {stripe_invoice_id}"]
    if stack.stripe is not None:
        invoice = stack.stripe.invoice(str(stripe_invoice_id))
        effective_at = invoice.get("effective_at")
        shown = "unset" if effective_at is None else datetime.fromtimestamp(int(effective_at), UTC).isoformat()
        lines.append(f"Stripe status: {invoice.get('status')}   effective_at: {shown}")
    return lines


def main() -> int:
    """Run the demo; handler logs and EMF metrics go to a log file so the summary stays readable."""
    log_path = Path(tempfile.gettempdir()) / "downbeat-demo.log"
    out = sys.stdout
    with log_path.open("w", encoding="utf-8") as log_file:
        logging.basicConfig(level=logging.WARNING, stream=log_file)
        sys.stdout = log_file  # Powertools prints logs and metrics to stdout; keep them off the summary
        try:
            status = run_demo(out)
        finally:
            sys.stdout = out
    print(f"\nHandler logs and EMF metrics of this run: {log_path}", file=out)
    return status


if __name__ == "__main__":
    sys.exit(main())
