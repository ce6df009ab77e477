"""One behaviour suite for the Store port, run against DynamoDB (moto) and the in-memory fake."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from shared.adapters.dynamodb import DynamoDBStore
from shared.domain.invoice import InvoiceEvent
from shared.domain.stripe_state import StripeSyncState
from shared.domain.sync import SyncAttempt
from shared.ports.leases import LeaseLost
from shared.ports.store import AlreadyExists, InvoiceWriteOutcome, MeterOutboxEntry, ProviderStatusWrite, Store
from tests.builders import STRIPE, configuration, contract, customer, invoice_event
from tests.conftest import TABLE_NAME
from tests.fakes.memory_store import InMemoryStore

NOW = datetime(2025, 3, 1, tzinfo=UTC)


@pytest.fixture(params=["dynamodb", "memory"])
def store(request: pytest.FixtureRequest) -> Store:
    if request.param == "memory":
        return InMemoryStore()
    return DynamoDBStore(request.getfixturevalue("dynamodb"), TABLE_NAME)


def save(store: Store, **overrides: Any) -> InvoiceWriteOutcome:
    parsed = InvoiceEvent.model_validate(invoice_event(**overrides)).detail
    return store.save_invoice(parsed, NOW).outcome


def test_customer_round_trip_and_duplicate_create(store: Store) -> None:
    created = customer("cust_acme", configuration(STRIPE, default=True))
    store.create_customer(created)
    assert store.get_customer("cust_acme") == created
    assert store.get_customer("cust_other") is None
    with pytest.raises(AlreadyExists):
        store.create_customer(created)


def test_contract_is_found_only_under_its_customer(store: Store) -> None:
    store.create_customer(customer("cust_acme"))
    store.create_contract(contract("con_1", "cust_acme", override="stripe"))
    found = store.get_contract("cust_acme", "con_1")
    assert found is not None
    assert found.billing_provider_configuration is not None
    assert store.get_contract("cust_other", "con_1") is None


def test_version_ordering(store: Store) -> None:
    store.create_customer(customer("cust_acme"))
    assert store.invoice_version("inv_1") is None
    assert save(store, version=5) is InvoiceWriteOutcome.CREATED
    assert store.invoice_version("inv_1") == 5
    assert save(store, version=5) is InvoiceWriteOutcome.DUPLICATE
    assert save(store, version=4, total="1.00") is InvoiceWriteOutcome.STALE
    assert save(store, version=6, total="2.00") is InvoiceWriteOutcome.UPDATED
    stored = store.get_invoice("inv_1")
    assert stored is not None
    assert (stored.version, stored.total) == (6, Decimal("2.00"))
    assert store.invoice_version("inv_1") == 6  # a stale version never replaces the number


def test_dispatched_version_survives_a_newer_version(store: Store) -> None:
    store.create_customer(customer("cust_acme"))
    save(store, version=1)
    store.mark_dispatched("inv_1", 1)
    parsed = InvoiceEvent.model_validate(invoice_event(version=2)).detail
    assert store.save_invoice(parsed, NOW).dispatched_version == 1
    assert store.save_invoice(parsed, NOW).dispatched_version == 1  # duplicate of 2, not yet dispatched
    store.mark_dispatched("inv_1", 2)
    store.mark_dispatched("inv_1", 1)  # never moves backwards
    assert store.save_invoice(parsed, NOW).dispatched_version == 2


def test_lifetime_billings_count_finalized_only(store: Store) -> None:
    store.create_customer(customer("cust_acme"))
    save(store, id="d", status="DRAFT", total="5.00")
    save(store, id="u1", total="100.10")
    save(store, id="u2", total="200.25")
    save(store, id="e1", currency="EUR", total="50.00")
    save(store, id="u2", version=8, status="VOID", total="200.25")
    save(store, id="u1", version=8, total="100.00")
    found = store.get_customer("cust_acme")
    assert found is not None
    assert found.lifetime_total("USD") == Decimal("100.00")
    assert found.lifetime_total("EUR") == Decimal("50.00")


def test_sync_record_keeps_attempt_history(store: Store) -> None:
    first = SyncAttempt(at=NOW, outcome="routed", detail="queued")
    store.record_sync("inv_1", provider="stripe", status="pending", reason="queued", attempt=first)
    later = SyncAttempt(at=datetime(2025, 3, 1, 0, 1, tzinfo=UTC), outcome="synced")
    store.record_sync(
        "inv_1",
        provider="stripe",
        status="synced",
        reason=None,
        attempt=later,
        provider_ids={"stripe_invoice_id": "in_1"},
    )
    record = store.get_sync("inv_1")
    assert record is not None
    assert record.status == "synced"
    assert record.provider_ids == {"stripe_invoice_id": "in_1"}
    assert [attempt.outcome for attempt in record.attempts] == ["routed", "synced"]
    assert store.get_sync("inv_2") is None


def test_provider_status_is_set_once_per_event_and_never_by_an_older_one(store: Store) -> None:
    keep = NOW + timedelta(days=30)
    store.record_sync(
        "inv_1",
        provider="stripe",
        status="synced",
        reason=None,
        attempt=SyncAttempt(at=NOW, outcome="synced"),
        provider_ids={"stripe_invoice_id": "in_1"},
    )
    paid_at = datetime(2025, 3, 2, tzinfo=UTC)

    def record(event_id: str, status: str, order: str, stripe_id: str | None = None) -> ProviderStatusWrite:
        return store.record_provider_status(
            "inv_1",
            event_id=event_id,
            status=status,
            at=paid_at,
            order=order,
            expires_at=keep,
            stripe_invoice_id=stripe_id,
        )

    assert not store.stripe_event_seen("evt_2")
    assert record("evt_2", "paid", "0000000000000002#4") is ProviderStatusWrite.APPLIED
    assert store.stripe_event_seen("evt_2")
    assert record("evt_2", "paid", "0000000000000002#4") is ProviderStatusWrite.DUPLICATE
    assert record("evt_1", "open", "0000000000000001#1") is ProviderStatusWrite.STALE
    assert store.stripe_event_seen("evt_1")  # a stale event is remembered all the same
    assert record("evt_1", "open", "0000000000000001#1") is ProviderStatusWrite.DUPLICATE
    found = store.get_sync("inv_1")
    assert found is not None
    assert (found.provider_status, found.provider_status_at, found.status) == ("paid", paid_at, "synced")

    # A revision becomes the recorded invoice; the worker's own writes keep the provider status.
    assert record("evt_3", "open", "0000000000000003#1", stripe_id="in_2") is ProviderStatusWrite.APPLIED
    store.record_sync(
        "inv_1", provider="stripe", status="synced", reason=None, attempt=SyncAttempt(at=NOW, outcome="x")
    )
    found = store.get_sync("inv_1")
    assert found is not None
    assert (found.provider_status, found.provider_ids["stripe_invoice_id"]) == ("open", "in_2")
    assert store.remember_stripe_event("evt_4", keep)
    assert not store.remember_stripe_event("evt_4", keep)
    # No sync record: nothing is set, the event is remembered.
    assert (
        store.record_provider_status(
            "inv_none", event_id="evt_5", status="paid", at=paid_at, order="1#4", expires_at=keep
        )
        is ProviderStatusWrite.STALE
    )
    assert store.get_sync("inv_none") is None


def test_outbox_target_never_goes_back_to_an_older_version(store: Store) -> None:
    def entry(version: int, amount: str) -> MeterOutboxEntry:
        return MeterOutboxEntry("inv_1", "aws_marketplace", "cust_acme", "USD", version, "DRAFT", Decimal(amount))

    store.upsert_meter_outbox(entry(2, "20.00"))
    store.upsert_meter_outbox(entry(1, "10.00"))  # older: ignored, no error
    store.upsert_meter_outbox(entry(3, "30.00"))
    if isinstance(store, InMemoryStore):
        assert store.outbox[("inv_1", "aws_marketplace")]["target_amount"] == Decimal("30.00")
    else:
        assert isinstance(store, DynamoDBStore)
        item = store._get({"PK": "INVOICE#inv_1", "SK": "METER#aws_marketplace"})
        assert item is not None
        assert (item["target_amount"], item["invoice_version"], item["metered_cents"]) == (Decimal("30.00"), 3, 0)


# -- API: audited writes, list pages, the audit log
def audit(entry_id: str, at: datetime, resource_type: str = "customer", resource_id: str | None = "cust_acme") -> Any:
    from shared.domain.audit import AuditEntry, Caller

    return AuditEntry.for_call(
        entry_id=entry_id,
        at=at,
        caller=Caller("tok_0123456789ab", "203.0.113.9", "pytest"),
        action=f"{resource_type}s.create",
        resource_type=resource_type,
        resource_id=resource_id,
        status_code=200,
    )


def walk(fetch: Any, limit: int) -> tuple[list[Any], int]:
    """Every item of a list, page by page; also the number of pages."""
    from shared.domain.paging import PageRequest

    items: list[Any] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = fetch(PageRequest(limit=limit, cursor=cursor))
        pages += 1
        assert len(page.items) <= limit
        items.extend(page.items)
        cursor = page.next_page
        if cursor is None:
            return items, pages


def test_audited_customer_create_writes_both_or_neither(store: Store) -> None:
    from shared.domain.audit import AuditQuery
    from shared.domain.paging import PageRequest

    store.create_customer_audited(customer("cust_acme"), audit("a1", NOW))
    with pytest.raises(AlreadyExists):
        store.create_customer_audited(customer("cust_acme"), audit("a2", NOW))
    entries = store.list_audit_entries(AuditQuery(), PageRequest()).items
    assert [entry.id for entry in entries] == ["a1"]
    assert store.get_customer("cust_acme") is not None


def test_customers_list_pages_in_creation_order(store: Store) -> None:
    from datetime import timedelta

    for number in range(5):
        created = customer(f"cust_{number}").model_copy(update={"created_at": NOW + timedelta(seconds=number)})
        store.create_customer(created)
    items, pages = walk(store.list_customers, 2)
    assert [item.id for item in items] == [f"cust_{number}" for number in range(5)]
    assert pages == 3
    exact, exact_pages = walk(store.list_customers, 5)
    assert (len(exact), exact_pages) == (5, 1)  # a full last page says so: next_page is None


def test_a_foreign_or_garbled_cursor_is_refused(store: Store) -> None:
    from shared.domain.paging import InvalidCursor, PageRequest, encode_cursor

    store.create_customer(customer("cust_a"))
    store.create_customer(customer("cust_b"))
    store.create_contract(contract("con_1", "cust_a"))
    store.create_contract(contract("con_2", "cust_a"))
    cursor = store.list_contracts("cust_a", PageRequest(limit=1)).next_page
    assert cursor is not None
    for bad in ("!!!", "bm90LWpzb24", encode_cursor({"PK": "X"}), encode_cursor([1, 2])):
        with pytest.raises(InvalidCursor):
            store.list_customers(PageRequest(cursor=bad))
    with pytest.raises(InvalidCursor):
        store.list_contracts("cust_b", PageRequest(cursor=cursor))  # another customer's list


def test_contracts_are_listed_per_customer(store: Store) -> None:
    store.create_customer(customer("cust_a"))
    store.create_customer(customer("cust_b"))
    for contract_id in ("con_1", "con_2", "con_3"):
        store.create_contract(contract(contract_id, "cust_a"))
    store.create_contract(contract("con_9", "cust_b"))
    items, _ = walk(lambda page: store.list_contracts("cust_a", page), 2)
    assert [item.id for item in items] == ["con_1", "con_2", "con_3"]


def test_invoices_list_filters_and_latest_version(store: Store) -> None:
    from shared.domain.invoice_listing import InvoiceQuery
    from shared.domain.timestamps import parse_rfc3339

    store.create_customer(customer("cust_acme"))
    store.create_customer(customer("cust_other"))
    months = ["2025-01", "2025-02", "2025-03", "2025-04"]
    for index, month in enumerate(months):
        following = months[index + 1] if index + 1 < len(months) else "2025-05"
        save(
            store,
            id=f"inv_{month}",
            start_timestamp=f"{month}-01T00:00:00Z",
            end_timestamp=f"{following}-01T00:00:00Z",
            status="DRAFT" if month == "2025-04" else "FINALIZED",
            version=1,
        )
    save(store, id="inv_2025-02", start_timestamp="2025-02-01T00:00:00Z", end_timestamp="2025-03-01T00:00:00Z",
         status="VOID", version=2)  # fmt: skip
    save(store, id="inv_theirs", customer_id="cust_other")

    def listed(query: InvoiceQuery, limit: int = 1) -> list[tuple[str, str]]:
        items, _ = walk(lambda page: store.list_invoices("cust_acme", query, page), limit)
        return [(item.invoice.id, item.invoice.status) for item in items]

    everything = listed(InvoiceQuery())
    assert everything == [
        ("inv_2025-01", "FINALIZED"),
        ("inv_2025-02", "VOID"),
        ("inv_2025-03", "FINALIZED"),
        ("inv_2025-04", "DRAFT"),
    ]
    assert listed(InvoiceQuery(status="FINALIZED")) == [("inv_2025-01", "FINALIZED"), ("inv_2025-03", "FINALIZED")]
    window = InvoiceQuery(
        starting_on=parse_rfc3339("2025-02-01T00:00:00Z"), ending_before=parse_rfc3339("2025-04-01T00:00:00Z")
    )
    assert [invoice_id for invoice_id, _ in listed(window, limit=5)] == ["inv_2025-02", "inv_2025-03"]
    assert listed(InvoiceQuery(status="FINALIZED", starting_on=parse_rfc3339("2025-04-01T00:00:00Z"))) == []


def test_provider_configurations_update_is_audited_and_can_be_refused(store: Store) -> None:
    from shared.domain.audit import AuditQuery
    from shared.domain.paging import PageRequest
    from shared.domain.validation import FieldError

    store.create_customer(customer("cust_acme"))
    updated = store.update_provider_configurations(
        "cust_acme", lambda current: [configuration(STRIPE, default=True)], audit("a1", NOW)
    )
    assert updated is not None
    assert [c.billing_provider for c in updated.billing_provider_configurations] == ["stripe"]
    assert store.get_customer("cust_acme") == updated

    def refuse(current: Any) -> Any:
        raise FieldError("default", "another configuration is already the default")

    with pytest.raises(FieldError):
        store.update_provider_configurations("cust_acme", refuse, audit("a2", NOW))
    assert store.update_provider_configurations("cust_none", refuse, audit("a3", NOW)) is None
    assert [entry.id for entry in store.list_audit_entries(AuditQuery(), PageRequest()).items] == ["a1"]


def test_audit_entries_newest_first_with_filters_and_pages(store: Store) -> None:
    from datetime import timedelta

    from shared.domain.audit import AuditQuery

    for number in range(12):
        resource = ("contract", f"con_{number % 2}") if number % 3 == 0 else ("customer", f"cust_{number % 2}")
        store.record_audit(audit(f"a{number:02d}", NOW + timedelta(minutes=number), *resource))
    store.record_audit(audit("a_none", NOW - timedelta(days=1), "customer", None))

    def listed(query: AuditQuery, limit: int) -> list[str]:
        items, _ = walk(lambda page: store.list_audit_entries(query, page), limit)
        return [entry.id for entry in items]

    everything = listed(AuditQuery(), 5)
    assert everything == [f"a{number:02d}" for number in reversed(range(12))] + ["a_none"]
    assert listed(AuditQuery(resource_type="contract"), 1) == ["a09", "a06", "a03", "a00"]
    assert listed(AuditQuery(resource_type="contract", resource_id="con_0"), 1) == ["a06", "a00"]
    assert listed(AuditQuery(resource_id="cust_1"), 2) == ["a11", "a07", "a05", "a01"]
    window = AuditQuery(starting_on=NOW + timedelta(minutes=2), ending_before=NOW + timedelta(minutes=5))
    assert listed(window, 2) == ["a04", "a03", "a02"]
    assert listed(AuditQuery(resource_type="customer", resource_id=None), 100)[-1] == "a_none"


def test_worker_lease_counts_attempts_refuses_overlap_and_tracks_the_oldest_waiting(store: Store) -> None:
    later = NOW + timedelta(seconds=30)
    assert store.oldest_unsettled("stripe") is None

    first = store.claim("stripe", "inv_1", now=NOW, until=NOW + timedelta(minutes=2))
    assert first is not None
    assert (first.kind, first.key, first.attempt, first.pending_since) == ("stripe", "inv_1", 1, NOW)
    assert store.claim("stripe", "inv_1", now=later, until=later) is None  # leased
    assert store.claim("meter", "inv_1", now=later, until=later) is not None  # another kind, another lease

    assert store.claim("stripe", "inv_2", now=later, until=later) is not None
    assert store.oldest_unsettled("stripe") == NOW

    renewed = store.renew(first, now=later, until=later + timedelta(minutes=2), new_attempt=True)
    assert (renewed.attempt, renewed.token, renewed.until) == (2, first.token, later + timedelta(minutes=2))
    assert store.renew(renewed, now=later, until=later + timedelta(minutes=3)).attempt == 2

    expired = NOW + timedelta(minutes=5)
    second = store.claim("stripe", "inv_1", now=expired, until=expired + timedelta(minutes=2))
    assert second is not None
    assert (second.attempt, second.pending_since) == (3, NOW)  # still waiting since the first run
    assert second.token != first.token
    for stale in (
        lambda: store.renew(renewed, now=expired, until=expired),
        lambda: store.hand_back(renewed, now=expired),
        lambda: store.settle(renewed, now=expired),
    ):
        with pytest.raises(LeaseLost):
            stale()  # the first run's lease was taken over

    store.hand_back(second, now=expired)  # released, still waiting
    assert store.oldest_unsettled("stripe") == NOW
    third = store.claim("stripe", "inv_1", now=expired, until=expired + timedelta(minutes=2))
    assert third is not None
    assert third.attempt == 4
    store.settle(third, now=expired)
    assert store.oldest_unsettled("stripe") == later  # inv_2 is the only one left waiting
    again = store.claim("stripe", "inv_1", now=expired, until=expired)
    assert again is not None
    assert (again.attempt, again.pending_since) == (5, expired)  # new work starts a new wait


def test_stripe_state_is_written_only_under_its_lease(store: Store) -> None:
    later = NOW + timedelta(seconds=30)
    assert store.get_stripe_sync("inv_1") is None
    first = store.claim("stripe", "inv_1", now=NOW, until=NOW + timedelta(minutes=2))
    assert first is not None
    assert store.get_stripe_sync("inv_1") == StripeSyncState(invoice_id="inv_1")  # claimed, nothing done yet

    drafted = StripeSyncState("inv_1").moved("drafted", later, stripe_invoice_id="in_1", calls=2, version=7)
    store.save_stripe_sync(drafted, first)
    with pytest.raises(LeaseLost):
        store.save_stripe_sync(drafted, replace(first, token="nope"))
    assert store.get_stripe_sync("inv_1") == drafted

    expired = NOW + timedelta(minutes=5)
    second = store.claim("stripe", "inv_1", now=expired, until=expired + timedelta(minutes=2))
    assert second is not None
    assert store.get_stripe_sync("inv_1") == drafted  # a new claim keeps the state
    with pytest.raises(LeaseLost):
        store.save_stripe_sync(drafted, first)  # the first run's lease was taken over

    store.save_stripe_sync(drafted.moved("synced", expired), second, release=True)
    settled = store.get_stripe_sync("inv_1")
    assert settled is not None
    assert (settled.step, settled.stripe_invoice_id, settled.version, settled.calls) == ("synced", "in_1", 7, 2)
    assert store.oldest_unsettled("stripe") is None  # a settled state settles its lease
    assert store.claim("stripe", "inv_1", now=expired, until=expired) is not None  # and lets it go

    third = store.claim("stripe", "inv_3", now=expired, until=expired + timedelta(minutes=2))
    assert third is not None
    store.save_stripe_sync(StripeSyncState("inv_3").moved("drafted", expired), third, release=True)
    assert store.oldest_unsettled("stripe") == expired  # handed back unsettled: still waiting


def test_stored_invoice_keeps_fractions_of_a_second(store: Store) -> None:
    store.create_customer(customer("cust_acme"))
    save(store, start_timestamp="2025-02-01T00:00:00.250Z", issued_at="2025-03-01T00:04:10.5+00:00")
    stored = store.get_invoice("inv_1")
    assert stored is not None
    assert stored.start_timestamp.microsecond == 250_000
    assert stored.issued_at.microsecond == 500_000
    # what the API shows is whole seconds (DESIGN §4a); what is stored is exact
    assert stored.model_dump(mode="json")["start_timestamp"] == "2025-02-01T00:00:00Z"
