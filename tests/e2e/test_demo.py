"""`make demo` end to end, in its own process (one local stack per process)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_demo_shows_where_each_invoice_went() -> None:
    environ = {
        key: value
        for key, value in os.environ.items()
        # the package's own stack may be running: its provider variables would send the demo there
        if not key.startswith(("STRIPE_", "WEBHOOK_", "AWS_ENDPOINT", "AZURE_"))
    }
    result = subprocess.run(
        [sys.executable, "-m", "local.demo"],
        cwd=REPO,
        env=environ,
        stdin=subprocess.DEVNULL,  # not a terminal: the demo does not wait for Enter
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    # customers and contracts came from the API, and the events carry the ids it handed out
    assert re.search(r"cust_acme\s+→ cust_[0-9a-f]{32}", out)
    assert re.search(r"con_acme_marketplace\s+→ con_[0-9a-f]{32}", out)
    stripe, aws, azure, invalid = (
        out.split(f"  {name} — ")[1].split("\n\n")[0]
        for name in ("inv_demo_stripe", "inv_demo_aws", "inv_demo_azure", "inv_demo_invalid")
    )
    assert "provider: stripe   status: synced" in stripe
    assert re.search(r"Stripe invoice: in_\w+", stripe)
    assert "effective_at: 2025-02-28T12:00:00+00:00" in stripe
    assert "provider: aws_marketplace   status: pending" in aws
    assert "contract names aws_marketplace" in aws
    assert "provider: azure_marketplace   status: pending" in azure
    assert "dead letter in RouterDLQ" in invalid
    assert "detail.currency" in invalid
    assert '"queue": "RouterDLQ"' in out
    # the meter's run: each marketplace invoice's record accepted, with the marketplace's receipt
    for provider in ("aws_marketplace", "azure_marketplace"):
        assert re.search(rf"inv_demo_\w+: {provider}   status: synced   123456 cents metered as usage_fee", out)
    receipts = re.findall(r"\d{4}-\d\d-\d\dT\d\d:00:00Z  123456 cents  accepted  receipt [0-9a-f-]{36}", out)
    assert len(receipts) == 2
    # the Stripe invoice paid in the Stripe double: its webhook records provider_status paid
    assert re.search(r"Paid in Stripe .*: in_\w+ is paid; Stripe's invoice.paid webhook evt_\w+ answered 200", out)
    assert re.search(r"inv_demo_stripe: provider_status null → paid \(at \d{4}-\d\d-\d\dT[\d:]+Z\)", out)
    # an embeddable dashboard link per dashboard, on the demo's own stack, that opened
    for dashboard in ("invoices", "usage"):
        assert re.search(rf"  {dashboard} +http://127\.0\.0\.1:\d+/v1/dashboards/embed\?token=[\w.-]+", out)
    assert out.count("opens: HTTP 200\n") == 2
    for provider in ("stripe", "aws_marketplace", "azure_marketplace"):
        assert re.search(rf"  {provider} +checked [1-9]\d* invoice\(s\): 0 difference\(s\)", out)
    # a low-balance alert fires on an invoice's drawdown (the router asked for the evaluation) and
    # resolves on a top-up: both webhooks signed, delivered to the stack's receiver and verified there
    alert = out.split("\nAlert alert_")[1].split("\n\n")[0]
    fired, resolved = alert.split("  manual ledger entry ")
    for webhook, remaining in ((fired, "80.00"), (resolved, "330.00")):
        assert re.search(r"POST http://127\.0\.0\.1:\d+/webhooks → 200, accepted by the receiver example\n", webhook)
        assert re.search(r"    Date: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT\n", webhook)
        assert re.search(r"    Downbeat-Webhook-Signature: [0-9a-f]{64}\n", webhook)
        assert f'"remaining_balance":"{remaining}"' in webhook
    assert (
        '"triggered_by":"inv_demo_alert"},"type":"alerts.low_remaining_contract_credit_and_commit_balance_reached"}'
        in fired
    )
    entry = re.match(r"(entry_[0-9a-f]{32}): \+250\.00", resolved)
    assert entry is not None
    assert (
        f'"triggered_by":"{entry[1]}"}},"type":"alerts.low_remaining_contract_credit_and_commit_balance_reached_resolved"}}'
        in resolved
    )
    _assert_marketplace_buyers(out)


def _assert_marketplace_buyers(out: str) -> None:
    """A buyer landed from each marketplace, completed and metered; the Azure one unsubscribed by
    Microsoft's webhook, and a later invoice of theirs not metered."""
    for provider, name in (("aws_marketplace", "AWS Buyer Co"), ("azure_marketplace", "Azure Buyer Co")):
        assert re.search(
            rf"  {provider} +reg_[0-9a-f]{{32}} → cust_[0-9a-f]{{32}} \({name}\): .*subscription active", out
        )
        assert re.search(rf"inv_demo_buyer_\w+: {provider}   status: synced   4200 cents metered", out)
    assert "activated at Azure" in out
    assert re.search(r"Unsubscribe webhook .*: operation [0-9a-f-]{36} changed; subscription unsubscribed", out)
    assert re.search(r"later invoice of the Azure buyer: inv_demo_buyer_\w+: status: failed .*unsubscribed at", out)
