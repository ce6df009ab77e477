"""Large invoices on the running stack: `send-event --claim-check` → router → Stripe → invoice API;
the bus refuses what PutEvents refuses; ~2,500 inline lines are routed, not dead-lettered."""

from __future__ import annotations

import json
import urllib.request
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from local.cli import main
from local.event_limits import PUT_EVENTS_MAX_BYTES, entry_size
from local.stack import LocalStack
from shared.adapters.dynamodb import DynamoDBStore
from shared.domain.stripe_items import MAX_ITEMS_PER_INVOICE
from tests.builders import large_invoice_event
from tests.e2e.helpers import dead_letter_for, poll_until, sample_event, write_event


def large_event(count: int, hours: int, *, products: int = 10) -> dict[str, Any]:
    """A sample event for the seeded Stripe customer (fresh id) with `count` lines of `hours` buckets."""
    event = sample_event()
    big = large_invoice_event(count, hours, products=products)["detail"]
    keys = ("line_items", "subtotal", "total", "applied_credits", "start_timestamp", "end_timestamp")
    event["detail"].update({key: big[key] for key in keys})
    return event


def api_get(stack: LocalStack, path: str) -> dict[str, Any]:
    request = urllib.request.Request(stack.url + path, headers={"Authorization": f"Bearer {stack.api_token}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        answer: dict[str, Any] = json.loads(response.read())
    return answer


def synced(store: DynamoDBStore, invoice_id: str, stack: LocalStack) -> Any:
    def settled() -> Any:
        record = store.get_sync(invoice_id)
        if dead_letter_for(stack.url, invoice_id) is not None:
            raise AssertionError(f"{invoice_id} was dead-lettered: {dead_letter_for(stack.url, invoice_id)}")
        return record if record is not None and record.status not in {"pending"} else None

    return poll_until(settled, timeout=120, what=f"{invoice_id} to settle in Stripe")


def send(stack: LocalStack, path: str, *flags: str) -> int:
    return main(["send-event", "--api", stack.url, *flags, path])


def test_fifty_lines_of_720_hourly_buckets_go_through_the_claim_check_to_stripe_and_the_api(
    local_stack: LocalStack, store: DynamoDBStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event = large_event(50, 720)
    invoice_id = event["detail"]["id"]
    path = write_event(tmp_path, event)
    assert send(local_stack, path) == 1  # ~4 MB: the bus refuses it as PutEvents would
    assert "over the limit" in capsys.readouterr().err
    assert send(local_stack, path, "--claim-check") == 0
    captured = capsys.readouterr()
    assert "claim check s3://downbeat-local-claimcheckbucket-" in captured.err

    record = synced(store, invoice_id, local_stack)
    assert record.status == "synced", record.reason
    assert local_stack.stripe is not None
    stripe_invoice = local_stack.stripe.find_invoice("downbeat_invoice_id", invoice_id)
    assert stripe_invoice is not None
    items = local_stack.stripe.invoice_items(invoice=stripe_invoice["id"])
    assert len(items) == 50  # one item per line: within Stripe's 250
    assert stripe_invoice["total"] == int(Decimal(event["detail"]["total"]) * 100)

    invoice = api_get(local_stack, f"/v1/customers/cust_acme/invoices/{invoice_id}")["data"]
    assert [line["id"] for line in invoice["line_items"]] == [f"li_{n}" for n in range(50)]
    assert all("buckets" not in line for line in invoice["line_items"])
    assert invoice["total"] == event["detail"]["total"]
    stored = store.get_invoice(invoice_id)
    assert stored is not None
    assert sum(len(line.buckets) for line in stored.line_items) == 50 * 720  # kept for breakdowns
    # …and read back through the breakdowns API: a month of days whose usage adds up to the invoice
    breakdowns = api_get(
        local_stack,
        "/v1/customers/cust_acme/invoices/breakdowns?starting_on=2025-02-01&ending_before=2025-03-03&window_size=DAY"
        "&limit=100",
    )
    days = [entry for entry in breakdowns["data"] if entry["invoice_id"] == invoice_id]
    assert [entry["breakdown_start_timestamp"][:10] for entry in days] == [
        f"2025-02-{day:02d}" for day in range(1, 29)
    ] + ["2025-03-01", "2025-03-02"]
    assert all(len(entry["line_items"]) == 50 for entry in days)
    assert sum(Decimal(entry["subtotal"]) for entry in days) == Decimal(event["detail"]["subtotal"])


def test_more_lines_than_stripe_takes_are_collapsed_per_product(
    local_stack: LocalStack, store: DynamoDBStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event = large_event(300, 4, products=40)
    invoice_id = event["detail"]["id"]
    assert send(local_stack, write_event(tmp_path, event), "--claim-check") == 0
    record = synced(store, invoice_id, local_stack)
    assert record.status == "synced", record.reason
    assert "collapsed" in str(record.reason)
    assert local_stack.stripe is not None
    stripe_invoice = local_stack.stripe.find_invoice("downbeat_invoice_id", invoice_id)
    assert stripe_invoice is not None
    items = local_stack.stripe.invoice_items(invoice=stripe_invoice["id"])
    assert len(items) <= MAX_ITEMS_PER_INVOICE
    assert sum(item["amount"] for item in items) == stripe_invoice["total"]


def test_two_thousand_five_hundred_inline_lines_under_the_limit_are_routed(
    local_stack: LocalStack, store: DynamoDBStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event = large_event(2_500, 2)
    detail = json.dumps(event["detail"], separators=(",", ":"))
    size = entry_size({"Source": event["source"], "DetailType": event["detail-type"], "Detail": detail})
    assert 900_000 < size < PUT_EVENTS_MAX_BYTES  # just under the limit, far past one DynamoDB item
    invoice_id = event["detail"]["id"]
    assert send(local_stack, write_event(tmp_path, event)) == 0
    record = synced(store, invoice_id, local_stack)
    assert record.status == "synced", record.reason
    stored = store.get_invoice(invoice_id)
    assert stored is not None
    assert len(stored.line_items) == 2_500


def test_an_event_over_the_put_events_limit_is_refused_as_aws_refuses_it(
    local_stack: LocalStack, store: DynamoDBStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event = sample_event(custom_fields={"padding": "x" * PUT_EVENTS_MAX_BYTES})
    assert send(local_stack, write_event(tmp_path, event)) == 1
    error = capsys.readouterr().err
    assert "ValidationException: Total size of the entries in the request is over the limit." in error
    assert "--claim-check" in error
    assert store.get_invoice(event["detail"]["id"]) is None


@pytest.mark.parametrize(
    ("uri", "said"),
    [
        ("s3://{bucket}/claim-checks/never-uploaded.json", "no such object"),
        ("s3://another-bucket/lines.json", "claim checks are read only from"),
    ],
)
def test_a_claim_check_the_router_cannot_read_is_dead_lettered_naming_the_uri(
    local_stack: LocalStack,
    store: DynamoDBStore,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    uri: str,
    said: str,
) -> None:
    assert local_stack.resources is not None
    bucket = local_stack.resources.buckets["ClaimCheckBucket"]
    event = sample_event(line_items=[], line_items_uri=uri.format(bucket=bucket))
    assert send(local_stack, write_event(tmp_path, event)) == 0
    entry = poll_until(lambda: dead_letter_for(local_stack.url, event["detail"]["id"]), what="the DLQ entry")
    assert entry["field"] == "detail.line_items_uri"
    assert said in entry["reason"]
    assert entry["body"]["detail"] == event["detail"]
    assert store.get_invoice(event["detail"]["id"]) is None


def test_claim_check_lines_that_are_not_an_array_reach_the_router_and_are_named(
    local_stack: LocalStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event = sample_event(line_items={"li_1": "not a list"})
    assert send(local_stack, write_event(tmp_path, event), "--claim-check") == 0
    entry = poll_until(lambda: dead_letter_for(local_stack.url, event["detail"]["id"]), what="the DLQ entry")
    assert entry["field"] == "detail.line_items_uri"
    assert "must hold a JSON array of line items, not an object" in entry["reason"]


def test_a_bad_line_among_thousands_inline_is_dead_lettered_naming_it(
    local_stack: LocalStack, store: DynamoDBStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event = large_event(2_500, 2)
    event["detail"]["line_items"][1234]["total"] = "12,50"
    assert send(local_stack, write_event(tmp_path, event)) == 0
    entry = poll_until(lambda: dead_letter_for(local_stack.url, event["detail"]["id"]), what="the DLQ entry")
    assert entry["field"] == "detail.line_items.1234.total"
    assert entry["body"]["detail"] == event["detail"]  # the whole event, for a redrive once fixed
    assert store.get_invoice(event["detail"]["id"]) is None
