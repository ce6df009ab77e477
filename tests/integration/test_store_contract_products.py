"""The Store contract for products and contract end dates, run against DynamoDB (moto) and the
in-memory fake: audited product creates, batch reads, the latest finalized usage invoice of a
contract as invoices are finalized, re-versioned and voided, and the audited contract update."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from shared.adapters.dynamodb import DynamoDBStore
from shared.domain.audit import AuditEntry, AuditQuery, Caller
from shared.domain.contract_end_date import FinalizedUsageEnd
from shared.domain.customers import Contract
from shared.domain.invoice import InvoiceEvent
from shared.domain.paging import PageRequest
from shared.domain.products import Product
from shared.domain.timestamps import format_timestamp
from shared.domain.validation import FieldError
from shared.ports.store import AlreadyExists, Store
from tests.builders import contract, customer, invoice_event
from tests.conftest import TABLE_NAME
from tests.integration.test_store_contract import store

__all__ = ["store"]  # the fixture: both stores
NOW = datetime(2025, 3, 1, tzinfo=UTC)
CALLER = Caller("tok_0123456789ab", "203.0.113.7", "pytest")


def audit(entry_id: str, action: str = "products.create", resource_id: str = "prod_1") -> AuditEntry:
    return AuditEntry.for_call(
        entry_id=entry_id,
        at=NOW,
        caller=CALLER,
        action=action,
        resource_type=action.split(".", maxsplit=1)[0].removesuffix("s"),
        resource_id=resource_id,
        status_code=200,
    )


def product(product_id: str, **fields: str) -> Product:
    return Product(id=product_id, name=f"Product {product_id}", custom_fields=fields, created_at=NOW)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# -- products -------------------------------------------------------------------------------------
def test_a_product_is_created_with_its_audit_entry_once(store: Store) -> None:
    created = product("prod_1", sku="A-1")
    store.create_product_audited(created, audit("audit_1"))
    assert store.get_product("prod_1") == created
    assert store.get_product("prod_2") is None
    with pytest.raises(AlreadyExists):
        store.create_product_audited(product("prod_1", sku="other"), audit("audit_2"))
    assert store.get_product("prod_1") == created  # the first create wins
    entries = store.list_audit_entries(AuditQuery(resource_type="product"), PageRequest(100, None)).items
    assert [entry.id for entry in entries] == ["audit_1"]  # the refused create wrote nothing


def test_products_are_read_in_batches_of_any_size(store: Store) -> None:
    for index in range(0, 260, 2):
        store.create_product_audited(product(f"prod_{index}", n=str(index)), audit(f"audit_{index}"))
    wanted = [f"prod_{index}" for index in range(260)] + ["prod_0", "prod_missing"]  # repeats, unknown ids
    found = store.get_products(wanted)
    assert sorted(found) == sorted(f"prod_{index}" for index in range(0, 260, 2))
    assert found["prod_42"].custom_fields == {"n": "42"}
    assert store.get_products([]) == {}


def test_ids_of_any_script_and_length_are_products(store: Store) -> None:
    odd = ["prod_Ω_ünï", "p#1", "\U0001d4c5" * 256]
    for index, product_id in enumerate(odd):
        store.create_product_audited(product(product_id), audit(f"audit_{index}", resource_id=product_id))
    assert set(store.get_products([*odd, "p"])) == set(odd)


# -- the latest finalized usage invoice of a contract ---------------------------------------------
def latest(store: Store, contract_id: str) -> tuple[str, str] | None:
    found = store.latest_finalized_usage_invoice("cust_acme", contract_id)
    return None if found is None else (found.invoice_id, format_timestamp(found.end_timestamp))


def save(store: Store, **overrides: Any) -> None:
    fields: dict[str, Any] = {"contract_id": "con_1", "line_items": [], "subtotal": "0", "total": "0.00", **overrides}
    store.save_invoice(InvoiceEvent.model_validate(invoice_event(**fields)).detail, NOW)


@pytest.fixture
def with_contract(store: Store) -> Store:
    store.create_customer(customer("cust_acme"))
    store.create_contract(contract("con_1", "cust_acme"))
    store.create_contract(contract("con_1#2", "cust_acme"))  # a longer id starting with the other's
    return store


def test_the_latest_finalized_usage_end_follows_every_version(with_contract: Store) -> None:
    store = with_contract
    assert store.latest_finalized_usage_invoice("cust_acme", "con_1") is None
    save(store, id="jan", start_timestamp="2025-01-01T00:00:00Z", end_timestamp="2025-02-01T00:00:00Z", version=1)
    save(store, id="feb", start_timestamp="2025-02-01T00:00:00Z", end_timestamp="2025-03-01T00:00:00Z", version=1)
    assert latest(store, "con_1") == ("feb", "2025-03-01T00:00:00Z")
    # not counted: a draft, a scheduled invoice, another contract's, another customer's id space
    save(store, id="mar", start_timestamp="2025-03-01T00:00:00Z", end_timestamp="2025-04-01T00:00:00Z",
         status="DRAFT", version=1)  # fmt: skip
    save(store, id="sched", end_timestamp="2025-06-01T00:00:00Z", type="SCHEDULED", version=1)
    save(store, id="other", contract_id="con_1#2", end_timestamp="2025-07-01T00:00:00Z", version=1)
    save(store, id="none", contract_id=None, end_timestamp="2025-08-01T00:00:00Z", version=1)
    assert latest(store, "con_1") == ("feb", "2025-03-01T00:00:00Z")
    assert latest(store, "con_1#2") == ("other", "2025-07-01T00:00:00Z")
    # the draft is finalized: it is the latest now
    save(store, id="mar", start_timestamp="2025-03-01T00:00:00Z", end_timestamp="2025-04-01T00:00:00Z", version=2)
    assert latest(store, "con_1") == ("mar", "2025-04-01T00:00:00Z")
    # voided: it no longer counts, the one before is the latest again
    save(store, id="mar", start_timestamp="2025-03-01T00:00:00Z", end_timestamp="2025-04-01T00:00:00Z",
         status="VOID", version=3)  # fmt: skip
    assert latest(store, "con_1") == ("feb", "2025-03-01T00:00:00Z")
    # a new version that moves its end replaces the old end; a stale version changes nothing
    save(store, id="feb", start_timestamp="2025-02-01T00:00:00Z", end_timestamp="2025-02-15T00:00:00Z", version=2)
    save(store, id="feb", start_timestamp="2025-02-01T00:00:00Z", end_timestamp="2025-03-05T00:00:00Z", version=1)
    assert latest(store, "con_1") == ("feb", "2025-02-15T00:00:00Z")
    save(store, id="feb", start_timestamp="2025-02-01T00:00:00Z", end_timestamp="2025-02-15T00:00:00Z", version=2)
    assert latest(store, "con_1") == ("feb", "2025-02-15T00:00:00Z")
    # moved to another contract: it leaves this one
    save(store, id="feb", contract_id="con_1#2", end_timestamp="2025-09-01T00:00:00Z", version=3)
    assert latest(store, "con_1") == ("jan", "2025-02-01T00:00:00Z")
    assert latest(store, "con_1#2") == ("feb", "2025-09-01T00:00:00Z")
    assert store.latest_finalized_usage_invoice("cust_other", "con_1") is None


def test_the_marker_never_shows_in_the_contract_list(with_contract: Store) -> None:
    save(with_contract, id="jan", version=1)
    listed = with_contract.list_contracts("cust_acme", PageRequest(100, None)).items
    assert sorted(c.id for c in listed) == ["con_1", "con_1#2"]


def test_a_finalized_usage_invoice_reads_one_item(dynamodb: Any) -> None:
    """DynamoDB: the latest end is one Query of one item, however many invoices the customer has."""
    store = DynamoDBStore(dynamodb, TABLE_NAME)
    store.create_customer(customer("cust_acme"))
    store.create_contract(contract("con_1", "cust_acme"))
    for month in range(1, 13):
        save(store, id=f"m{month:02d}", start_timestamp=f"2024-{month:02d}-01T00:00:00Z",
             end_timestamp=f"2024-{month:02d}-28T00:00:00Z", version=1)  # fmt: skip
    calls: list[dict[str, Any]] = []
    original = dynamodb.query

    def counted(**kwargs: Any) -> Any:
        response = original(**kwargs)
        calls.append(response)
        return response

    dynamodb.query = counted
    try:
        found = DynamoDBStore(dynamodb, TABLE_NAME).latest_finalized_usage_invoice("cust_acme", "con_1")
    finally:
        dynamodb.query = original
    assert found == FinalizedUsageEnd("m12", at("2024-12-28T00:00:00Z"))
    assert [response["Count"] for response in calls] == [1]


# -- the audited contract update ------------------------------------------------------------------
def test_update_contract_applies_the_change_with_its_audit_entry(with_contract: Store) -> None:
    store = with_contract
    new_end = at("2025-06-01T00:00:00Z")

    def change(current: Contract) -> Contract:
        return current.model_copy(update={"ending_before": new_end})

    entry = audit("audit_u", action="contracts.updateEndDate", resource_id="con_1")
    updated = store.update_contract("cust_acme", "con_1", change, entry)
    assert updated is not None
    assert updated.ending_before == new_end
    assert store.get_contract("cust_acme", "con_1") == updated
    assert store.update_contract("cust_acme", "con_missing", change, audit("audit_x")) is None

    def refuse(current: Contract) -> Contract:
        raise FieldError("ending_before", "no")

    with pytest.raises(FieldError):
        store.update_contract("cust_acme", "con_1", refuse, audit("audit_y"))
    assert store.get_contract("cust_acme", "con_1") == updated
    # a finalized-usage marker in the same partition is not the contract
    save(store, id="jan", version=1)
    assert store.get_contract("cust_acme", "con_1") == updated
