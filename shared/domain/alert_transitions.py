"""Alert states, their transitions and the webhook body each transition sends (docs/alerts.md).

Each (alert, customer) of a low-balance alert and each (alert, contract) of a spend alert has a
state, `ok` or `in_alarm`, with a version counting its writes. A new one counts as `ok`:

| before            | condition holds | after    | sends                          |
|-------------------|-----------------|----------|--------------------------------|
| none              | no              | ok       | nothing (a contract's `ok` stays implicit) |
| none or ok        | yes             | in_alarm | `alerts.<alert_type>`          |
| in_alarm          | no              | ok       | `alerts.<alert_type>_resolved` |
| ok / in_alarm     | unchanged       | same     | nothing                        |

The body's `id` is derived from the alert, the subject and the version the transition writes, so
a retry, an overlapping run or the re-queue of a transition whose run crashed produce the same id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from shared.domain.alerts import LOW_BALANCE, Alert, AlertStatus
from shared.domain.id_keys import digest
from shared.domain.money import format_amount
from shared.domain.timestamps import format_timestamp

SCHEDULE = "schedule"  # `triggered_by` of a scheduled run (else the id of the write that caused it)


@dataclass(frozen=True)
class AlertState:
    """A stored state. `pending` is the body of a transition written but not yet confirmed queued."""

    alert_id: str
    customer_id: str
    contract_id: str | None  # None: the customer's own state (a spend alert's: that it was evaluated)
    status: AlertStatus
    version: int
    evaluated_at: datetime  # when its last transition was evaluated: a state is written only by one
    pending: str | None = None
    pending_since: datetime | None = None
    # `schedule` or the id of the write whose evaluation made its last transition (None: a state
    # written before this was kept)
    triggered_by: str | None = None


@dataclass(frozen=True)
class Transition:
    status: AlertStatus  # the state after it
    version: int  # the state's version once written (the previous one + 1)
    notifies: bool  # whether it sends a webhook (a first `ok` does not)


def decide(previous: AlertState | None, firing: bool, *, record_first_ok: bool) -> Transition | None:
    """The transition a fresh evaluation makes from `previous`, or None when nothing is written."""
    after: AlertStatus = "in_alarm" if firing else "ok"
    version = (previous.version if previous is not None else 0) + 1
    if previous is None:
        if firing:
            return Transition(after, version, notifies=True)
        return Transition(after, version, notifies=False) if record_first_ok else None
    if previous.status == after:
        return None
    return Transition(after, version, notifies=True)


def notification_id(alert_id: str, customer_id: str, contract_id: str | None, version: int) -> str:
    subject = json.dumps([alert_id, customer_id, contract_id, version], ensure_ascii=False)
    return f"ntf_{digest(subject)}"


def notification_body(
    alert: Alert,
    customer_id: str,
    contract_id: str | None,
    transition: Transition,
    value: Decimal,
    triggered_by: str,
    at: datetime,
) -> dict[str, Any]:
    """The webhook body: every property present; amounts at the currency's minor units; a
    `_resolved` body carries the value that resolved it."""
    balance_alert = alert.alert_type == LOW_BALANCE
    amount = format_amount(value, alert.currency)
    suffix = "" if transition.status == "in_alarm" else "_resolved"
    return {
        "id": notification_id(alert.id, customer_id, contract_id, transition.version),
        "type": f"alerts.{alert.alert_type}{suffix}",
        "properties": {
            "customer_id": customer_id,
            "contract_id": None if balance_alert else contract_id,
            "alert_id": alert.id,
            "alert_name": alert.name,
            "threshold": format_amount(alert.threshold, alert.currency),
            "currency": alert.currency,
            "current_spend": None if balance_alert else amount,
            "remaining_balance": amount if balance_alert else None,
            "triggered_by": triggered_by,
            "timestamp": format_timestamp(at),
        },
    }
