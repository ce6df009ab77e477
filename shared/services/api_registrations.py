"""Marketplace registrations: a buyer's landing, the list, and completion (docs/listings.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

from pydantic import Field, model_validator

from shared.domain.audit import Caller
from shared.domain.customers import Customer
from shared.domain.paging import Page, PageRequest
from shared.domain.providers import ProviderConfiguration, with_configuration
from shared.domain.registrations import (
    AwsIdentifiers,
    AzureIdentifiers,
    Registration,
    RegistrationStatus,
    configuration_of,
    full_licence_arn,
)
from shared.domain.types import Identifier, Name
from shared.domain.validation import invalid_field
from shared.ports.marketplace_listing import ActivationFailed
from shared.ports.registration_store import RegistrationNotPending
from shared.ports.store import AlreadyExists
from shared.services.api_dependencies import (
    AWS_FULFILLMENT,
    REGISTRATIONS_COMPLETE,
    ApiDependencies,
    AuditedAction,
    MarketplaceListing,
    audit_entry,
)
from shared.services.api_errors import Conflict, NotFound
from shared.services.api_requests import CustomFields, _Body

T = TypeVar("T")


class NewCustomer(_Body):
    name: Name
    custom_fields: CustomFields = Field(default_factory=dict)


class CompleteRegistrationRequest(_Body):
    registration_id: Identifier
    customer_id: Identifier | None = Field(default=None, description="an existing customer (or `customer`)")
    customer: NewCustomer | None = Field(default=None, description="a new customer (or `customer_id`)")

    @model_validator(mode="before")
    @classmethod
    def _one_customer(cls, data: Any) -> Any:
        if isinstance(data, dict) and (data.get("customer_id") is None) == (data.get("customer") is None):
            raise invalid_field("customer_id", "give either customer_id (an existing customer) or customer (a new one)")
        return data


class NotConfigured(Exception):
    """The API was started without the marketplace settings (a test's or `downbeat invoke`'s)."""


class UpstreamFailed(Exception):
    """The marketplace refused a step of the completion (502); `reason` is kept on the registration,
    and the call's audit entry (502, naming the registration) is written already."""


@dataclass(frozen=True)
class Landing:
    registration: Registration
    redirect_to: str | None  # the sign-up page with `registration=<id>`, when one is configured


def listing(deps: ApiDependencies) -> MarketplaceListing:
    if deps.marketplace is None:
        raise NotConfigured("marketplace landings are not configured for this API")
    return deps.marketplace


def configured(part: T | None, what: str) -> T:
    """A part of the listing settings this API was started with (NotConfigured when it was not)."""
    if part is None:
        raise NotConfigured(f"{what} are not configured for this API")
    return part


def land_aws(deps: ApiDependencies, caller: Caller, token: str) -> Landing:
    """Resolve the buyer at once (the token expires within minutes), then keep a pending
    registration; the same account + licence again is the registration it made before."""
    settings = listing(deps)
    resolved = configured(settings.aws, "AWS Marketplace landings").resolve_customer(token)
    identifiers = AwsIdentifiers(
        aws_customer_account_id=resolved.customer_aws_account_id,
        aws_license_arn=None if resolved.license_arn is None else full_licence_arn(resolved.license_arn),
        aws_product_code=resolved.product_code,
        aws_customer_id=resolved.customer_identifier,
        aws_agreement_id=resolved.agreement_id,
    )
    return keep_registration(deps, caller, AWS_FULFILLMENT, settings, identifiers)


def keep_registration(
    deps: ApiDependencies,
    caller: Caller,
    action: AuditedAction,
    settings: MarketplaceListing,
    identifiers: AwsIdentifiers | AzureIdentifiers,
) -> Landing:
    """A pending registration for the buyer `identifiers` name (the one kept before, when the same
    buyer landed already), and where the buyer is sent on to."""
    registration_id = deps.new_id("reg")
    registration = Registration(
        id=registration_id,
        provider="aws_marketplace" if isinstance(identifiers, AwsIdentifiers) else "azure_marketplace",
        created_at=deps.clock().replace(microsecond=0),
        identifiers=identifiers,
    )
    stored = deps.store.create_registration(registration, audit_entry(deps, caller, action, registration_id, 200))
    return Landing(stored, signup_redirect(settings.signup_url, stored.id))


