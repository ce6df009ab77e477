"""Azure Marketplace listings (docs/listings.md, "Azure"): a buyer's landing, the activation that
completing their registration needs, and the SaaS webhook.

The webhook's bearer token is checked before anything else; then the operation is read back from
Microsoft and that reading decides (`shared.domain.azure_operations`), never the body. Changes go
through `marketplace_subscriptions.change_subscription` (source `azure_webhook`, the operation's
id), ChangePlan / ChangeQuantity are acknowledged once applied, and every handled operation is
remembered, so the same operation delivered again changes nothing. An operation for no known
buyer is kept as unmatched.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from shared.domain.audit import Caller
from shared.domain.azure_operations import SubscriptionChange as OperationChange
from shared.domain.azure_operations import subscription_change
from shared.domain.providers import AzureMarketplaceProviderConfiguration
from shared.domain.registrations import AzureIdentifiers, Registration
from shared.domain.subscriptions import SubscriptionChange
from shared.domain.types import Identifier
from shared.domain.validation import MAX_JSON_DEPTH, FieldError, too_deep
from shared.ports.marketplace_listing import AzureFulfillment, AzureOperationNotFound
from shared.services.api_dependencies import AZURE_LANDING, ApiDependencies
from shared.services.api_registrations import Landing, NotConfigured, configured, keep_registration, listing
from shared.services.marketplace_subscriptions import (
    SubscriptionDependencies,
    change_registration,
    change_subscription,
)

SOURCE = "azure_webhook"
Outcome = Literal["changed", "unchanged", "unmatched", "duplicate"]


def land_azure(deps: ApiDependencies, caller: Caller, token: str) -> Landing:
    """Resolve the landing token with Microsoft, then keep a pending registration; the same SaaS
    subscription again is the registration it made before."""
    settings = listing(deps)
    resolved = configured(settings.azure, "Azure Marketplace landings").resolve(token)
    identifiers = AzureIdentifiers(
        azure_subscription_id=resolved.subscription_id,
        azure_plan_id=resolved.plan_id,
        azure_quantity=resolved.quantity or None,  # 0 or absent: the plan is not per seat
        azure_offer_id=resolved.offer_id,
        purchaser_email=resolved.purchaser_email,
        beneficiary_email=resolved.beneficiary_email,
    )
    return keep_registration(deps, caller, AZURE_LANDING, settings, identifiers)


def azure_activation(fulfillment: AzureFulfillment) -> Callable[[Registration], None]:
    """What completing an Azure registration calls first: activate its plan and quantity."""

    def activate(registration: Registration) -> None:
        identifiers = registration.identifiers
        if not isinstance(identifiers, AzureIdentifiers):
            raise TypeError(f"registration {registration.id} is not an Azure Marketplace one")
        fulfillment.activate(identifiers.azure_subscription_id, identifiers.azure_plan_id, identifiers.azure_quantity)

    return activate


@dataclass(frozen=True)
class WebhookNotice:
    """What the webhook's body names: the operation to read back, and its SaaS subscription."""

    operation_id: str
    subscription_id: str


@dataclass
class WebhookResult:
    operation_id: str
    subscription_id: str
    outcome: Outcome
    action: str | None = None
    reason: str | None = None
    customers: list[str] = field(default_factory=list)  # whose configuration changed
    registrations: list[str] = field(default_factory=list)  # pending ones that changed
    acknowledged: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "operation_id": self.operation_id, "subscription_id": self.subscription_id, "action": self.action,
            "outcome": self.outcome, "reason": self.reason, "customers": self.customers,
            "registrations": self.registrations, "acknowledged": self.acknowledged,
        }  # fmt: skip


class _Notice(BaseModel):
    """The part of Microsoft's webhook body that is read (the rest is read back from Microsoft)."""

    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    id: Identifier
    subscriptionId: Identifier  # Microsoft's name


