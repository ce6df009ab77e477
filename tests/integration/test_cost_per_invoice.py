"""bench/cost_per_invoice on the local stack: one invoice's requests are counted, and nothing else.

The counts asserted here are the ones the design fixes (two invocations, one queue hop, one event,
the plan's Stripe calls; with an alert on the customer, one more invocation and queue hop for its
evaluation); the DynamoDB units follow the store's access patterns and are only checked for
consistency, so that a change to the store does not read as a broken bench.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from bench.cost_per_invoice import (
    EMPTY_POLLS,
    EVALUATOR,
    EVENT_SOURCE_MAPPING,
    PUBLISHER,
    ROUTER,
    STAND_IN,
    WITH_ALERT,
    WORKER,
    Run,
    measure,
    print_report,
    rows,
)

INVOICES = 2


@pytest.fixture(scope="module")
def run() -> Run:
    return measure(INVOICES)


def measured(run: Run) -> dict[str, Decimal]:
    return {row.label.split(" (")[0]: row.measured for row in rows(run)}


def test_an_invoice_is_two_invocations_one_queue_hop_and_one_event(run: Run) -> None:
    per_invoice = measured(run)
    assert per_invoice["Lambda requests"] == 2
    assert per_invoice["SQS requests"] == 3  # the router's send; the mapping's receive and delete
    assert per_invoice["EventBridge events"] == 1
    assert run.stripe_calls == INVOICES * run.stripe_floor
    assert {who for who, _, _ in run.usage.requests} == {ROUTER, WORKER, EVENT_SOURCE_MAPPING, PUBLISHER}
    assert not run.usage.unpriced
    assert not run.usage.failed


@pytest.fixture(scope="module")
def run_with_an_alert() -> Run:
    return measure(INVOICES, with_alert=True)


def test_an_alert_on_the_customer_adds_one_invocation_and_one_queue_hop_and_no_write(
    run: Run, run_with_an_alert: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    without, per_invoice = measured(run), measured(run_with_an_alert)
    assert per_invoice["Lambda requests"] == 3  # the evaluator's
    assert per_invoice["SQS requests"] == 6  # the router's request; the mapping's receive and delete
    assert per_invoice["DynamoDB WRU"] == without["DynamoDB WRU"]  # steady spend: no state written
    assert per_invoice["DynamoDB RRU"] > without["DynamoDB RRU"]  # the evaluation's reads
    router_sends = run_with_an_alert.usage.requests[(ROUTER, "sqs", "SendMessage")]
    assert router_sends == 2 * INVOICES  # stripe-sync and alert-evaluation
    assert len(run_with_an_alert.usage.billed_ms[EVALUATOR]) == INVOICES
    assert {who for who, _, _ in run_with_an_alert.usage.requests} == {
        ROUTER,
        WORKER,
        EVALUATOR,
        EVENT_SOURCE_MAPPING,
        PUBLISHER,
    }
    assert not run_with_an_alert.usage.unpriced
    assert not run_with_an_alert.usage.failed
    print_report(run_with_an_alert)
    assert WITH_ALERT in capsys.readouterr().out


def test_the_local_stand_in_for_eventbridge_to_lambda_and_empty_polls_are_left_out(run: Run) -> None:
    assert run.not_counted[STAND_IN] >= 2 * INVOICES  # a receive and a delete per invoice, none priced
    assert set(run.not_counted) <= {STAND_IN, EMPTY_POLLS}
    sqs_operations = {operation for who, service, operation in run.usage.requests if service == "sqs"}
    assert sqs_operations == {"SendMessage", "ReceiveMessage", "DeleteMessageBatch"}


def test_dynamodb_units_come_from_the_requests_each_function_made(run: Run) -> None:
    per_invoice = measured(run)
    assert per_invoice["DynamoDB WRU"] >= next(row.floor for row in rows(run) if row.label == "DynamoDB WRU") > 0
    assert per_invoice["DynamoDB RRU"] > 0
    for (who, service, operation), count in run.usage.requests.items():
        if service == "dynamodb" and operation != "Query":
            units = sum(v for (w, s, o, _), v in run.usage.units.items() if (w, s, o) == (who, service, operation))
            assert units >= count, f"{who} {operation}: every GetItem and write costs at least 1 unit"


def test_every_invocation_is_billed_at_least_a_millisecond_of_its_memory(run: Run) -> None:
    for function in (ROUTER, WORKER):
        assert len(run.usage.billed_ms[function]) == INVOICES
        assert min(run.usage.billed_ms[function]) >= 1
    assert run.usage.gb_seconds >= Decimal(2 * INVOICES) * Decimal(512) / 1024 / 1000


def test_the_report_prints_the_table_and_the_ratio(run: Run, capsys: pytest.CaptureFixture[str]) -> None:
    print_report(run)
    out = capsys.readouterr().out
    for label in ("Lambda requests", "DynamoDB WRU", "SQS requests", "EventBridge events", "total", "floor:"):
        assert label in out
    assert "NOT PRICED" not in out
