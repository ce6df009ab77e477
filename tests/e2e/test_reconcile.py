"""`downbeat reconcile --provider stripe` on the local stack: clean after a normal sync, then each
difference planted in the Stripe double found once — a hand-voided invoice, an edited total, a
duplicate made outside downbeat, a missing invoice, one downbeat never recorded — with exit codes
0 / 1 / 2 and the `--json` shape."""

from __future__ import annotations

import contextlib
import io
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import stripe as stripe_sdk

from local.cli import main
from local.doubles import LOCAL_STRIPE_KEY
from local.stack import LocalStack
from local.stripe_double import StripeDouble
from shared.adapters.dynamodb import DynamoDBStore
from tests.e2e.helpers import customer_like, poll_until, sample_event, write_event


def reconcile(stack: LocalStack, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["reconcile", "--provider", "stripe", "--api", stack.url, *args])
    # The stack shares this process: its functions' log lines and metrics land on stdout too.
    lines = [line for line in out.getvalue().splitlines() if not line.startswith(('{"level"', '{"_aws"'))]
    return code, "\n".join(lines), err.getvalue()


def new_customer(stack: LocalStack, store: DynamoDBStore) -> tuple[str, str]:
    """A downbeat customer of its own, on a Stripe customer of its own (other tests share the stack)."""
    double = stack.stripe
    assert double is not None
    stripe_customer = double.add_customer(f"cus_reconcile_{uuid.uuid4().hex[:10]}")
    return customer_like(store, "cust_acme", stripe_customer_id=stripe_customer), stripe_customer


def sync_invoices(stack: LocalStack, store: DynamoDBStore, tmp_path: Path, customer_id: str, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        event = sample_event(customer_id=customer_id, contract_id=None)
        ids.append(event["detail"]["id"])
        assert main(["send-event", "--api", stack.url, write_event(tmp_path, event)]) == 0
    poll_until(lambda: all(synced(store, invoice_id) for invoice_id in ids), timeout=60, what="the invoices to sync")
    return ids


def synced(store: DynamoDBStore, invoice_id: str) -> bool:
    record = store.get_sync(invoice_id)
    return record is not None and record.status == "synced"


def stripe_id(store: DynamoDBStore, invoice_id: str) -> str:
    record = store.get_sync(invoice_id)
    assert record is not None
    return str(record.provider_ids["stripe_invoice_id"])


def test_reconcile_finds_each_planted_difference_once(
    local_stack: LocalStack, store: DynamoDBStore, tmp_path: Path
) -> None:
    double = local_stack.stripe
    assert isinstance(double, StripeDouble)
    customer_id, stripe_customer = new_customer(local_stack, store)
    voided, edited, duplicated, vanished, clean = sync_invoices(local_stack, store, tmp_path, customer_id, 5)

    code, out, _ = reconcile(local_stack, "--customer", customer_id)
    assert (code, out) == (0, "checked 5 invoice(s): 0 difference(s)")

    with double._lock:  # what finance might do by hand in Stripe's dashboard
        model = double.model
        model.invoices[stripe_id(store, voided)].status = "void"
        edited_invoice = model.invoices[stripe_id(store, edited)]
        model.items[edited_invoice.item_ids[0]].amount += 100
        del model.invoices[stripe_id(store, vanished)]
    client = stripe_sdk.StripeClient(LOCAL_STRIPE_KEY, base_addresses={"api": double.url})
    for metadata in ({"downbeat_invoice_id": duplicated}, {"downbeat_invoice_id": "inv_never_recorded"}):
        client.v1.invoices.create(params={"customer": stripe_customer, "metadata": metadata})

    code, out, _ = reconcile(local_stack, "--customer", customer_id)
    rows = [line.split("  ") for line in out.splitlines()[:-1]]
    assert code == 1
    assert sorted((row[1], row[2]) for row in rows) == sorted(
        [
            (voided, "status"),
            (edited, "total"),
            (duplicated, "duplicate"),
            (vanished, "missing"),
            ("inv_never_recorded", "unrecorded"),
        ]
    )
    assert all(row[0] == "stripe" and len(row) == 5 for row in rows)
    assert clean not in out
    assert out.splitlines()[-1] == "checked 5 invoice(s): 5 difference(s)"

    code, out, _ = reconcile(local_stack, "--customer", customer_id, "--json")
    report: dict[str, Any] = json.loads(out)
    assert code == 1
    assert report["summary"] == {"checked": 5, "differences": 5}
    assert {d["kind"] for d in report["differences"]} == {"status", "total", "duplicate", "missing", "unrecorded"}
    [total] = [d for d in report["differences"] if d["kind"] == "total"]
    assert set(total) == {"provider", "invoice_id", "kind", "expected", "actual"}
    assert total["expected"] != total["actual"]


def test_since_keeps_later_invoices_only(local_stack: LocalStack, store: DynamoDBStore, tmp_path: Path) -> None:
    customer_id, _ = new_customer(local_stack, store)
    sync_invoices(local_stack, store, tmp_path, customer_id, 1)  # the sample invoice ends 2025-03-01
    assert reconcile(local_stack, "--customer", customer_id, "--since", "2025-03-01")[:2] == (
        0,
        "checked 1 invoice(s): 0 difference(s)",
    )
    assert reconcile(local_stack, "--customer", customer_id, "--since", "2025-03-02")[:2] == (
        0,
        "checked 0 invoice(s): 0 difference(s)",
    )


def test_errors_exit_2(local_stack: LocalStack) -> None:
    code, _, err = reconcile(local_stack, "--customer", "cust_nobody_at_all")
    assert code == 2
    assert "no customer 'cust_nobody_at_all'" in err
    parse_errors = io.StringIO()
    with contextlib.redirect_stderr(parse_errors), pytest.raises(SystemExit) as refused:
        main(["reconcile", "--provider", "stripe", "--api", local_stack.url, "--since", "last tuesday"])
    assert refused.value.code == 2
    assert "is not a date or timestamp" in parse_errors.getvalue()
