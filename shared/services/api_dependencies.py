"""What every API use case is given: the store, the clock, an id source, the caller's audit fields.

Also the audited actions: each mutating call has one, and its entry is written with the change
(success) or alone (failure, see `record_failed_call`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.clock import Clock
from shared.domain.audit import AuditEntry, Caller
from shared.ports.store import ApiStore

if TYPE_CHECKING:
    from shared.domain.registrations import Registration
    from shared.ports.marketplace_listing import AwsCustomerResolver, AzureFulfillment, AzureWebhookTokens

IdSource = Callable[[str], str]


def random_id(prefix: str) -> str:
    """`cust_3f9c…`: a prefix naming the kind of thing, then 32 random hex digits."""
    return f"{prefix}_{uuid.uuid4().hex}"


@dataclass(frozen=True)
class ApiDependencies:
    store: ApiStore
    clock: Clock
    new_id: IdSource
    api_token: Callable[[], str]  # the expected bearer token (cached by its source)
    dashboards: DashboardConfig | None = None  # None: the dashboard routes answer that they are not set up
    # Asks for a customer's alert evaluation after a ledger-changing write (customer id, write id);
    # None: alerts see the write at the evaluator's next scheduled run.
    alert_requests: Callable[[str, str], None] | None = None
    marketplace: MarketplaceListing | None = None  # None: the landings answer that they are not set up


@dataclass(frozen=True)
class MarketplaceListing:
    """How buyers land from the marketplaces and registrations are completed (docs/listings.md)."""

    aws: AwsCustomerResolver | None = None  # ResolveCustomer
    aws_region: str = "us-east-1"  # AWS_MARKETPLACE_REGION: the region of the configurations made
    signup_url: str | None = None  # MARKETPLACE_SIGNUP_URL: where a landed buyer is sent (303)
    # Azure's activation of a subscription, before a completion writes anything (ActivationFailed
    # to refuse); None: Azure registrations cannot be completed by this API.
    activate_azure: Callable[[Registration], None] | None = None
    azure: AzureFulfillment | None = None  # resolve (the landing), operations (the webhook)
    azure_webhook_tokens: AzureWebhookTokens | None = None  # the webhook's Entra token check


@dataclass(frozen=True)
class DashboardConfig:
    """How dashboard links are signed and where their pages may be framed (docs/dashboards.md)."""

    signing_key: Callable[[], str]  # the signing secret (cached by its source)
    frame_ancestors: str = "'self'"  # the pages' CSP frame-ancestors sources
    base_url: str | None = None  # the links' base when the API is reached through a custom domain


@dataclass(frozen=True)
class AuditedAction:
    name: str  # `customers.create`: also the route's OpenAPI operationId
    resource_type: str


CUSTOMERS_CREATE = AuditedAction("customers.create", "customer")
CONFIGURATIONS_SET = AuditedAction("billingProviderConfigurations.set", "customer")
CONTRACTS_CREATE = AuditedAction("contracts.create", "contract")
CONTRACTS_UPDATE_END_DATE = AuditedAction("contracts.updateEndDate", "contract")
PRODUCTS_CREATE = AuditedAction("products.create", "product")
COMMITS_CREATE = AuditedAction("customerCommits.create", "commit")
CREDITS_CREATE = AuditedAction("customerCredits.create", "credit")
MANUAL_ENTRY_ADD = AuditedAction("addManualBalanceLedgerEntry", "ledger_entry")
AUDITED_ACTIONS = {
    action.name: action
    for action in (
        CUSTOMERS_CREATE,
        CONFIGURATIONS_SET,
        CONTRACTS_CREATE,
        CONTRACTS_UPDATE_END_DATE,
        PRODUCTS_CREATE,
        COMMITS_CREATE,
        CREDITS_CREATE,
        MANUAL_ENTRY_ADD,
    )
}


def audit_entry(
    deps: ApiDependencies, caller: Caller, action: AuditedAction, resource_id: str | None, status_code: int
) -> AuditEntry:
    return AuditEntry.for_call(
        entry_id=deps.new_id("audit"),
        at=deps.clock(),
        caller=caller,
        action=action.name,
        resource_type=action.resource_type,
        resource_id=resource_id,
        status_code=status_code,
    )


def ask_for_alert_evaluation(deps: ApiDependencies, customer_id: str, write_id: str) -> None:
    """After a write that changes the customer's ledger: its alerts are evaluated now, not in 3 minutes."""
    if deps.alert_requests is not None:
        deps.alert_requests(customer_id, write_id)


def record_failed_call(
    deps: ApiDependencies, caller: Caller, action: AuditedAction, resource_id: str | None, status_code: int
) -> None:
    """A refused or failed mutating call: nothing changed, so its entry is written on its own."""
    deps.store.record_audit(audit_entry(deps, caller, action, resource_id, status_code))


ALERTS_CREATE = AuditedAction("alerts.create", "alert")
ALERTS_ARCHIVE = AuditedAction("alerts.archive", "alert")
AUDITED_ACTIONS.update({action.name: action for action in (ALERTS_CREATE, ALERTS_ARCHIVE)})
DASHBOARDS_GET_EMBEDDABLE_URL = AuditedAction("dashboards.getEmbeddableUrl", "customer")
AUDITED_ACTIONS[DASHBOARDS_GET_EMBEDDABLE_URL.name] = DASHBOARDS_GET_EMBEDDABLE_URL

REGISTRATIONS_COMPLETE = AuditedAction("marketplaceRegistrations.complete", "registration")
AWS_FULFILLMENT = AuditedAction("marketplaces.aws.fulfillment", "registration")
AUDITED_ACTIONS[REGISTRATIONS_COMPLETE.name] = REGISTRATIONS_COMPLETE
AUDITED_ACTIONS[AWS_FULFILLMENT.name] = AWS_FULFILLMENT
AZURE_LANDING = AuditedAction("marketplaces.azure.landing", "registration")
AUDITED_ACTIONS[AZURE_LANDING.name] = AZURE_LANDING
