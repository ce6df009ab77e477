"""On the local stack: a dead-lettered invoice shows `failed` with the DLQ's reason and queue.

- a router-rejected invoice (here with a non-ASCII id): `failed`, `RouterDLQ`, the reason `dlq list`
  shows, reached through a percent-encoded path;
- a Stripe invoice whose every create fails until SQS dead-letters its message: `failed`,
  `StripeSyncDLQ`, and one line a person can act on — in the status and in `dlq list`.
"""

from __future__ import annotations

import contextlib
import io
import json
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from local.cli import main
from local.stack import LocalStack
from local.stripe_double import RequestView
from tests.e2e.helpers import dead_letter_for, poll_until, sample_event


def sync_status(stack: LocalStack, invoice_id: str) -> dict[str, Any] | None:
    path = f"/v1/invoices/{urllib.parse.quote(invoice_id, safe='')}/sync"
    request = urllib.request.Request(stack.url + path, headers={"Authorization": f"Bearer {stack.api_token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            data: dict[str, Any] = json.loads(response.read())["data"]
            return data
    except urllib.error.HTTPError as error:
        if error.code != 404:
            raise
        return None


def send(stack: LocalStack, tmp_path: Path, event: dict[str, Any]) -> None:
    path = tmp_path / f"{uuid.uuid4().hex}.json"  # the id may hold characters a file name cannot
    path.write_text(json.dumps(event), encoding="utf-8")
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["send-event", "--api", stack.url, str(path)]) == 0


def dlq_list(stack: LocalStack) -> list[dict[str, Any]]:
    """`downbeat dlq list`, parsed (the stack shares this process: its own log lines are skipped)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["dlq", "list", "--api", stack.url]) == 0
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    return [line for line in lines if "message_id" in line]


def test_a_router_rejected_invoice_shows_failed_in_the_router_dlq(local_stack: LocalStack, tmp_path: Path) -> None:
    invoice_id = f"請求書-Ω-{uuid.uuid4().hex[:8]}"
    event = sample_event(customer_id="cust_never_created", contract_id=None)
    event["detail"]["id"] = invoice_id
    assert sync_status(local_stack, invoice_id) is None  # never received: 404
    send(local_stack, tmp_path, event)

    entry = poll_until(lambda: dead_letter_for(local_stack.url, invoice_id), what="the rejected event in RouterDLQ")
    sync = poll_until(lambda: sync_status(local_stack, invoice_id), what="the rejected invoice's sync status")

    assert (entry["queue"], entry["field"]) == ("RouterDLQ", "detail.customer_id")
    assert sync["invoice_id"] == invoice_id
    assert (sync["status"], sync["dead_letter_queue"], sync["provider"]) == ("failed", "RouterDLQ", None)
    assert sync["reason"] == entry["reason"]
    [listed] = [e for e in dlq_list(local_stack) if e["message_id"] == entry["message_id"]]
    assert listed["body"]["detail"]["id"] == invoice_id  # `dlq list` keeps the id as sent


def test_an_event_with_an_unusable_id_is_dead_lettered_and_leaves_nothing_to_find(
    local_stack: LocalStack, tmp_path: Path
) -> None:
    marker = f"cust_unusable_{uuid.uuid4().hex[:8]}"
    event = sample_event(customer_id=marker, contract_id=None)
    event["detail"]["id"] = ["not", "a", "string"]
    send(local_stack, tmp_path, event)

    def dead_lettered() -> dict[str, Any] | None:
        entries = dlq_list(local_stack)
        return next((e for e in entries if e["body"].get("detail", {}).get("customer_id") == marker), None)

    entry = poll_until(dead_lettered, what="the event with an unusable id in RouterDLQ")
    assert entry["field"] == "detail.id"
    assert sync_status(local_stack, "not") is None


def test_a_stripe_invoice_failing_until_dead_lettered_shows_failed_in_the_stripe_sync_dlq(
    local_stack: LocalStack, tmp_path: Path
) -> None:
    stripe = local_stack.stripe
    assert stripe is not None
    event = sample_event()
    invoice_id = event["detail"]["id"]

    def ours(view: RequestView) -> bool:
        metadata = view.params.get("metadata")
        return isinstance(metadata, dict) and metadata.get("downbeat_invoice_id") == invoice_id

    fault = stripe.fail_before(method="POST", status=500, should_retry=False, times=None, when=ours)
    try:
        send(local_stack, tmp_path, event)
        entry = poll_until(
            lambda: dead_letter_for(local_stack.url, invoice_id), timeout=60, what="the sync message in StripeSyncDLQ"
        )
    finally:
        stripe.clear_faults()
    assert fault.fired >= 5  # every delivery tried, and failed

    sync = sync_status(local_stack, invoice_id)
    assert sync is not None
    assert (sync["status"], sync["dead_letter_queue"], sync["provider"]) == ("failed", "StripeSyncDLQ", "stripe")
    for reason in (sync["reason"], entry["reason"]):
        assert "\n" not in reason
        assert "Traceback" not in reason
        assert "api_error (HTTP 500)" in reason
    assert sync["reason"].startswith(f"invoice {invoice_id}: Stripe sync gave up after 5 deliveries")
    assert entry["queue"] == "StripeSyncDLQ"
    assert entry["reason"] == f"maxReceiveCount exceeded on StripeSyncQueue: {sync['reason']}"
    [listed] = [e for e in dlq_list(local_stack) if e["message_id"] == entry["message_id"]]
    assert listed["reason"] == entry["reason"]
