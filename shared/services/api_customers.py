"""Customers and their billing provider configurations: create, get, list, add or replace one."""

from __future__ import annotations

from shared.domain.audit import Caller
from shared.domain.customers import Customer
from shared.domain.paging import Page, PageRequest
from shared.domain.providers import (
    ProviderConfiguration,
    check_configuration_set,
    with_configuration,
    with_subscription,
)
from shared.ports.store import AlreadyExists
from shared.services.api_dependencies import CONFIGURATIONS_SET, CUSTOMERS_CREATE, ApiDependencies, audit_entry
from shared.services.api_errors import Conflict, NotFound
from shared.services.api_requests import CreateCustomerRequest


def create_customer(deps: ApiDependencies, caller: Caller, request: CreateCustomerRequest) -> Customer:
    check_configuration_set(request.billing_provider_configurations)
    now = deps.clock()
    customer = Customer(
        id=request.id if request.id is not None else deps.new_id("cust"),
        name=request.name,
        custom_fields=dict(request.custom_fields),
        billing_provider_configurations=[
            with_subscription(configuration, None, now) for configuration in request.billing_provider_configurations
        ],
        created_at=now.replace(microsecond=0),
    )
    try:
        deps.store.create_customer_audited(customer, audit_entry(deps, caller, CUSTOMERS_CREATE, customer.id, 200))
    except AlreadyExists:
        raise Conflict(f"a customer with id {customer.id!r} already exists", field="id") from None
    return customer


def list_customers(deps: ApiDependencies, page: PageRequest) -> Page[Customer]:
    return deps.store.list_customers(page)


def get_customer(deps: ApiDependencies, customer_id: str) -> Customer:
    customer = deps.store.get_customer(customer_id)
    if customer is None:
        raise NotFound(f"customer {customer_id!r} not found")
    return customer


def set_provider_configuration(
    deps: ApiDependencies, caller: Caller, customer_id: str, configuration: ProviderConfiguration
) -> Customer:
    updated = deps.store.update_provider_configurations(
        customer_id,
        lambda current: with_configuration(
            list(current.billing_provider_configurations),
            with_subscription(configuration, current.configuration_for(configuration.billing_provider), deps.clock()),
        ),
        audit_entry(deps, caller, CONFIGURATIONS_SET, customer_id, 200),
    )
    if updated is None:
        raise NotFound(f"customer {customer_id!r} not found")
    return updated


def customer_of(deps: ApiDependencies, customer_id: str) -> Customer:
    """The customer, or a 404 naming `customer_id`."""
    customer = deps.store.get_customer(customer_id)
    if customer is None:
        raise NotFound(f"customer {customer_id!r} not found", field="customer_id")
    return customer
