"""What an Azure SaaS operation means for the buyer's subscription (pure; docs/marketplaces.md,
"Azure listings").

The webhook's body only says that something happened: the operation is read back from the
Fulfillment API and that reading decides. An operation whose `status` is `Failed` or `Conflict`
changes nothing (Microsoft did not make the change), nor does one in a status Microsoft does not
document. Otherwise:

| action | change |
|---|---|
| `ChangePlan` | configuration `azure_plan_id` = the operation's `planId` |
| `ChangeQuantity` | configuration `azure_quantity` = the operation's `quantity` |
| `Suspend` | subscription `suspended` |
| `Reinstate` | subscription `active` |
| `Unsubscribe` | subscription `unsubscribed` |
| `Renew`, `Subscribe` | nothing (the subscription goes on as it is) |

Only `ChangePlan` and `ChangeQuantity` are acknowledged (a PATCH `{"status": "Success"}` once the
change is applied), and only while the operation is still open (`NotStarted`, `InProgress`):
Microsoft accepts them by itself after ten seconds, and an operation it already settled answers
a PATCH with 409.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

SubscriptionStatus = Literal["active", "suspended", "unsubscribed"]

OPEN_STATUSES = frozenset({"NotStarted", "InProgress"})
APPLIED_STATUSES = OPEN_STATUSES | {"Succeeded"}
FAILED_STATUSES = frozenset({"Failed", "Conflict"})
ACKNOWLEDGED_ACTIONS = frozenset({"ChangePlan", "ChangeQuantity"})
_STATUS_OF: dict[str, SubscriptionStatus] = {"Suspend": "suspended", "Reinstate": "active",
                                              "Unsubscribe": "unsubscribed"}  # fmt: skip
_NOTHING_TO_DO = frozenset({"Renew", "Subscribe"})


@dataclass(frozen=True)
class AzureOperation:
    """An operation as `GET …/subscriptions/{subscriptionId}/operations/{operationId}` answers it."""

    operation_id: str
    subscription_id: str
    action: str
    status: str
    plan_id: str | None = None
    quantity: int | None = None
    time_stamp: datetime | None = None


@dataclass(frozen=True)
class SubscriptionChange:
    """What applying an operation does: a new `status`, configuration keys, or nothing (`reason`
    says why). `acknowledge`: PATCH the operation `Success` after applying it."""

    operation_id: str
    subscription_id: str
    action: str
    changed_at: datetime
    status: SubscriptionStatus | None = None
    configuration: Mapping[str, str | int] = field(default_factory=dict)
    acknowledge: bool = False
    reason: str | None = None
    source: Literal["azure_webhook"] = "azure_webhook"

    @property
    def changes_anything(self) -> bool:
        return self.status is not None or bool(self.configuration)


def subscription_change(operation: AzureOperation, received_at: datetime) -> SubscriptionChange:
    """The change `operation` means. `changed_at` is the operation's `timeStamp`, never later than
    `received_at` (a skewed clock must not move an unsubscription later and meter more hours)."""
    changed_at = received_at.astimezone(UTC)
    if operation.time_stamp is not None:
        changed_at = min(changed_at, operation.time_stamp.astimezone(UTC))

    def change(**effect: Any) -> SubscriptionChange:
        return SubscriptionChange(operation.operation_id, operation.subscription_id, operation.action, changed_at,
                                  **effect)  # fmt: skip

    status = operation.status
    if status in FAILED_STATUSES:
        return change(reason=f"the operation is {status}: Azure did not make the change")
    if status not in APPLIED_STATUSES:
        return change(reason=f"the operation's status {status!r} is not one Microsoft documents")
    acknowledge = operation.action in ACKNOWLEDGED_ACTIONS and status in OPEN_STATUSES
    if operation.action == "ChangePlan":
        if not operation.plan_id:
            return change(reason="the ChangePlan operation names no planId")
        return change(configuration={"azure_plan_id": operation.plan_id}, acknowledge=acknowledge)
    if operation.action == "ChangeQuantity":
        if operation.quantity is None or operation.quantity < 1:
            return change(reason="the ChangeQuantity operation names no quantity of 1 or more")
        return change(configuration={"azure_quantity": operation.quantity}, acknowledge=acknowledge)
    if operation.action in _STATUS_OF:
        return change(status=_STATUS_OF[operation.action])
    if operation.action in _NOTHING_TO_DO:
        return change(reason=f"{operation.action} changes nothing: the subscription goes on")
    return change(reason=f"the action {operation.action!r} is not one Microsoft documents")
