"""The Store contract for marketplace registrations and the buyer index, run against DynamoDB
(moto) and the in-memory fake."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.domain.audit import AuditEntry, AuditQuery, Caller
from shared.domain.customers import Customer
from shared.domain.paging import PageRequest
from shared.domain.providers import ProviderConfiguration
from shared.domain.registrations import AwsIdentifiers, AzureIdentifiers, Registration, configuration_of
from shared.ports.registration_store import RegistrationNotPending
from shared.ports.store import AlreadyExists, Store
from tests.builders import AWS, configuration, customer
from tests.integration.test_store_contract import store

__all__ = ["store"]  # the fixture: both stores
NOW = datetime(2026, 3, 1, tzinfo=UTC)
CALLER = Caller("tok_0123456789ab", "203.0.113.7", "pytest")
LICENCE = "arn:aws:license-manager::111122223333:license:l-0123456789abcdef"


def audit(entry_id: str) -> AuditEntry:
    return AuditEntry.for_call(
        entry_id=entry_id, at=NOW, caller=CALLER, action="marketplaceRegistrations.create",
        resource_type="registration", resource_id=None, status_code=200,
    )  # fmt: skip


def aws_registration(registration_id: str, account: str = "111122223333", licence: str = LICENCE) -> Registration:
    identifiers = AwsIdentifiers(
        aws_customer_account_id=account, aws_license_arn=licence, aws_product_code="prod-x",
        aws_agreement_id="agmt-1",
    )  # fmt: skip
    return Registration(id=registration_id, provider="aws_marketplace", created_at=NOW, identifiers=identifiers)


def add(configurations: list[ProviderConfiguration], new: ProviderConfiguration) -> list[ProviderConfiguration]:
    return [*(c for c in configurations if c.billing_provider != new.billing_provider), new]


def test_the_same_buyer_landing_twice_is_one_registration(store: Store) -> None:
    first = store.create_registration(aws_registration("reg_1"), audit("audit_1"))
    again = store.create_registration(aws_registration("reg_2"), audit("audit_2"))
    assert (first.id, again.id) == ("reg_1", "reg_1")
    other = store.create_registration(aws_registration("reg_3", licence=LICENCE + "9"), audit("audit_3"))
    assert other.id == "reg_3"
    assert store.get_registration("reg_2") is None
    listed = store.list_registrations("pending", PageRequest(1, None))
    assert [r.id for r in listed.items] == ["reg_1"]
    assert listed.next_page is not None
    assert [r.id for r in store.list_registrations("pending", PageRequest(5, listed.next_page)).items] == ["reg_3"]
    assert store.list_registrations("completed", PageRequest(5, None)).items == []


def test_azure_buyers_are_claimed_by_subscription(store: Store) -> None:
    identifiers = AzureIdentifiers(azure_subscription_id="sub-9", azure_plan_id="gold", azure_quantity=2)
    registration = Registration(id="reg_az", provider="azure_marketplace", created_at=NOW, identifiers=identifiers)
    store.create_registration(registration, audit("audit_1"))
    again = registration.model_copy(update={"id": "reg_az2"})
    assert store.create_registration(again, audit("audit_2")).id == "reg_az"
    assert [r.id for r in store.find_buyers("azure#sub-9").registrations] == ["reg_az"]


def test_completing_links_the_customer_once(store: Store) -> None:
    registration = store.create_registration(aws_registration("reg_1"), audit("audit_1"))
    completed = registration.model_copy(update={"status": "completed", "customer_id": "nobody"})
    assert store.complete_registration(completed, "nobody", lambda c: [], audit("a0")) is None  # no such customer
    assert store.get_registration("reg_1") == registration
    store.create_customer(customer("cust_1"))
    wanted = configuration_of(registration, aws_region="us-east-1", at=NOW)
    completed = registration.model_copy(
        update={"status": "completed", "customer_id": "cust_1", "completed_at": NOW + timedelta(minutes=1)}
    )
    linked = store.complete_registration(
        completed, "cust_1", lambda c: add(c.billing_provider_configurations, wanted), audit("a2")
    )
    assert linked is not None
    assert linked.billing_provider_configurations == [wanted]
    assert store.get_registration("reg_1") == completed
    assert [r.id for r in store.list_registrations("completed", PageRequest(5, None)).items] == ["reg_1"]
    assert store.list_registrations("pending", PageRequest(5, None)).items == []
    found = store.find_buyers("aws#111122223333")
    assert ([c.id for c in found.customers], [r.id for r in found.registrations]) == (["cust_1"], ["reg_1"])
    with pytest.raises(RegistrationNotPending):
        store.complete_registration(completed, "cust_1", lambda c: c.billing_provider_configurations, audit("a3"))


def test_completing_with_a_new_customer_and_a_taken_id(store: Store) -> None:
    store.create_registration(aws_registration("reg_1"), audit("audit_1"))
    store.create_customer(customer("cust_taken"))
    registration = store.get_registration("reg_1")
    assert registration is not None
    completed = registration.model_copy(update={"status": "completed", "customer_id": "cust_taken"})
    fresh = Customer(id="cust_taken", name="New", created_at=NOW)
    with pytest.raises(AlreadyExists):
        store.complete_registration(completed, "cust_taken", lambda c: [], audit("a2"), new_customer=fresh)
    assert store.get_registration("reg_1") == registration  # still pending
    new = Customer(id="cust_new", name="New", created_at=NOW)
    wanted = configuration_of(registration, aws_region="us-east-1", at=NOW)
    made = store.complete_registration(completed, "cust_new", lambda c: [wanted], audit("a3"), new_customer=new)
    assert made is not None
    assert store.get_customer("cust_new") == made
    with pytest.raises(RegistrationNotPending):
        store.complete_registration(aws_registration("reg_unknown"), "cust_new", lambda c: [], audit("a5"))


def test_the_buyer_index_follows_the_customers_configurations(store: Store) -> None:
    store.create_customer(customer("cust_legacy", configuration(AWS)))
    assert [c.id for c in store.find_buyers("aws-legacy#prod-x#c-123").customers] == ["cust_legacy"]
    moved = configuration({**AWS, "configuration": {"aws_product_code": "prod-x", "aws_region": "us-east-1",
                                                     "aws_customer_id": "c-456"}})  # fmt: skip
    store.update_provider_configurations("cust_legacy", lambda c: [moved], audit("a1"))
    assert store.find_buyers("aws-legacy#prod-x#c-123").customers == []
    assert [c.id for c in store.find_buyers("aws-legacy#prod-x#c-456").customers] == ["cust_legacy"]
    assert store.find_buyers("aws#999999999999") == store.find_buyers("azure#none")


def registration_audit(entry_id: str) -> AuditEntry:
    return AuditEntry.for_call(
        entry_id=entry_id, at=NOW, caller=Caller("marketplace:aws_sns", None, None),
        action="marketplaceRegistration.change", resource_type="registration", resource_id="reg_1",
        status_code=200, event_id="msg-1",
    )  # fmt: skip


def test_registration_updates_and_unmatched_events(store: Store) -> None:
    store.create_registration(aws_registration("reg_1"), audit("audit_1"))

    def fail(registration: Registration) -> Registration | None:
        if registration.status != "pending":
            return None
        return registration.model_copy(update={"status": "failed", "reason": "x"})

    failed = store.update_registration("reg_1", fail, registration_audit("audit_2"))
    assert failed is not None
    assert (failed.registration.status, failed.changed) == ("failed", True)
    assert [r.id for r in store.list_registrations("failed", PageRequest(5, None)).items] == ["reg_1"]
    again = store.update_registration("reg_1", fail, registration_audit("audit_3"))  # nothing to change
    assert again is not None
    assert (again.registration, again.changed) == (failed.registration, False)
    logged = store.list_audit_entries(AuditQuery("registration", "reg_1"), PageRequest(10, None)).items
    assert [(e.id, e.event_id) for e in logged] == [("audit_2", "msg-1")]  # written with the change, once
    assert store.update_registration("reg_none", lambda r: r, registration_audit("audit_4")) is None
    store.record_unmatched("aws_sns", "msg-1", NOW, '{"a": 1}')
    store.record_unmatched("aws_sns", "msg-1", NOW, '{"a": 1}')  # redelivered: kept once, no error


def test_an_outbox_entry_keeps_when_its_target_arrived(store: Store) -> None:
    from decimal import Decimal

    from shared.ports.store import MeterOutboxEntry

    at = NOW + timedelta(minutes=7, microseconds=250)
    entry = MeterOutboxEntry("inv_1", "aws_marketplace", "cust_1", "USD", 1, "DRAFT", Decimal("1.00"), received_at=at)
    store.upsert_meter_outbox(entry)
    [(customer_id, [invoice])] = store.meter_work("aws_marketplace", None, 10).customers
    assert (customer_id, invoice.target_at) == ("cust_1", at)
