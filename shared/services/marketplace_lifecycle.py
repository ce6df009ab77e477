"""Use case: one AWS Marketplace lifecycle message (docs/listings.md, "AWS lifecycle").

The message is matched to the buyers it names through the buyer index — agreement events on the
agreement id and the acceptor account, licence events on the licence id (`l-…`) and the account,
SNS actions on the product code and customer identifier — and each matching configuration's
subscription changes through `marketplace_subscriptions.change_subscription` (a waiting
registration's through `change_registration`; both audited with the message's id). A well-formed
message that names no known configuration or registration is kept as unmatched (never replayed: a
later registration resolves the buyer's current state itself), and so is a new agreement that names
no product when its account holds more than one configuration or registration: which one it is for
cannot be told, and guessing would record it on the wrong one. A handled message's id is
remembered (`OPERATION#<source>`), so a redelivery changes nothing and adds no audit entry even
after a later message changed the same buyer again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from shared.domain.aws_lifecycle import LifecycleMessage, parse_event, parse_sns_body
from shared.domain.customers import Customer
from shared.domain.providers import AwsMarketplaceConfiguration, AwsMarketplaceProviderConfiguration
from shared.domain.registrations import AwsIdentifiers, Registration, licence_id
from shared.domain.subscriptions import SubscriptionChange, SubscriptionStatus
from shared.domain.validation import FieldError, clipped
from shared.ports.queues import MessageQueue
from shared.services.marketplace_subscriptions import (
    SubscriptionDependencies,
    change_registration,
    change_subscription,
)

_STATUS: dict[str, SubscriptionStatus] = {
    "agreement_ended": "unsubscribed",
    "license_deprovisioned": "unsubscribed",
    "subscribe-success": "active",
    "unsubscribe-success": "unsubscribed",
}


@dataclass
class LifecycleResult:
    outcome: Literal["changed", "unchanged", "unmatched"]
    customers: list[str] = field(default_factory=list)  # whose configuration changed
    registrations: list[str] = field(default_factory=list)  # that changed
    reason: str | None = None  # why nothing changed, when there is more to say than "nothing to change"


def handle_lifecycle_message(deps: SubscriptionDependencies, message: LifecycleMessage, raw: str) -> LifecycleResult:
    if message.account is not None:
        partition = f"aws#{message.account}"
    else:
        partition = f"aws-legacy#{message.product_code}#{message.customer_identifier}"
    if deps.store.marketplace_operation_done(message.source, message.message_id):
        return LifecycleResult("unchanged", reason="this event was handled already")  # a redelivery, however late
    found = deps.store.find_buyers(partition)
    customers = [(c, aws) for c in found.customers if (aws := _aws(c)) is not None and _matches(message, aws)]
    waiting = [
        r
        for r in found.registrations
        if r.status == "pending" and isinstance(r.identifiers, AwsIdentifiers) and _matches(message, r.identifiers)
    ]
    if not customers and not waiting:
        deps.store.record_unmatched(message.source, message.message_id, message.at, raw)
        return LifecycleResult("unmatched")
    if message.kind == "agreement_created" and message.product_code is None and len(customers) + len(waiting) > 1:
        deps.store.record_unmatched(message.source, message.message_id, message.at, raw)
        reason = (
            f"the agreement {message.agreement_id} names no product and account {message.account} holds"
            f" {len(customers) + len(waiting)} AWS Marketplace configurations or pending registrations:"
            " it cannot be attributed"
        )
        return LifecycleResult("unmatched", reason=reason)
    result = LifecycleResult("unchanged")
    if message.continues or message.kind == "unsubscribe-pending":
        return result  # another agreement goes on / the final hour's metering still goes
    keys = _configuration_keys(message)
    status = _STATUS.get(message.kind)
    if status is not None or keys:
        change = SubscriptionChange(
            status=status, at=message.at, source=message.source, agreement_id=message.agreement_id,
            configuration=keys, event_id=message.message_id,
        )  # fmt: skip
        for customer, _ in customers:
            if change_subscription(deps, customer.id, "aws_marketplace", change) is not None:
                result.customers.append(customer.id)
    for registration in waiting:
        if change_registration(
            deps, registration.id, lambda r: _registration_change(r, message), message.source, message.message_id
        ):
            result.registrations.append(registration.id)
    if result.customers or result.registrations:
        result.outcome = "changed"
    deps.store.remember_marketplace_operation(message.source, message.message_id, deps.clock(), result.outcome)
    return result


def _aws(customer: Customer) -> AwsMarketplaceConfiguration | None:
    configuration = customer.configuration_for("aws_marketplace")
    return configuration.configuration if isinstance(configuration, AwsMarketplaceProviderConfiguration) else None


def _matches(message: LifecycleMessage, held: AwsMarketplaceConfiguration | AwsIdentifiers) -> bool:
    """Whether the message is about this configuration (or registration) of its buyer partition."""
    if message.kind == "agreement_created":  # records the agreement on what that account has
        return message.product_code is None or message.product_code == held.aws_product_code
    if message.kind == "agreement_ended":
        return held.aws_agreement_id == message.agreement_id
    if message.kind in {"license_updated", "license_deprovisioned"}:
        return licence_id(held.aws_license_arn) == message.licence_id
    return held.aws_product_code == message.product_code and held.aws_customer_id == message.customer_identifier


def _configuration_keys(message: LifecycleMessage) -> dict[str, Any]:
    if message.kind == "agreement_created":
        return {"aws_agreement_id": message.agreement_id}
    if message.kind == "license_updated":
        return {"aws_license_arn": message.licence_arn}
    return {}


def _registration_change(registration: Registration, message: LifecycleMessage) -> Registration | None:
    if registration.status != "pending":
        return None
    if message.kind == "subscribe-fail":
        return registration.model_copy(
            update={
                "status": "failed",
                "reason": f"AWS Marketplace reported subscribe-fail at {message.at:%Y-%m-%dT%H:%M:%SZ}",
            }
        )
    keys = _configuration_keys(message)
    if not keys:
        return None
    identifiers = registration.identifiers.model_copy(update=keys)
    return (
        None
        if identifiers == registration.identifiers
        else registration.model_copy(update={"identifiers": identifiers})
    )


# -- the function's two inputs ------------------------------------------------------------------


@dataclass(frozen=True)
class LifecycleDependencies:
    subscriptions: SubscriptionDependencies
    dead_letters: MessageQueue  # the function's DLQ: malformed messages, with the reason beside them


Handled = Literal["changed", "unchanged", "unmatched", "malformed"]


def handle_event(deps: LifecycleDependencies, event: Mapping[str, Any]) -> tuple[Handled, str | None]:
    """An EventBridge event (`aws.agreement-marketplace`): its outcome, and the reason when malformed."""
    try:
        message = parse_event(event)
    except FieldError as malformed:
        return _dead_letter(deps, dict(event), malformed, "aws_event")
    raw = json.dumps(event, separators=(",", ":"), sort_keys=True, default=str)
    result = handle_lifecycle_message(deps.subscriptions, message, raw)
    return result.outcome, result.reason


def handle_sqs_body(deps: LifecycleDependencies, body: str) -> tuple[Handled, str | None]:
    """One SQS message of the SNS subscription queue."""
    try:
        message = parse_sns_body(body)
    except FieldError as malformed:
        return _dead_letter(deps, {"body": body}, malformed, "aws_sns")
    result = handle_lifecycle_message(deps.subscriptions, message, body)
    return result.outcome, result.reason


def _dead_letter(
    deps: LifecycleDependencies, body: dict[str, Any], malformed: FieldError, source: str
) -> tuple[Handled, str]:
    reason = f"malformed {source} message: {malformed}"
    attributes = {"source": "marketplace_lifecycle", "reason": reason}
    if malformed.field:
        attributes["field"] = malformed.field
    deps.dead_letters.send(clipped(body), attributes=attributes)
    return "malformed", reason
