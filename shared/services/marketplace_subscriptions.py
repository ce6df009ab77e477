"""Use case: "the subscription of customer C's P configuration becomes S at T, from source Y",
and its sibling for a registration still waiting for its customer.

The one place every marketplace change goes through (AWS events and SNS actions, the Azure
webhook): it applies `shared.domain.subscriptions.changed_subscription`, updates the configuration
keys the marketplace changed with it, and audits the change in the same write (actor
`marketplace:<source>`, the event's id). A change that changes nothing (a redelivery, an older
event) writes nothing, so a redelivered event never adds a second entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from shared.clock import Clock
from shared.domain.audit import AuditEntry, Caller
from shared.domain.customers import Customer
from shared.domain.providers import MarketplaceConfiguration, ProviderConfiguration
from shared.domain.registrations import MarketplaceName
from shared.domain.subscriptions import SubscriptionChange, SubscriptionSource, changed_subscription
from shared.ports.registration_store import RegistrationChange
from shared.ports.store import MarketplaceLifecycleStore

SUBSCRIPTION_CHANGE_ACTION = "marketplaceSubscription.change"
REGISTRATION_CHANGE_ACTION = "marketplaceRegistration.change"


@dataclass(frozen=True)
class SubscriptionDependencies:
    store: MarketplaceLifecycleStore
    clock: Clock
    new_id: Callable[[str], str]


class _Unchanged(Exception):
    """Raised from inside the store's read-change-write: nothing to write."""


def change_subscription(
    deps: SubscriptionDependencies, customer_id: str, provider: MarketplaceName, change: SubscriptionChange
) -> Customer | None:
    """Apply `change` to the customer's `provider` configuration; the updated customer, or None when
    nothing changed (or the customer or configuration is gone)."""

    def changed(current: Customer) -> list[ProviderConfiguration]:
        configuration = current.configuration_for(provider)
        if not isinstance(configuration, MarketplaceConfiguration):
            raise _Unchanged
        subscription = changed_subscription(configuration.subscription, change)
        keys = {key: value for key, value in change.configuration.items() if value is not None}
        stored_keys = configuration.configuration.model_dump()
        new_keys = {**stored_keys, **keys}
        if subscription is None and new_keys == stored_keys:
            raise _Unchanged
        updated = configuration.model_copy(
            update={
                "configuration": type(configuration.configuration).model_validate(new_keys),
                "subscription": subscription or configuration.subscription,
            }
        )
        return [updated if c.billing_provider == provider else c for c in current.billing_provider_configurations]

    audit = _marketplace_audit(
        deps, SUBSCRIPTION_CHANGE_ACTION, "customer", customer_id, change.source, change.event_id
    )
    try:
        return deps.store.update_provider_configurations(customer_id, changed, audit)
    except _Unchanged:
        return None


def change_registration(
    deps: SubscriptionDependencies,
    registration_id: str,
    change: RegistrationChange,
    source: SubscriptionSource,
    event_id: str,
) -> bool:
    """Apply `change` to a registration (a pending one taking a new agreement, licence, plan or
    quantity, or failing) with its audit entry in the same write; whether it changed."""
    audit = _marketplace_audit(deps, REGISTRATION_CHANGE_ACTION, "registration", registration_id, source, event_id)
    result = deps.store.update_registration(registration_id, change, audit)
    return result is not None and result.changed


def _marketplace_audit(
    deps: SubscriptionDependencies,
    action: str,
    resource_type: str,
    resource_id: str,
    source: SubscriptionSource,
    event_id: str | None,
) -> AuditEntry:
    return AuditEntry.for_call(
        entry_id=deps.new_id("audit"),
        at=deps.clock(),
        caller=Caller(actor=f"marketplace:{source}", ip_address=None, user_agent=None),
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        status_code=200,
        event_id=event_id,
    )
