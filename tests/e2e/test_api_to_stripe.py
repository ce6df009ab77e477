"""What an outside test does: create a customer through the API, send its invoice, read the sync."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from local.cli import main
from local.stack import LocalStack
from tests.e2e.helpers import poll_until, sample_event, write_event


def api(stack: LocalStack, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    request = urllib.request.Request(
        stack.url + path,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {stack.api_token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        answer: dict[str, Any] = json.loads(response.read())
    return answer


def test_a_customer_created_through_the_api_gets_its_invoice_in_stripe(
    local_stack: LocalStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a Stripe customer id the built-in double has never been told about, as an outside test would use
    created = api(
        local_stack,
        "POST",
        "/v1/customers",
        {
            "name": "Outside Co",
            "billing_provider_configurations": [
                {
                    "billing_provider": "stripe",
                    "delivery_method": "direct_to_billing_provider",
                    "configuration": {"stripe_customer_id": "cus_outside_42", "invoice_date_timezone": "Asia/Tokyo"},
                }
            ],
        },
    )["data"]
    event = sample_event(customer_id=created["id"], contract_id=None)
    assert main(["send-event", "--api", local_stack.url, write_event(tmp_path, event)]) == 0
    invoice_id = event["detail"]["id"]

    def synced() -> dict[str, Any] | None:
        try:
            sync: dict[str, Any] = api(local_stack, "GET", f"/v1/invoices/{invoice_id}/sync")["data"]
        except urllib.error.HTTPError as error:
            if error.code == 404:  # not received yet
                return None
            raise
        return sync if sync["status"] != "pending" else None

    sync = poll_until(synced, what="the Stripe sync to settle")
    assert (sync["provider"], sync["status"]) == ("stripe", "synced"), sync
    assert local_stack.stripe is not None
    stripe_invoice = local_stack.stripe.invoice(sync["provider_ids"]["stripe_invoice_id"])
    assert stripe_invoice["customer"] == "cus_outside_42"
    assert stripe_invoice["metadata"]["downbeat_invoice_id"] == invoice_id
    assert stripe_invoice["effective_at"] == 1740711600  # 2025-02-28T12:00:00+09:00
