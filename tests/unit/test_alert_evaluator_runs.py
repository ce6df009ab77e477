"""The alert_evaluator handler's runs: a schedule whose Lambda time runs out mid-page fans the rest
out on the evaluator's queue; those messages, delivered (and redelivered) as SQS batches, finish the
pass — every customer evaluated, every transition sent exactly once."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from functions.alert_evaluator.handler import lambda_handler
from local.lambda_context import LocalLambdaContext
from local.pollers import sqs_lambda_event
from tests.alert_world import World, alert

CUSTOMERS = 25
PAGE = 10
MARGIN_MS = 20_000


@dataclass
class RunningOut(LocalLambdaContext):
    """A context whose remaining time drops by `step_ms` on every look at it (no clock, no sleep)."""

    budget_ms: int = 10**9
    step_ms: int = 1_000

    def get_remaining_time_in_millis(self) -> int:
        self.budget_ms = max(0, self.budget_ms - self.step_ms)
        return self.budget_ms


def world_of_low_balances() -> World:
    world = World()
    for number in range(CUSTOMERS):
        customer_id = f"cust_{number:02d}"
        world.customer(customer_id)
        world.commit(f"commit_{number:02d}", "50.00", customer_id=customer_id)
    world.add_alert(alert("alert_low"))
    return world


def deliver(world: World, messages: list[dict[str, Any]], context: LocalLambdaContext) -> dict[str, Any]:
    event = sqs_lambda_event(
        [
            {"MessageId": f"m{index}", "ReceiptHandle": f"r{index}", "Body": json.dumps(body)}
            for index, body in enumerate(messages)
        ],
        "arn:aws:sqs:us-east-1:123456789012:alert-evaluation",
        "us-east-1",
    )
    result: dict[str, Any] = lambda_handler(event, context, deps=world.deps(page_size=PAGE, time_margin_ms=MARGIN_MS))
    return result


def test_a_run_out_of_time_mid_page_fans_out_and_the_pass_sends_each_transition_once() -> None:
    world = world_of_low_balances()
    # 13 looks at the remaining time before it falls under the margin: mid-way through page 2.
    context = RunningOut("alert_evaluator", budget_ms=MARGIN_MS + 14 * 1_000)
    summary = lambda_handler(
        {"source": "aws.scheduler"}, context, deps=world.deps(page_size=PAGE, time_margin_ms=MARGIN_MS)
    )
    assert 0 < summary["customers"] < CUSTOMERS
    handed_on = world.evaluations.bodies
    assert [message["kind"] for message in handed_on] == ["page", "page"]  # page 2's rest, page 3
    assert handed_on[0]["skip"] == summary["customers"] - PAGE  # the rest of the page it was on

    fresh = LocalLambdaContext("alert_evaluator", timeout_seconds=120)
    delivered = deliver(world, handed_on, fresh)
    assert delivered["batchItemFailures"] == []
    assert summary["customers"] + delivered["customers"] == CUSTOMERS
    customers = sorted(body["properties"]["customer_id"] for body in world.notifications.bodies)
    assert customers == [f"cust_{number:02d}" for number in range(CUSTOMERS)]
    assert len({body["id"] for body in world.notifications.bodies}) == CUSTOMERS

    # Redelivered (SQS is at least once), and overlapping with the next scheduled run: nothing more.
    deliver(world, handed_on, LocalLambdaContext("alert_evaluator", timeout_seconds=120))
    lambda_handler({}, LocalLambdaContext("alert_evaluator"), deps=world.deps(page_size=PAGE))
    assert len(world.notifications.bodies) == CUSTOMERS


def test_fan_out_lists_later_pages_while_it_has_time_then_hands_on_a_run() -> None:
    world = world_of_low_balances()
    # Out of time after 3 customers, with time to list one more page only.
    context = RunningOut("alert_evaluator", budget_ms=MARGIN_MS + 3 * 5_000, step_ms=5_000)
    lambda_handler({}, context, deps=world.deps(page_size=PAGE, time_margin_ms=MARGIN_MS))
    kinds = [(m["kind"], m.get("skip")) for m in world.evaluations.bodies]
    assert kinds == [("page", 3), ("page", 0), ("run", None)]  # page 1's rest, page 2, a run from page 3
    deliver(world, world.evaluations.bodies, LocalLambdaContext("alert_evaluator", timeout_seconds=120))
    assert len(world.notifications.bodies) == CUSTOMERS


def test_a_customer_request_names_the_write_and_a_bad_message_fails_alone() -> None:
    world = world_of_low_balances()
    request = {"kind": "customer", "customer_id": "cust_03", "triggered_by": "commit_03"}
    result = deliver(world, [{"kind": "nonsense"}, request], LocalLambdaContext("alert_evaluator"))
    assert result["batchItemFailures"] == [{"itemIdentifier": "m0"}]  # retried, then the queue's DLQ
    [body] = world.notifications.bodies
    assert (body["properties"]["customer_id"], body["properties"]["triggered_by"]) == ("cust_03", "commit_03")


def test_no_alert_reads_no_customer() -> None:
    world = World()
    world.customer()
    calls: list[str] = []
    original = world.store.list_customers
    world.store.list_customers = lambda page: calls.append("list") or original(page)  # type: ignore[method-assign,func-returns-value]
    summary = lambda_handler({}, LocalLambdaContext("alert_evaluator"), deps=world.deps())
    assert (summary["customers"], calls) == (0, [])


def test_a_burst_of_one_customers_requests_in_a_batch_is_one_evaluation_naming_the_last() -> None:
    world = world_of_low_balances()
    reads: list[str] = []
    original = world.store.list_alerts
    world.store.list_alerts = lambda page, applying_to=None: reads.append("alerts") or original(page, applying_to)  # type: ignore[method-assign,func-returns-value]
    burst = [{"kind": "customer", "customer_id": "cust_03", "triggered_by": f"inv_{n}"} for n in range(8)]
    other = {"kind": "customer", "customer_id": "cust_04", "triggered_by": "commit_04"}
    result = deliver(
        world, [*burst[:4], other, *burst[4:], {"kind": "nonsense"}], LocalLambdaContext("alert_evaluator")
    )
    assert result["batchItemFailures"] == [{"itemIdentifier": "m9"}]
    assert (result["customers"], result["coalesced"], reads) == (2, 7, ["alerts"])  # the alerts read once
    sent = {
        body["properties"]["customer_id"]: body["properties"]["triggered_by"] for body in world.notifications.bodies
    }
    assert sent == {"cust_03": "inv_7", "cust_04": "commit_04"}


def test_a_page_message_short_of_time_hands_on_its_own_rest_only_and_customers_wait_their_turn() -> None:
    world = world_of_low_balances()
    page = {"kind": "page", "skip": 0, "triggered_by": "schedule"}
    later = {"kind": "customer", "customer_id": "cust_24", "triggered_by": "inv_late"}
    # Time for 3 customers of the page; the later pages were handed out with it, not here.
    context = RunningOut("alert_evaluator", budget_ms=MARGIN_MS + 3 * 1_000)
    result = deliver(world, [page, later], context)
    assert (result["customers"], result["batchItemFailures"]) == (3, [])
    assert world.evaluations.bodies == [
        {"kind": "page", "skip": 3, "triggered_by": "schedule"},
        {"kind": "customer", "customer_id": "cust_24", "triggered_by": "inv_late"},
    ]
    deliver(world, world.evaluations.bodies, LocalLambdaContext("alert_evaluator", timeout_seconds=120))
    assert len(world.notifications.bodies) == PAGE + 1
