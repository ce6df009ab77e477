"""A marketplace buyer's subscription state and the rules that follow from it (docs/listings.md).

The state lives on the customer's `aws_marketplace` / `azure_marketplace` configuration as its
read-only `subscription`: set `active` when the configuration is created through the API or from a
registration, then moved only by the marketplace (AWS events and SNS actions, Azure's webhook).
Metering follows it: `active` sends, `suspended` holds, `unsubscribed` sends only hours that
started before it. No I/O here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.timestamps import format_timestamp
from shared.domain.types import Timestamp

SubscriptionStatus = Literal["active", "suspended", "unsubscribed"]
SubscriptionSource = Literal["api", "aws_event", "aws_sns", "azure_webhook"]
SourceId = Annotated[str, Field(min_length=1, max_length=256)]


class Subscription(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    status: SubscriptionStatus
    changed_at: Timestamp
    source: SubscriptionSource
    agreement_id: SourceId | None = Field(default=None, description="the AWS agreement that caused the change")
    operation_id: SourceId | None = Field(default=None, description="the Azure operation that caused the change")


def created_through_api(at: datetime) -> Subscription:
    """A marketplace configuration created through the API (or from a registration) is active."""
    return Subscription(status="active", changed_at=at.replace(microsecond=0), source="api")


@dataclass(frozen=True)
class SubscriptionChange:
    """ "The subscription of this configuration becomes `status` at `at`, from `source`", with the
    configuration keys the marketplace changed along with it (a licence ARN, a plan, a quantity).
    `status` None changes only those keys."""

    status: SubscriptionStatus | None
    at: datetime
    source: SubscriptionSource
    agreement_id: str | None = None
    operation_id: str | None = None
    configuration: Mapping[str, Any] = field(default_factory=dict)
    event_id: str | None = None  # the event (AWS event or SNS message, Azure operation) it came in: audited

    def describe(self) -> str:
        what = f"subscription {self.status}" if self.status else "configuration update"
        return f"{what} at {format_timestamp(self.at)} from {self.source}"


def changed_subscription(current: Subscription | None, change: SubscriptionChange) -> Subscription | None:
    """The new state, or None when `change` leaves it as it is: the same status again (a
    redelivered event), an Azure operation already applied, or an event older than the state."""
    if change.status is None:
        return None
    if current is not None:
        if change.operation_id is not None and change.operation_id == current.operation_id:
            return None
        if current.status == change.status or change.at < current.changed_at:
            return None
    return Subscription(
        status=change.status,
        changed_at=change.at.replace(microsecond=0),
        source=change.source,
        agreement_id=change.agreement_id,
        operation_id=change.operation_id,
    )


# -- metering ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class MeteringGate:
    """What the meter may do for an hour's record of this buyer: `send`, `hold` (suspended: wait,
    windows still expire) or `refuse` (after an unsubscription: never sent, its cents `failed`)."""

    action: Literal["send", "hold", "refuse"]
    reason: str | None = None


SEND = MeteringGate("send")


def metering_gate(
    subscription: Subscription | None, hour: datetime, arrived_at: datetime | None = None
) -> MeteringGate:
    """Whether a record for `hour` may be sent (a configuration without a state is active); with
    `arrived_at`, whether cents that arrived then may go into it."""
    if subscription is None or subscription.status == "active":
        return SEND
    since = format_timestamp(subscription.changed_at)
    if subscription.status == "suspended":
        return MeteringGate("hold", f"held: the marketplace subscription is suspended since {since}")
    if hour < subscription.changed_at and (arrived_at is None or arrived_at < subscription.changed_at):
        return SEND  # cents pending before the unsubscription still go, in hours that started before it
    return MeteringGate(
        "refuse", f"not metered: the marketplace subscription was unsubscribed at {since} ({subscription.source})"
    )
