"""`downbeat dlq redrive` on the local stack: a dead-lettered message goes back where it came from,
routes and syncs once, and a replay of it charges nothing twice.

- a router event rejected for a customer that did not exist yet: redriven once the customer
  exists, it is routed and synced to Stripe; the same message dead-lettered again and redriven
  again makes no second Stripe invoice;
- a Stripe sync message dead-lettered after five failed deliveries: redriven once Stripe answers,
  the invoice is synced, once;
- `--dry-run` moves nothing; an unknown queue or an `--id` no message has exits 2.
"""

from __future__ import annotations

import contextlib
import io
import json
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from local.cli import main, request_json
from local.demo_data import CUSTOMERS
from local.stack import LocalStack
from local.stripe_double import RequestView
from shared.adapters.dynamodb import DynamoDBStore
from tests.e2e.helpers import dead_letter_for, poll_until, sample_event, write_event


def cli(*args: str) -> tuple[int, list[dict[str, Any]], str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    lines = [json.loads(line) for line in out.getvalue().splitlines() if line.startswith('{"')]
    return code, [line for line in lines if "message_id" in line], err.getvalue()


def stripe_invoices(stack: LocalStack, invoice_id: str) -> list[dict[str, Any]]:
    assert stack.stripe is not None
    return [i for i in stack.stripe.invoices() if (i.get("metadata") or {}).get("downbeat_invoice_id") == invoice_id]


def synced(store: DynamoDBStore, invoice_id: str) -> bool:
    record = store.get_sync(invoice_id)
    return record is not None and record.status == "synced"


def test_a_router_event_for_a_customer_created_later_routes_once_when_redriven(
    local_stack: LocalStack, store: DynamoDBStore, tmp_path: Path
) -> None:
    customer_id = f"cust_later_{uuid.uuid4().hex[:8]}"
    contract_id = f"con_later_{uuid.uuid4().hex[:8]}"
    event = sample_event(customer_id=customer_id, contract_id=contract_id)
    invoice_id = event["detail"]["id"]
    assert main(["send-event", "--api", local_stack.url, write_event(tmp_path, event)]) == 0
    entry = poll_until(lambda: dead_letter_for(local_stack.url, invoice_id), what="the rejection in RouterDLQ")

    code, lines, _ = cli(
        "dlq", "redrive", "RouterDLQ", "--id", entry["message_id"], "--dry-run", "--api", local_stack.url
    )
    assert (code, lines) == (0, [{"queue": "RouterDLQ", "message_id": entry["message_id"], "to": "event bus"}])
    assert dead_letter_for(local_stack.url, invoice_id) == entry  # a dry run moves nothing

    # The customer and its contract arrive upstream, created through the API with the upstream
    # platform's own ids: the ids the dead-lettered event names.
    customer = {key: value for key, value in CUSTOMERS[0].items() if key != "id"}
    assert api(local_stack, "/v1/customers", {**customer, "id": customer_id})["data"]["id"] == customer_id
    contract = {"id": contract_id, "customer_id": customer_id, "name": "Later", "starting_at": "2025-01-01T00:00:00Z"}
    assert api(local_stack, "/v1/contracts/create", contract)["data"]["id"] == contract_id
    taken = api_refusal(local_stack, "/v1/customers", {**customer, "id": customer_id})
    assert (taken["status"], taken["field"]) == (409, "id")
    taken = api_refusal(local_stack, "/v1/contracts/create", contract)
    assert (taken["status"], taken["field"]) == (409, "id")

    code, lines, err = cli("dlq", "redrive", "RouterDLQ", "--id", entry["message_id"], "--api", local_stack.url)
    assert code == 0
    assert [line["to"] for line in lines] == ["event bus"]
    assert "moved 1 message(s) from RouterDLQ" in err
    poll_until(lambda: synced(store, invoice_id), timeout=60, what="the redriven invoice to sync")
    [stripe_invoice] = stripe_invoices(local_stack, invoice_id)
    assert dead_letter_for(local_stack.url, invoice_id) is None
    assert local_stack.stripe is not None
    writes = len(local_stack.stripe.calls("POST", invoice_id=stripe_invoice["id"]))

    # The same message in the DLQ once more (a second copy, as at-least-once delivery may leave):
    # redriving it again is a duplicate for the router, and Stripe gets nothing new.
    dlq = local_stack.dead_letter_queues()["RouterDLQ"]
    local_stack.clients.sqs.send_message(QueueUrl=dlq.url, MessageBody=json.dumps(entry["body"]))
    again = poll_until(lambda: dead_letter_for(local_stack.url, invoice_id), what="the copy in RouterDLQ")
    assert cli("dlq", "redrive", "RouterDLQ", "--id", again["message_id"], "--api", local_stack.url)[0] == 0
    routed_after(local_stack, store, tmp_path)
    assert dead_letter_for(local_stack.url, invoice_id) is None
    assert stripe_invoices(local_stack, invoice_id) == [stripe_invoice]
    assert len(local_stack.stripe.calls("POST", invoice_id=stripe_invoice["id"])) == writes
    assert synced(store, invoice_id)


def api(stack: LocalStack, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = request_json(stack.url, "POST", path, body, token=stack.api_token)
    return answer


def api_refusal(stack: LocalStack, path: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        stack.url + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {stack.api_token}", "Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    return {"status": refused.value.code, **json.loads(refused.value.read())}


def routed_after(stack: LocalStack, store: DynamoDBStore, tmp_path: Path) -> None:
    """Return once the router has taken every event put on the bus so far: it takes them in arrival
    order, so once a fresh event sent now is stored, the earlier ones were routed."""
    marker = sample_event()
    assert main(["send-event", "--api", stack.url, write_event(tmp_path, marker)]) == 0
    poll_until(lambda: store.get_invoice(marker["detail"]["id"]), what="a marker event to be routed")


def test_a_stripe_message_dead_lettered_after_five_failures_syncs_once_when_redriven(
    local_stack: LocalStack, store: DynamoDBStore, tmp_path: Path
) -> None:
    stripe = local_stack.stripe
    assert stripe is not None
    event = sample_event()
    invoice_id = event["detail"]["id"]

    def ours(view: RequestView) -> bool:
        metadata = view.params.get("metadata")
        return isinstance(metadata, dict) and metadata.get("downbeat_invoice_id") == invoice_id

    stripe.fail_before(method="POST", status=500, should_retry=False, times=None, when=ours)
    try:
        assert main(["send-event", "--api", local_stack.url, write_event(tmp_path, event)]) == 0
        entry = poll_until(
            lambda: dead_letter_for(local_stack.url, invoice_id), timeout=60, what="the sync message in StripeSyncDLQ"
        )
    finally:
        stripe.clear_faults()
    assert entry["queue"] == "StripeSyncDLQ"

    code, lines, _ = cli("dlq", "redrive", "StripeSyncDLQ", "--id", entry["message_id"], "--api", local_stack.url)
    assert code == 0
    assert [line["to"] for line in lines] == ["StripeSyncQueue"]
    poll_until(lambda: synced(store, invoice_id), timeout=60, what="the redriven Stripe sync")
    assert len(stripe_invoices(local_stack, invoice_id)) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("NoSuchDLQ",), "no dead-letter queue 'NoSuchDLQ'"),
        (("RouterDLQ", "--id", "no-such-message"), "no message 'no-such-message' in RouterDLQ"),
    ],
)
def test_an_unknown_queue_or_message_exits_2(local_stack: LocalStack, args: tuple[str, ...], message: str) -> None:
    code, lines, err = cli("dlq", "redrive", *args, "--api", local_stack.url)
    assert (code, lines) == (2, [])
    assert message in err


def test_a_dry_run_of_a_whole_queue_lists_every_message_and_moves_none(local_stack: LocalStack) -> None:
    before = {e["message_id"] for e in json_lines(local_stack) if e["queue"] == "RouterDLQ"}
    code, lines, err = cli("dlq", "redrive", "RouterDLQ", "--dry-run", "--api", local_stack.url)
    assert code == 0
    assert {line["message_id"] for line in lines} <= before
    assert f"would move {len(lines)} message(s)" in err
    assert {e["message_id"] for e in json_lines(local_stack) if e["queue"] == "RouterDLQ"} >= before


def json_lines(stack: LocalStack) -> list[dict[str, Any]]:
    return cli("dlq", "list", "--api", stack.url)[1]
