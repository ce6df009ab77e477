"""`make demo`'s marketplace listings: a buyer lands from each marketplace, both registrations are
completed, an invoice of each is metered, then the Azure buyer unsubscribes (Microsoft's signed
`Unsubscribe` webhook) and a later invoice of theirs is not metered (docs/listings.md).

The buyers play through the commands a developer would type (`downbeat marketplace land aws|azure`,
`downbeat marketplace event azure Unsubscribe`), run in this process against the demo's stack.
"""

from __future__ import annotations

import contextlib
import io
import json
import uuid
import warnings
from typing import Any, TextIO

from local.cli import main as downbeat_main
from local.cli import request_json
from local.demo_data import ApiCall, demo_event
from local.stack import LocalStack

DEMO_CENTS = 4200


def _downbeat(stack: LocalStack, *arguments: str) -> Any:
    """A `downbeat` command's printed JSON (the in-process stack's own log lines come first)."""
    printed, errors = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(errors):
        code = downbeat_main([*arguments, "--api", stack.url])
    text = printed.getvalue()
    if code != 0 or "{\n" not in text:
        raise RuntimeError(f"downbeat {' '.join(arguments)} failed ({code}): {errors.getvalue().strip()}")
    return json.loads(text[text.index("{\n") :])


def _invoice(stack: LocalStack, customer_id: str) -> str:
    """A finalized USD invoice for the customer, put on the bus as upstream sends one."""
    event = demo_event("azure.json")
    invoice_id = f"inv_demo_buyer_{uuid.uuid4().hex[:8]}"
    total = f"{DEMO_CENTS / 100:.2f}"
    event["id"] = str(uuid.uuid4())
    event["detail"] |= {"id": invoice_id, "customer_id": customer_id, "subtotal": total, "total": total,
                        "line_items": [], "applied_credits": []}  # fmt: skip
    request_json(stack.url, "POST", "/_local/events", event, token=stack.api_token)
    return invoice_id


def _meter(stack: LocalStack) -> None:
    with warnings.catch_warnings():  # Powertools warns of a run that published no metric: not news here
        warnings.simplefilter("ignore", UserWarning)
        stack.trigger("marketplace_meter")


def _sync(call: ApiCall, invoice_id: str) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = call("GET", f"/v1/invoices/{invoice_id}/sync", None)["data"]
    except OSError:  # 404 until the router has stored it
        return None
    return found


def show_marketplace_buyers(out: TextIO, stack: LocalStack, call: ApiCall, wait: Any) -> bool:
    """The story above; `wait(condition)` polls until it holds (False at the demo's deadline)."""
    if stack.aws_marketplace is None or stack.azure is None:
        return True  # a marketplace variable points elsewhere: no double to land at
    print("\nMarketplace buyers land (`downbeat marketplace land aws|azure`) and are completed through the API:",
          file=out)  # fmt: skip
    buyers: dict[str, str] = {}
    subscription = str(uuid.uuid4())
    for provider, arguments in (("aws_marketplace", ("aws",)), ("azure_marketplace", ("azure", "--subscription",
                                                                                   subscription))):  # fmt: skip
        registration = _downbeat(stack, "marketplace", "land", *arguments)
        name = f"{'AWS' if provider == 'aws_marketplace' else 'Azure'} Buyer Co"
        body = {"registration_id": registration["id"], "customer": {"name": name}}
        customer = call("POST", "/v1/marketplaceRegistrations/complete", body)["data"]
        [configuration] = customer["billing_provider_configurations"]
        buyers[provider] = customer["id"]
        activated = "activated at Azure, " if provider == "azure_marketplace" else ""
        print(f"  {provider:<18} {registration['id']} → {customer['id']} ({name}): {activated}subscription"
              f" {configuration['subscription']['status']}", file=out)  # fmt: skip
    invoices = {provider: _invoice(stack, customer_id) for provider, customer_id in buyers.items()}
    if not wait(lambda: all(_sync(call, i) for i in invoices.values())):
        return False
    _meter(stack)
    print("  an invoice each, metered (`downbeat trigger marketplace_meter`):", file=out)
    metered = True
    for provider, invoice_id in invoices.items():
        sync = _sync(call, invoice_id) or {}
        print(f"    {invoice_id}: {provider}   status: {sync.get('status')}   {sync.get('reason')}", file=out)
        metered = metered and sync.get("status") == "synced"
    sent = _downbeat(stack, "marketplace", "event", "azure", "Unsubscribe", "--subscription", subscription)
    webhook = sent["webhook"]
    customer = call("GET", f"/v1/customers/{buyers['azure_marketplace']}", None)["data"]
    state = customer["billing_provider_configurations"][0]["subscription"]
    print(f"  Azure's signed Unsubscribe webhook (`downbeat marketplace event azure Unsubscribe`): operation"
          f" {webhook['operation_id']} {webhook['outcome']}; subscription {state['status']} from {state['source']}",
          file=out)  # fmt: skip
    later = _invoice(stack, buyers["azure_marketplace"])
    if not wait(lambda: _sync(call, later)):
        return False
    _meter(stack)
    sync = _sync(call, later) or {}
    print(f"  a later invoice of the Azure buyer: {later}: status: {sync.get('status')}   {sync.get('reason')}",
          file=out)  # fmt: skip
    return metered and state["status"] == "unsubscribed" and sync.get("status") == "failed"
