"""Customers and their billing provider configurations (DESIGN §3, §4)."""

from __future__ import annotations

from shared.domain.audit import Caller
from shared.domain.customers import Customer
from shared.domain.paging import Page, PageRequest
from shared.domain.providers import ProviderConfiguration, check_configuration_set
from shared.domain.validation import FieldError
from shared.services.api_dependencies import CONFIGURATIONS_SET, CUSTOMERS_CREATE, ApiDependencies, audit_entry
from shared.services.api_errors import NotFound
from shared.services.api_requests import CreateCustomerRequest


def create_customer(deps: ApiDependencies, caller: Caller, request: CreateCustomerRequest) -> Customer:
    check_configuration_set(request.billing_provider_configurations)
    customer = Customer(
        id=deps.new_id("cust"),
        name=request.name,
        custom_fields=dict(request.custom_fields),
        billing_provider_configurations=list(request.billing_provider_configurations),
        created_at=deps.clock().replace(microsecond=0),
    )
    deps.store.create_customer_audited(customer, audit_entry(deps, caller, CUSTOMERS_CREATE, customer.id, 200))
    return customer


def list_customers(deps: ApiDependencies, page: PageRequest) -> Page[Customer]:
    return deps.store.list_customers(page)


def get_customer(deps: ApiDependencies, customer_id: str) -> Customer:
    customer = deps.store.get_customer(customer_id)
    if customer is None:
        raise NotFound(f"customer {customer_id!r} not found")
    return customer


def with_configuration(
    configurations: list[ProviderConfiguration], configuration: ProviderConfiguration
) -> list[ProviderConfiguration]:
    """Add `configuration`, or replace the one for the same provider in place.

    A new default while another provider's configuration is the default is refused (field
    `default`): which provider an invoice goes to never changes as a side effect.
    """
    provider = configuration.billing_provider
    if configuration.default:
        for other in configurations:
            if other.default and other.billing_provider != provider:
                raise FieldError(
                    "default",
                    f"the {other.billing_provider} configuration is already the default; set it again with"
                    ' "default": false first',
                )
    if any(existing.billing_provider == provider for existing in configurations):
        return [configuration if existing.billing_provider == provider else existing for existing in configurations]
    return [*configurations, configuration]


def set_provider_configuration(
    deps: ApiDependencies, caller: Caller, customer_id: str, configuration: ProviderConfiguration
) -> Customer:
    updated = deps.store.update_provider_configurations(
        customer_id,
        lambda current: with_configuration(list(current.billing_provider_configurations), configuration),
        audit_entry(deps, caller, CONFIGURATIONS_SET, customer_id, 200),
    )
    if updated is None:
        raise NotFound(f"customer {customer_id!r} not found")
    return updated
