"""`downbeat reconcile --provider azure_marketplace|aws_marketplace` on the local stack: an Azure
invoice metered into the stack's Azure double reconciles clean (exit 0, `--json`), an event the
double then loses is found (exit 1), and an error exits 2."""

from __future__ import annotations

import contextlib
import io
import json
import uuid
from pathlib import Path

from local.cli import main
from local.stack import LocalStack
from shared.adapters.dynamodb import DynamoDBStore
from shared.domain.marketplace_metering import DIMENSION
from tests.e2e.helpers import customer_like, poll_until, sample_event, write_event


def reconcile(stack: LocalStack, provider: str, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["reconcile", "--provider", provider, "--api", stack.url, *args])
    # The stack shares this process: its functions' log lines and metrics land on stdout too.
    lines = [line for line in out.getvalue().splitlines() if not line.startswith(('{"level"', '{"_aws"'))]
    return code, "\n".join(lines), err.getvalue()


def azure_customer(store: DynamoDBStore) -> tuple[str, str]:
    """A downbeat customer of its own on a SaaS subscription of its own (other tests share the stack)."""
    resource = f"sub-reconcile-{uuid.uuid4().hex[:10]}"
    return customer_like(store, "cust_globex", azure_subscription_id=resource), resource


def test_an_azure_invoice_reconciles_clean_until_azure_loses_its_event(
    local_stack: LocalStack, store: DynamoDBStore, tmp_path: Path
) -> None:
    double = local_stack.azure
    assert double is not None
    customer_id, resource = azure_customer(store)
    event = sample_event("azure.json", customer_id=customer_id)
    invoice_id = event["detail"]["id"]
    assert main(["send-event", "--api", local_stack.url, write_event(tmp_path, event)]) == 0
    poll_until(lambda: store.get_meter_invoice(invoice_id, "azure_marketplace") is not None, timeout=60,
               what="the invoice in the meter outbox")  # fmt: skip
    local_stack.trigger("marketplace_meter")
    sync = store.get_sync(invoice_id)
    assert sync is not None
    assert sync.status == "synced", sync.reason

    code, out, err = reconcile(local_stack, "azure_marketplace", "--customer", customer_id, "--json")
    assert (code, json.loads(out)) == (0, {"differences": [], "summary": {"checked": 1, "differences": 0}}), err

    [record] = store.list_usage_records("azure_marketplace", customer_id, DIMENSION)
    double.forget_event(resource, record.hour)
    code, out, _ = reconcile(local_stack, "azure_marketplace", "--customer", customer_id)
    day = record.hour.date().isoformat()
    assert code == 1
    assert out.splitlines() == [
        f"azure_marketplace  {invoice_id}  missing  123456 units in 1 event(s) on {day} for resource {resource}  none",
        "checked 1 invoice(s): 1 difference(s)",
    ]
    # The customer has no AWS configuration: nothing to check there.
    assert reconcile(local_stack, "aws_marketplace", "--customer", customer_id)[:2] == (
        0,
        "checked 0 invoice(s): 0 difference(s)",
    )


def test_an_unknown_customer_exits_2(local_stack: LocalStack) -> None:
    code, _, err = reconcile(local_stack, "aws_marketplace", "--customer", "cust_nobody_at_all")
    assert code == 2
    assert "no customer 'cust_nobody_at_all'" in err