def signup_redirect(signup_url: str | None, registration_id: str) -> str | None:
    if not signup_url:
        return None
    joiner = "&" if "?" in signup_url else "?"
    return f"{signup_url}{joiner}registration={quote(registration_id, safe='')}"


def list_registrations(deps: ApiDependencies, status: RegistrationStatus, page: PageRequest) -> Page[Registration]:
    return deps.store.list_registrations(status, page)


def complete(deps: ApiDependencies, caller: Caller, request: CompleteRegistrationRequest) -> Customer:
    """Link the registration to an existing customer or a new one: its marketplace configuration is
    added (or replaces the one of that marketplace), `active`, and the default when the customer
    has no other configuration."""
    settings = listing(deps)
    registration = deps.store.get_registration(request.registration_id)
    if registration is None:
        raise NotFound(f"registration {request.registration_id!r} not found", field="registration_id")
    new_customer = None
    if request.customer is not None:
        new_customer = Customer(
            id=deps.new_id("cust"),
            name=request.customer.name,
            custom_fields=dict(request.customer.custom_fields),
            created_at=deps.clock().replace(microsecond=0),
        )
    customer_id = new_customer.id if new_customer is not None else str(request.customer_id)
    if new_customer is None and deps.store.get_customer(customer_id) is None:
        raise NotFound(f"customer {customer_id!r} not found", field="customer_id")
    if registration.status != "pending":
        raise Conflict(f"registration {registration.id!r} is {registration.status} already", field="registration_id")
    if registration.provider == "azure_marketplace":
        _activate(deps, caller, settings, registration)
    now = deps.clock()
    configuration = configuration_of(registration, aws_region=settings.aws_region, at=now)
    completed = registration.model_copy(
        update={
            "status": "completed",
            "customer_id": customer_id,
            "completed_at": now.replace(microsecond=0),
            "reason": None,
        }
    )

    def change(current: Customer) -> list[ProviderConfiguration]:
        others = [
            c for c in current.billing_provider_configurations if c.billing_provider != configuration.billing_provider
        ]
        placed = configuration.model_copy(update={"default": not others})
        return with_configuration(list(current.billing_provider_configurations), placed)

    audit = audit_entry(deps, caller, REGISTRATIONS_COMPLETE, registration.id, 200)
    try:
        linked = deps.store.complete_registration(completed, customer_id, change, audit, new_customer=new_customer)
    except RegistrationNotPending:
        raise Conflict(f"registration {registration.id!r} was completed already", field="registration_id") from None
    except AlreadyExists:
        raise Conflict("the new customer's id is taken; retry the request", field="customer") from None
    if linked is None:
        raise NotFound(f"customer {customer_id!r} not found", field="customer_id")
    return linked


def _activate(deps: ApiDependencies, caller: Caller, settings: MarketplaceListing, registration: Registration) -> None:
    """Azure: activate before anything is written; a refusal keeps the registration pending with why,
    written with the call's one audit entry (on its own when the reason was there already)."""
    if settings.activate_azure is None:
        raise NotConfigured("Azure Marketplace is not configured for this API: its registrations cannot be completed")
    try:
        settings.activate_azure(registration)
    except ActivationFailed as failed:
        reason = failed.reason
    else:
        return
    audit = audit_entry(deps, caller, REGISTRATIONS_COMPLETE, registration.id, 502)
    kept = deps.store.update_registration(
        registration.id, lambda r: r.model_copy(update={"reason": reason}) if r.status == "pending" else None, audit
    )
    if kept is None or not kept.changed:
        deps.store.record_audit(audit)  # the failed call is audited all the same, once
    raise UpstreamFailed(reason)
