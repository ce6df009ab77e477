"""API use cases on the in-memory store: configuration rules, contract override, 404s, audit."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from shared.domain.audit import AuditQuery, Caller
from shared.domain.invoice import InvoiceEvent
from shared.domain.invoice_listing import InvoiceQuery
from shared.domain.paging import PageRequest
from shared.domain.providers import with_configuration
from shared.domain.validation import FieldError
from shared.services import api_contract_reads, api_contracts, api_customers, api_invoices
from shared.services.api_commit_requests import CreateContractWithCommitsRequest
from shared.services.api_dependencies import ApiDependencies
from shared.services.api_errors import NotFound
from shared.services.api_requests import CreateCustomerRequest
from tests.builders import AWS, AZURE, STRIPE, configuration, customer, invoice_event
from tests.fakes.memory_store import InMemoryStore

NOW = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
CALLER = Caller("tok_0123456789ab", "203.0.113.7", "pytest")


@pytest.fixture
def store() -> InMemoryStore:
    return InMemoryStore()


@pytest.fixture
def deps(store: InMemoryStore) -> ApiDependencies:
    counter = itertools.count(1)
    return ApiDependencies(
        store=store, clock=lambda: NOW, new_id=lambda prefix: f"{prefix}_{next(counter)}", api_token=lambda: "t"
    )


def test_create_customer_is_audited_with_the_change(deps: ApiDependencies, store: InMemoryStore) -> None:
    request = CreateCustomerRequest.model_validate({"name": "Acme", "billing_provider_configurations": [STRIPE]})
    created = api_customers.create_customer(deps, CALLER, request)
    assert created.created_at == NOW.replace(microsecond=0)
    (entry,) = store.audit_entries
    assert (entry.action, entry.resource_type, entry.resource_id, entry.status_code) == (
        "customers.create",
        "customer",
        created.id,
        200,
    )
    assert (entry.actor, entry.ip_address, entry.user_agent) == (CALLER.actor, "203.0.113.7", "pytest")


def test_a_second_default_in_one_create_names_its_index(deps: ApiDependencies, store: InMemoryStore) -> None:
    request = CreateCustomerRequest.model_validate(
        {"name": "Acme", "billing_provider_configurations": [{**STRIPE, "default": True}, {**AWS, "default": True}]}
    )
    with pytest.raises(FieldError) as refused:
        api_customers.create_customer(deps, CALLER, request)
    assert refused.value.field == "billing_provider_configurations.1.default"
    assert store.customers == {}
    assert store.audit_entries == []  # the failure entry is the API layer's job


def test_with_configuration_adds_replaces_and_guards_the_default() -> None:
    stripe_default = configuration(STRIPE, default=True)
    aws = configuration(AWS)
    added = with_configuration([stripe_default], aws)
    assert [c.billing_provider for c in added] == ["stripe", "aws_marketplace"]
    replaced = with_configuration(added, configuration(STRIPE))
    assert [(c.billing_provider, c.default) for c in replaced] == [("stripe", False), ("aws_marketplace", False)]
    with pytest.raises(FieldError) as refused:
        with_configuration(added, configuration(AZURE, default=True))
    assert refused.value.field == "default"
    again = with_configuration(added, configuration(STRIPE, default=True))  # same provider: fine
    assert again[0].default


def test_set_configuration_on_an_unknown_customer_is_404(deps: ApiDependencies, store: InMemoryStore) -> None:
    with pytest.raises(NotFound) as missing:
        api_customers.set_provider_configuration(deps, CALLER, "cust_none", configuration(AZURE))
    assert missing.value.field is None
    assert store.audit_entries == []


def contract_request(customer_id: str, override: str | None = None) -> CreateContractWithCommitsRequest:
    body: dict[str, object] = {"customer_id": customer_id, "name": "2025", "starting_at": "2025-01-01T00:00:00Z"}
    if override:
        body["billing_provider_configuration"] = {"billing_provider": override}
    return CreateContractWithCommitsRequest.model_validate(body)


def test_contract_override_needs_the_customers_configuration(deps: ApiDependencies, store: InMemoryStore) -> None:
    store.create_customer(customer("cust_acme", configuration(STRIPE)))
    with pytest.raises(FieldError) as refused:
        api_contracts.create_contract(deps, CALLER, contract_request("cust_acme", "aws_marketplace"))
    assert refused.value.field == "billing_provider_configuration.billing_provider"
    created, commits, _ = api_contracts.create_contract(deps, CALLER, contract_request("cust_acme", "stripe"))
    assert commits == []
    assert store.get_contract("cust_acme", created.id) == created
    assert [entry.action for entry in store.audit_entries] == ["contracts.create"]


def test_contract_lookups_name_the_missing_body_id(deps: ApiDependencies, store: InMemoryStore) -> None:
    with pytest.raises(NotFound) as missing_customer:
        api_contracts.create_contract(deps, CALLER, contract_request("cust_none"))
    assert missing_customer.value.field == "customer_id"
    store.create_customer(customer("cust_acme"))
    with pytest.raises(NotFound) as missing_contract:
        api_contract_reads.get_contract(deps, "cust_acme", "con_none")
    assert missing_contract.value.field == "contract_id"


def test_invoices_belong_to_their_customer(deps: ApiDependencies, store: InMemoryStore) -> None:
    store.create_customer(customer("cust_acme"))
    store.create_customer(customer("cust_other"))
    store.save_invoice(InvoiceEvent.model_validate(invoice_event(id="inv_1")).detail, NOW)
    assert api_invoices.get_invoice(deps, "cust_acme", "inv_1").id == "inv_1"
    with pytest.raises(NotFound):
        api_invoices.get_invoice(deps, "cust_other", "inv_1")
    with pytest.raises(NotFound):
        api_invoices.list_invoices(deps, "cust_none", InvoiceQuery(), PageRequest())


def test_sync_of_a_stored_invoice_without_a_record_is_pending(deps: ApiDependencies, store: InMemoryStore) -> None:
    store.create_customer(customer("cust_acme"))
    store.save_invoice(InvoiceEvent.model_validate(invoice_event(id="inv_1")).detail, NOW)
    record = api_invoices.get_sync_status(deps, "inv_1")
    assert (record.status, record.provider) == ("pending", None)
    with pytest.raises(NotFound):
        api_invoices.get_sync_status(deps, "inv_never")


def test_contract_request_refuses_incomplete_recurring_items_and_accepts_empty_ones() -> None:
    base = {"customer_id": "c", "name": "n", "starting_at": "2025-01-01T00:00:00Z"}
    accepted = CreateContractWithCommitsRequest.model_validate({**base, "commits": [], "recurring_credits": []})
    assert (accepted.commits, accepted.recurring_credits) == ([], [])
    with pytest.raises(ValueError, match="amount"):
        CreateContractWithCommitsRequest.model_validate({**base, "recurring_credits": [{"name": "x"}]})


def test_audit_query_matches_on_every_filter(deps: ApiDependencies, store: InMemoryStore) -> None:
    request = CreateCustomerRequest.model_validate({"name": "Acme"})
    created = api_customers.create_customer(deps, CALLER, request)
    (entry,) = store.audit_entries
    assert AuditQuery(resource_type="customer", resource_id=created.id).matches(entry)
    assert not AuditQuery(resource_type="contract").matches(entry)
    assert AuditQuery(starting_on=NOW).matches(entry)
    assert not AuditQuery(ending_before=NOW).matches(entry)
