"""Golden, table-driven alert scenarios: one row = the ledger, invoices and alerts changing over
time, with the exact webhooks each evaluator run queues (docs/alerts.md)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import time_machine

from shared.clock import utc_now
from shared.domain.alert_transitions import notification_id
from shared.services.alert_evaluation import PENDING_GRACE
from tests.alert_world import SPEND, World, alert

Step = Callable[[World], object]
LOW = "low_remaining_contract_credit_and_commit_balance_reached"
SPENT = "spend_threshold_reached"
APRIL = datetime(2025, 4, 1, tzinfo=UTC)


def at(moment: datetime) -> Step:
    return lambda world: setattr(world, "now", moment)


def steps(*actions: Step) -> Step:
    return lambda world: [action(world) for action in actions]


def nothing(world: World) -> None:
    return None


# (setup, [(what happens before a run, the webhooks that run queues: (type, contract, amount))])
SCENARIOS: dict[str, tuple[Step, list[tuple[Step, list[tuple[str, str | None, str | None]]]]]] = {
    "low balance fires, then a new commit resolves it": (
        steps(lambda w: w.commit("commit_a", "80.00"), lambda w: w.add_alert(alert("alert_low"))),
        [
            (nothing, [(LOW, None, "80.00")]),
            (nothing, []),  # steady: nothing
            (lambda w: w.commit("commit_b", "500.00"), [(f"{LOW}_resolved", None, "580.00")]),
            (nothing, []),
        ],
    ),
    "a positive manual entry resolves a low balance": (
        steps(lambda w: w.commit("commit_a", "150.00"), lambda w: w.add_alert(alert("alert_low"))),
        [
            (nothing, []),  # first evaluation: ok, nothing sent
            (lambda w: w.manual("commit_a", "-60.00"), [(LOW, None, "90.00")]),
            (lambda w: w.manual("commit_a", "25.00"), [(f"{LOW}_resolved", None, "115.00")]),
        ],
    ),
    "spend fires mid-period and resolves at the period's rollover": (
        steps(lambda w: w.contract("con_1"), lambda w: w.add_alert(alert("alert_spend", SPEND, "100.00"))),
        [
            (lambda w: w.invoice("inv_mar", "con_1", "40.00"), []),
            (lambda w: w.invoice("inv_mar", "con_1", "104.10", version=8), [(SPENT, "con_1", "104.10")]),
            (lambda w: w.invoice("inv_mar", "con_1", "150.00", version=9), []),  # still in alarm
            (at(APRIL), [(f"{SPENT}_resolved", "con_1", "0.00")]),  # a new period with no invoice reads 0
        ],
    ),
    "voiding the invoice resolves spend": (
        steps(lambda w: w.contract("con_1"), lambda w: w.add_alert(alert("alert_spend", SPEND, "100.00"))),
        [
            (lambda w: w.invoice("inv_mar", "con_1", "120.00"), [(SPENT, "con_1", "120.00")]),
            (
                lambda w: w.invoice("inv_mar", "con_1", "120.00", status="VOID", version=8),
                [(f"{SPENT}_resolved", "con_1", "0.00")],
            ),
        ],
    ),
    "a Contract filter selects the contracts a spend alert watches": (
        steps(
            lambda w: w.contract("con_gold", tier="gold"),
            lambda w: w.contract("con_silver", tier="silver"),
            lambda w: w.add_alert(alert("alert_gold", SPEND, "10.00", filters=(("Contract", "tier", "gold"),))),
            lambda w: w.invoice("inv_g", "con_gold", "20.00"),
            lambda w: w.invoice("inv_s", "con_silver", "20.00"),
        ),
        [(nothing, [(SPENT, "con_gold", "20.00")])],
    ),
    "a Contract filter selects the commits on matching contracts": (
        steps(
            lambda w: w.contract("con_gold", tier="gold"),
            lambda w: w.contract("con_silver", tier="silver"),
            lambda w: w.commit("commit_gold", "50.00", contract_id="con_gold"),
            lambda w: w.commit("commit_silver", "500.00", contract_id="con_silver"),
            lambda w: w.add_alert(alert("alert_low", filters=(("Contract", "tier", "gold"),))),
        ),
        [(nothing, [(LOW, None, "50.00")])],
    ),
    "a Commit filter counts matching commits only, and no credits": (
        steps(
            lambda w: w.commit("commit_ml", "40.00", team="ml"),
            lambda w: w.commit("commit_web", "900.00", team="web"),
            lambda w: w.commit("credit_ml", "900.00", kind="credit", team="ml"),
            lambda w: w.add_alert(alert("alert_low", filters=(("Commit", "team", "ml"),))),
        ),
        [(nothing, [(LOW, None, "40.00")])],
    ),
    "a ContractCredit filter counts matching credits only, and no commits": (
        steps(
            lambda w: w.commit("commit_ml", "10.00", team="ml"),
            lambda w: w.commit("credit_ml", "300.00", kind="credit", team="ml"),
            lambda w: w.add_alert(alert("alert_low", threshold="250.00", filters=(("ContractCredit", "team", "ml"),))),
        ),
        [(nothing, []), (lambda w: w.manual("credit_ml", "-100.00"), [(LOW, None, "200.00")])],
    ),
    "filters matching nothing: the customer is not evaluated": (
        steps(
            lambda w: w.commit("commit_a", "10.00", team="web"),
            lambda w: w.add_alert(alert("alert_low", filters=(("Commit", "team", "ml"),))),
            lambda w: w.contract("con_1", tier="silver"),
            lambda w: w.invoice("inv_1", "con_1", "999.00"),
            lambda w: w.add_alert(alert("alert_gold", SPEND, "1.00", filters=(("Contract", "tier", "gold"),))),
        ),
        [(nothing, [])],
    ),
    "two alerts on one customer fire and resolve on their own": (
        steps(
            lambda w: w.commit("commit_a", "150.00"),
            lambda w: w.add_alert(alert("alert_100", threshold="100.00")),
            lambda w: w.add_alert(alert("alert_200", threshold="200.00")),
        ),
        [
            (nothing, [(LOW, None, "150.00")]),  # alert_200 only
            (lambda w: w.manual("commit_a", "-60.00"), [(LOW, None, "90.00")]),  # alert_100 too
            (lambda w: w.manual("commit_a", "20.00"), [(f"{LOW}_resolved", None, "110.00")]),
        ],
    ),
    "an archived alert sends nothing, even when its condition changes": (
        steps(lambda w: w.commit("commit_a", "50.00"), lambda w: w.add_alert(alert("alert_low"))),
        [
            (nothing, [(LOW, None, "50.00")]),
            (lambda w: w.archive("alert_low"), []),
            (lambda w: w.commit("commit_b", "500.00"), []),
        ],
    ),
    "an alert for another customer leaves this one alone": (
        steps(lambda w: w.commit("commit_a", "50.00"), lambda w: w.add_alert(alert("a", customer_id="cust_other"))),
        [(nothing, [])],
    ),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario_queues_exactly_these_webhooks(name: str) -> None:
    setup, runs = SCENARIOS[name]
    world = World()
    world.customer()
    setup(world)
    for number, (change, expected) in enumerate(runs):
        change(world)
        before = len(world.notifications.bodies)
        world.run()
        assert world.sent()[before:] == expected, f"run {number}"


def spend_world(march_subtotal: str) -> World:
    """A customer with one contract, a spend alert at 100.00 and March's invoice."""
    world = World()
    world.customer()
    world.contract("con_1")
    world.add_alert(alert("alert_spend", SPEND, "100.00"))
    world.invoice("inv_mar", "con_1", march_subtotal)
    return world


