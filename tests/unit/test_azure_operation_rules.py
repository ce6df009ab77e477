"""What an Azure SaaS operation, as read back, changes (shared/domain/azure_operations.py): every
action Microsoft documents against every operation status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.azure_operations import AzureOperation, SubscriptionChange, subscription_change

RECEIVED = datetime(2026, 12, 1, 10, 30, tzinfo=UTC)
STAMPED = RECEIVED - timedelta(seconds=3)
ACTIONS = ["ChangePlan", "ChangeQuantity", "Suspend", "Reinstate", "Unsubscribe", "Renew", "Subscribe"]
STATUSES = ["NotStarted", "InProgress", "Succeeded", "Failed", "Conflict"]

# action -> (status, configuration) when the operation stands; acknowledged only while still open
EFFECT: dict[str, tuple[str | None, dict[str, Any]]] = {
    "ChangePlan": (None, {"azure_plan_id": "platinum"}),
    "ChangeQuantity": (None, {"azure_quantity": 12}),
    "Suspend": ("suspended", {}),
    "Reinstate": ("active", {}),
    "Unsubscribe": ("unsubscribed", {}),
    "Renew": (None, {}),
    "Subscribe": (None, {}),
}


def operation(action: str, status: str, **fields: Any) -> AzureOperation:
    fields.setdefault("plan_id", "platinum")
    fields.setdefault("quantity", 12)
    fields.setdefault("time_stamp", STAMPED)
    return AzureOperation("op-1", "sub-1", action, status, **fields)


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("action", ACTIONS)
def test_every_action_in_every_status(action: str, status: str) -> None:
    change = subscription_change(operation(action, status), RECEIVED)

    assert (change.operation_id, change.subscription_id, change.action) == ("op-1", "sub-1", action)
    assert (change.changed_at, change.source) == (STAMPED, "azure_webhook")
    if status in ("Failed", "Conflict"):
        assert (change.status, dict(change.configuration), change.acknowledge) == (None, {}, False)
        assert change.reason == f"the operation is {status}: Azure did not make the change"
        return
    expected_status, expected_configuration = EFFECT[action]
    assert change.status == expected_status
    assert dict(change.configuration) == expected_configuration
    assert change.changes_anything == (expected_status is not None or bool(expected_configuration))
    assert change.acknowledge == (action in ("ChangePlan", "ChangeQuantity") and status != "Succeeded")
    assert (change.reason is None) == change.changes_anything


@pytest.mark.parametrize(
    ("op", "reason"),
    [
        (operation("Suspend", "Pending"), "the operation's status 'Pending' is not one Microsoft documents"),
        (operation("Transfer", "Succeeded"), "the action 'Transfer' is not one Microsoft documents"),
        (operation("ChangePlan", "InProgress", plan_id=None), "the ChangePlan operation names no planId"),
        (operation("ChangeQuantity", "InProgress", quantity=None), "no quantity of 1 or more"),
        (operation("ChangeQuantity", "InProgress", quantity=0), "no quantity of 1 or more"),
    ],
)
def test_what_cannot_be_understood_changes_nothing_and_says_why(op: AzureOperation, reason: str) -> None:
    change = subscription_change(op, RECEIVED)

    assert not change.changes_anything
    assert not change.acknowledge
    assert change.reason is not None
    assert reason in change.reason


def test_changed_at_is_the_operations_time_stamp_but_never_after_it_was_received() -> None:
    later = subscription_change(operation("Unsubscribe", "Succeeded", time_stamp=RECEIVED + timedelta(hours=2)),
                                RECEIVED)  # fmt: skip
    unstamped = subscription_change(operation("Unsubscribe", "Succeeded", time_stamp=None), RECEIVED)

    assert later.changed_at == RECEIVED
    assert unstamped.changed_at == RECEIVED


@given(action=st.text(max_size=20) | st.sampled_from(ACTIONS), status=st.text(max_size=20) | st.sampled_from(STATUSES),
       plan=st.none() | st.text(max_size=5), quantity=st.none() | st.integers(-5, 5))  # fmt: skip
def test_any_operation_gives_one_change_and_only_open_plan_or_quantity_changes_are_acknowledged(
    action: str, status: str, plan: str | None, quantity: int | None
) -> None:
    change = subscription_change(operation(action, status, plan_id=plan, quantity=quantity), RECEIVED)

    assert isinstance(change, SubscriptionChange)
    assert change.changes_anything != (change.reason is not None)
    if change.acknowledge:
        assert action in ("ChangePlan", "ChangeQuantity")
        assert status in ("NotStarted", "InProgress")
        assert change.configuration
    if change.status is not None:
        assert status in ("NotStarted", "InProgress", "Succeeded")