def parse_notice(body: str) -> WebhookNotice:
    """The body's `id` (the operation) and `subscriptionId`; a FieldError naming what is wrong."""
    deep = f"the request body is nested deeper than {MAX_JSON_DEPTH} levels"
    try:
        document = json.loads(body) if body.strip() else None
    except RecursionError:
        raise FieldError(None, deep) from None
    except ValueError:
        raise FieldError(None, "the webhook's body is not JSON") from None
    if too_deep(document) is not None:
        raise FieldError(None, deep)
    if not isinstance(document, dict):
        raise FieldError(None, "the webhook's body must be a JSON object naming the operation")
    try:
        notice = _Notice.model_validate(document)
    except ValidationError as error:
        detail = error.errors()[0]
        field_name = str(detail["loc"][0]) if detail["loc"] else None
        what = {"id": "the operation's id", "subscriptionId": "the SaaS subscription's id"}.get(field_name or "", "")
        raise FieldError(field_name, f"{what}: {detail['msg']}".strip(": ")) from None
    return WebhookNotice(notice.id, notice.subscriptionId)


def handle_azure_webhook(
    deps: ApiDependencies, authorization: str | None, read_body: Callable[[], str]
) -> WebhookResult:
    """WebhookTokenRefused before the body is read; RetryableError when Microsoft cannot be asked
    (nothing is remembered then: the redelivery does it all again)."""
    settings = listing(deps)
    if settings.azure is None or settings.azure_webhook_tokens is None:
        raise NotConfigured("the Azure Marketplace webhook is not configured for this API")
    settings.azure_webhook_tokens.check(authorization)
    body = read_body()
    notice = parse_notice(body)
    store, now = deps.store, deps.clock()
    if store.marketplace_operation_done(SOURCE, notice.operation_id):
        return WebhookResult(notice.operation_id, notice.subscription_id, "duplicate",
                             reason="this operation was handled already")  # fmt: skip
    try:
        operation = settings.azure.operation(notice.subscription_id, notice.operation_id)
    except AzureOperationNotFound as missing:
        store.record_unmatched(SOURCE, notice.operation_id, now, body)
        return WebhookResult(notice.operation_id, notice.subscription_id, "unmatched", reason=str(missing))
    change = subscription_change(operation, now)
    result = WebhookResult(operation.operation_id, operation.subscription_id, "unchanged", operation.action,
                           change.reason)  # fmt: skip
    found = store.find_buyers(f"azure#{operation.subscription_id}")
    customers = [c.id for c in found.customers if _holds(c.configuration_for("azure_marketplace"), operation)]
    waiting = [r for r in found.registrations if r.status == "pending"]
    if not customers and not waiting:
        store.record_unmatched(SOURCE, operation.operation_id, now, body)
        result.outcome, result.reason = "unmatched", "no customer or pending registration holds this SaaS subscription"
    elif change.changes_anything:
        subscriptions = SubscriptionDependencies(store, deps.clock, deps.new_id)
        applied = _applied(change)
        result.customers = [
            c for c in customers if change_subscription(subscriptions, c, "azure_marketplace", applied) is not None
        ]
        for registration in waiting:
            if change_registration(subscriptions, registration.id, lambda r: _registration_change(r, change),
                                   change.source, change.operation_id):  # fmt: skip
                result.registrations.append(registration.id)
        if result.customers or result.registrations:
            result.outcome = "changed"
    if change.acknowledge and result.outcome != "unmatched":
        settings.azure.acknowledge(operation.subscription_id, operation.operation_id)
        result.acknowledged = True
    store.remember_marketplace_operation(SOURCE, operation.operation_id, now, result.outcome)
    return result


def _holds(configuration: object, operation: Any) -> bool:
    return (
        isinstance(configuration, AzureMarketplaceProviderConfiguration)
        and configuration.configuration.azure_subscription_id == operation.subscription_id
    )


def _applied(change: OperationChange) -> SubscriptionChange:
    return SubscriptionChange(
        status=change.status, at=change.changed_at, source=change.source, operation_id=change.operation_id,
        configuration=dict(change.configuration), event_id=change.operation_id,
    )  # fmt: skip


def _registration_change(registration: Registration, change: OperationChange) -> Registration | None:
    """A registration still waiting for its customer takes the new plan or quantity (its activation
    asks for what is purchased now); unsubscribed before completion, it fails."""
    if registration.status != "pending":
        return None
    if change.status == "unsubscribed":
        reason = f"Azure Marketplace unsubscribed the SaaS subscription (operation {change.operation_id})"
        return registration.model_copy(update={"status": "failed", "reason": reason})
    identifiers = registration.identifiers.model_copy(update=dict(change.configuration))
    return (
        None
        if identifiers == registration.identifiers
        else registration.model_copy(update={"identifiers": identifiers})
    )