def test_the_webhook_body_has_every_property_and_a_stable_id() -> None:
    world = spend_world("104.1")
    world.run()
    assert world.notifications.bodies == [
        {
            "id": notification_id("alert_spend", "cust_acme", "con_1", 1),
            "type": "alerts.spend_threshold_reached",
            "properties": {
                "customer_id": "cust_acme",
                "contract_id": "con_1",
                "alert_id": "alert_spend",
                "alert_name": "alert alert_spend",
                "threshold": "100.00",
                "currency": "USD",
                "current_spend": "104.10",
                "remaining_balance": None,
                "triggered_by": "schedule",
                "timestamp": "2025-03-15T00:00:00Z",
            },
        }
    ]


def test_overlapping_runs_send_each_transition_once() -> None:
    world = World()
    world.customer()
    world.commit("commit_a", "50.00")
    world.add_alert(alert("alert_low"))
    stale = World(now=world.now, store=world.store, notifications=world.notifications)
    # A second run reads the same states before the first one writes (it then loses the write).
    states_before = world.store.alert_states("cust_acme")
    original = world.store.alert_states
    world.store.alert_states = lambda customer_id: states_before  # type: ignore[method-assign]
    first = world.run()
    second = stale.run()
    world.store.alert_states = original  # type: ignore[method-assign]
    assert (first.notifications, second.notifications, second.conflicts) == (1, 0, 1)
    assert world.sent() == [(LOW, None, "50.00")]


def test_a_crash_between_store_and_queue_is_queued_by_a_later_run_with_the_same_id() -> None:
    world = World()
    world.customer()
    world.commit("commit_a", "50.00")
    world.add_alert(alert("alert_low"))

    class Down:
        def send(self, body: object, attributes: object = None) -> str:
            raise ConnectionError("the queue is unreachable")

    with pytest.raises(ConnectionError):
        world.run(notifications=Down())
    (state,) = world.store.alert_states("cust_acme")
    assert state.pending is not None
    world.run()  # too soon: the first run may still be queueing it
    assert world.sent() == []
    world.now += PENDING_GRACE
    world.run()
    assert world.notifications.bodies == [json.loads(state.pending)]
    world.run()
    assert len(world.notifications.bodies) == 1  # cleared: never again


def test_spend_reads_the_wall_clock_period_under_time_machine() -> None:
    world = spend_world("300.00")
    with time_machine.travel(datetime(2025, 3, 20, tzinfo=UTC), tick=False):
        world.run(clock=utc_now)
    with time_machine.travel(datetime(2025, 4, 2, tzinfo=UTC), tick=False):
        world.run(clock=utc_now)
    assert world.sent() == [(SPENT, "con_1", "300.00"), (f"{SPENT}_resolved", "con_1", "0.00")]
