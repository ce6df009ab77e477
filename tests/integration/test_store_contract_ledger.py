"""The Store port's commits, credits and ledgers, against DynamoDB (moto) and the in-memory fake."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from shared.adapters.dynamodb import DynamoDBStore
from shared.domain.audit import AuditEntry, AuditQuery, Caller
from shared.domain.commits import Commit, CommitQuery, Segment
from shared.domain.invoice import MAX_APPLIED_CREDITS, InvoiceEvent
from shared.domain.ledger import LedgerEntry
from shared.domain.paging import PageRequest
from shared.ports.store import Store, UniquenessKeyTaken
from tests.builders import contract, customer, invoice_event
from tests.conftest import TABLE_NAME
from tests.fakes.memory_store import InMemoryStore

JAN = datetime(2025, 1, 1, tzinfo=UTC)
FEB = datetime(2025, 2, 1, tzinfo=UTC)
NOW = datetime(2025, 2, 15, tzinfo=UTC)
CALLER = Caller("tok_test", "192.0.2.1", "tests")


@pytest.fixture(params=["dynamodb", "memory"])
def store(request: pytest.FixtureRequest) -> Store:
    the_store: Store
    if request.param == "memory":
        the_store = InMemoryStore()
    else:
        the_store = DynamoDBStore(request.getfixturevalue("dynamodb"), TABLE_NAME)
    the_store.create_customer(customer("cust_acme"))
    the_store.create_customer(customer("cust_other"))
    return the_store


def audit(entry_id: str) -> AuditEntry:
    return AuditEntry.for_call(
        entry_id=entry_id,
        at=NOW,
        caller=CALLER,
        action="customerCommits.create",
        resource_type="commit",
        resource_id=None,
        status_code=200,
    )


def new_commit(commit_id: str, key: str | None = None, customer_id: str = "cust_acme", **fields: Any) -> Commit:
    kind = "credit" if commit_id.startswith("credit") else "commit"
    segments = fields.pop(
        "segments",
        [
            Segment(id=f"{commit_id}_s1", amount=Decimal("100.00"), starting_at=JAN, ending_before=FEB),
            Segment(
                id=f"{commit_id}_s2",
                amount=Decimal("300.00"),
                starting_at=JAN,
                ending_before=datetime(2026, 1, 1, tzinfo=UTC),
            ),
        ],
    )
    return Commit(
        id=commit_id,
        kind=kind,
        customer_id=customer_id,
        type="PREPAID" if kind == "commit" else None,
        name=f"{kind} {commit_id}",
        currency="USD",
        segments=segments,
        uniqueness_key=key,
        created_at=JAN,
        **fields,
    )


def finalized(version: int, amount: str, status: str = "FINALIZED", **overrides: Any) -> Any:
    fields: dict[str, Any] = {
        "id": "inv_1",
        "version": version,
        "status": status,
        "total": "10.00",
        "start_timestamp": "2025-01-15T00:00:00Z",
        "end_timestamp": "2025-02-15T00:00:00Z",
        "applied_credits": [{"id": "commit_1", "type": "PREPAID", "amount": amount}],
        **overrides,
    }
    return InvoiceEvent.model_validate(invoice_event(**fields)).detail


def test_a_uniqueness_key_is_claimed_once_per_customer_across_commits_and_credits(store: Store) -> None:
    store.create_commits_audited([new_commit("commit_1", "po-1")], audit("a1"))
    for taken in (new_commit("commit_2", "po-1"), new_commit("credit_2", "po-1")):
        with pytest.raises(UniquenessKeyTaken) as raised:
            store.create_commits_audited([taken], audit(f"a-{taken.id}"))
        assert raised.value.key == "po-1"
        assert store.get_commit_ledger("cust_acme", taken.id) is None
    store.create_commits_audited([new_commit("commit_3", "po-1", customer_id="cust_other")], audit("a3"))
    assert store.get_commit_ledger("cust_other", "commit_3") is not None
    audits = store.list_audit_entries(AuditQuery(), PageRequest(100))
    assert sorted(entry.id for entry in audits.items) == ["a1", "a3"]  # a refused create writes no entry


def test_a_contract_and_its_commits_are_created_together_or_not_at_all(store: Store) -> None:
    store.create_commits_audited([new_commit("commit_1", "po-1")], audit("a1"))
    the_contract = contract("con_1", "cust_acme")
    with pytest.raises(UniquenessKeyTaken):
        store.create_commits_audited(
            [new_commit("commit_2", "po-2", contract_id="con_1"), new_commit("credit_3", "po-1", contract_id="con_1")],
            audit("a2"),
            contract=the_contract,
        )
    assert store.get_contract("cust_acme", "con_1") is None
    assert store.get_commit_ledger("cust_acme", "commit_2") is None
    store.create_commits_audited(
        [new_commit("commit_2", "po-2", contract_id="con_1")], audit("a3"), contract=the_contract
    )
    assert store.get_contract("cust_acme", "con_1") == the_contract


def test_lists_page_through_commits_with_their_entries_and_filter_by_kind_and_contract(store: Store) -> None:
    commits = [new_commit(f"commit_{n}", contract_id="con_1" if n % 2 else None) for n in range(1, 6)]
    credits = [new_commit(f"credit_{n}") for n in range(1, 3)]
    store.create_commits_audited([*commits, *credits], audit("a1"))
    for index, the_commit in enumerate([*commits, *credits]):
        for n in range(3):
            entry = LedgerEntry(
                id=f"entry_{index}_{n}",
                commit_id=the_commit.id,
                segment_id=the_commit.segments[1].id,
                type="manual",
                amount=Decimal(-n),
                timestamp=NOW,
                reason="test",
            )
            assert store.add_manual_entry("cust_acme", entry, audit(f"m{index}{n}"))

    def every(query: CommitQuery, limit: int) -> list[tuple[str, int]]:
        found, cursor = [], None
        while True:
            page = store.list_commit_ledgers("cust_acme", query, PageRequest(limit, cursor))
            assert len(page.items) <= limit
            found += [(ledger.commit.id, len(ledger.manual)) for ledger in page.items]
            if page.next_page is None:
                return found
            cursor = page.next_page

    ids = [c.id for c in commits]
    assert every(CommitQuery("commit"), 2) == [(commit_id, 3) for commit_id in ids]
    assert every(CommitQuery("credit"), 1) == [("credit_1", 3), ("credit_2", 3)]
    assert [found for found, _ in every(CommitQuery(), 3)] == sorted([*ids, "credit_1", "credit_2"])
    assert [found for found, _ in every(CommitQuery("commit", "con_1"), 1)] == ["commit_1", "commit_3", "commit_5"]
    assert store.list_commit_ledgers("cust_other", CommitQuery(), PageRequest()).items == []
    ledger = store.get_commit_ledger("cust_acme", "commit_2")
    assert ledger is not None
    assert ledger.balance(NOW) == Decimal("297.00")  # the January segment is over; 300 - 0 - 1 - 2


def test_a_manual_entry_needs_its_commit(store: Store) -> None:
    entry = LedgerEntry(
        id="e1", commit_id="commit_gone", segment_id="s", type="manual", amount=Decimal(1), timestamp=NOW, reason="x"
    )
    assert not store.add_manual_entry("cust_acme", entry, audit("a1"))


def test_drawdowns_follow_the_latest_finalized_version_and_voiding_reverses_them(store: Store) -> None:
    store.create_commits_audited([new_commit("commit_1")], audit("a1"))

    def balance() -> Decimal:
        ledger = store.get_commit_ledger("cust_acme", "commit_1")
        assert ledger is not None
        return ledger.balance(NOW)

    def billed() -> Decimal:
        found = store.get_customer("cust_acme")
        assert found is not None
        return found.lifetime_total("USD")

    assert balance() == Decimal("300.00")  # the January segment is over
    store.save_invoice(finalized(1, "50.00", status="DRAFT"), NOW)
    assert balance() == Decimal("300.00")  # a DRAFT never draws
    store.save_invoice(finalized(2, "120.00", total="30.00"), NOW)
    assert (balance(), billed()) == (Decimal("180.00"), Decimal("30.00"))
    store.save_invoice(finalized(3, "200.00", total="40.00"), NOW)
    assert (balance(), billed()) == (Decimal("100.00"), Decimal("40.00"))  # replaced, not added
    store.save_invoice(finalized(2, "999.00"), NOW)  # stale: changes nothing
    assert balance() == Decimal("100.00")
    write = store.save_invoice(finalized(4, "10.00", total="50.00"), NOW)
    assert (balance(), billed(), write.unapplied_credits) == (Decimal("290.00"), Decimal("50.00"), ())
    store.save_invoice(finalized(5, "10.00", status="VOID"), NOW)
    assert (balance(), billed()) == (Decimal("300.00"), Decimal("0"))


def test_an_unknown_or_unusable_applied_credit_is_reported_and_the_invoice_stored(store: Store) -> None:
    store.create_commits_audited([new_commit("commit_1")], audit("a1"))
    applied = [
        {"id": "commit_1", "type": "PREPAID", "amount": "5.00"},
        {"id": "commit_9", "type": "PREPAID", "amount": "1.00"},
    ]
    write = store.save_invoice(finalized(1, "0", applied_credits=applied), NOW)
    assert [why.split(":")[0] for why in write.unapplied_credits] == ["commit_9"]
    assert store.get_invoice("inv_1") is not None
    ledger = store.get_commit_ledger("cust_acme", "commit_1")
    assert ledger is not None
    assert [d.amounts for d in ledger.drawdowns] == [{"commit_1_s2": Decimal("5.00")}]
    # the next version drops commit_1: its drawdown goes
    store.save_invoice(finalized(2, "1.00", applied_credits=applied[1:]), NOW)
    ledger = store.get_commit_ledger("cust_acme", "commit_1")
    assert ledger is not None
    assert ledger.drawdowns == []


def test_invoice_statuses_of_known_invoices(store: Store) -> None:
    store.save_invoice(finalized(1, "1.00", status="DRAFT"), NOW)
    store.save_invoice(finalized(1, "1.00", id="inv_2", status="VOID"), NOW)
    assert store.invoice_statuses({"inv_1", "inv_2", "inv_none"}) == {"inv_1": "DRAFT", "inv_2": "VOID"}


# -- DynamoDB only: pages across DynamoDB's own pages, and concurrent drawdowns -------------------
class SmallPages:
    """A DynamoDB client whose Query pages hold at most `size` items (as 1 MB pages would, with
    far fewer items), recording the Limit each Query asked for."""

    def __init__(self, client: Any, size: int) -> None:
        self._client = client
        self._size = size
        self.limits: list[int | None] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def query(self, **kwargs: Any) -> Any:
        self.limits.append(kwargs.get("Limit"))
        return self._client.query(**{**kwargs, "Limit": min(kwargs.get("Limit", self._size), self._size)})


def test_a_page_of_ledgers_spans_dynamodb_pages_and_asks_only_for_what_it_still_needs(dynamodb: Any) -> None:
    small = SmallPages(dynamodb, 4)
    store = DynamoDBStore(small, TABLE_NAME)  # type: ignore[arg-type]
    store.create_customer(customer("cust_acme"))
    commits = [new_commit(f"commit_{n}") for n in range(1, 8)]
    store.create_commits_audited(commits, audit("a1"))
    for index, the_commit in enumerate(commits):
        for n in range(index % 3):  # 0, 1 or 2 entries each: groups of 1 to 3 items
            entry = LedgerEntry(id=f"e{index}{n}", commit_id=the_commit.id, segment_id=the_commit.segments[1].id,
                                type="manual", amount=Decimal(-1), timestamp=NOW, reason="r")  # fmt: skip
            assert store.add_manual_entry("cust_acme", entry, audit(f"m{index}{n}"))
    found: list[tuple[str, int]] = []
    cursor = None
    while True:
        small.limits.clear()
        page = store.list_commit_ledgers("cust_acme", CommitQuery(), PageRequest(3, cursor))
        assert small.limits[0] is None  # the first Query of a page: nothing known yet
        assert all(limit is not None and limit >= 16 for limit in small.limits[1:])
        found += [(ledger.commit.id, len(ledger.manual)) for ledger in page.items]
        if (cursor := page.next_page) is None:
            break
    assert found == [(c.id, index % 3) for index, c in enumerate(commits)]


class RacingWrites:
    """A DynamoDB client that, before the first invoice transaction it is asked for, lets `race`
    run to completion (another router storing another invoice of the customer)."""

    def __init__(self, client: Any, race: Any) -> None:
        self._client = client
        self._race = race
        self.transactions = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def transact_write_items(self, **kwargs: Any) -> Any:
        self.transactions += 1
        if self._race is not None and any("version" in str(item) for item in kwargs["TransactItems"]):
            race, self._race = self._race, None
            race()
        return self._client.transact_write_items(**kwargs)


def test_two_invoices_routed_at_once_never_spend_the_same_remainder(dynamodb: Any) -> None:
    plain = DynamoDBStore(dynamodb, TABLE_NAME)
    plain.create_customer(customer("cust_acme"))
    two = [
        Segment(id="soon", amount=Decimal("100.00"), starting_at=JAN, ending_before=datetime(2025, 6, 1, tzinfo=UTC)),
        Segment(id="later", amount=Decimal("300.00"), starting_at=JAN, ending_before=datetime(2026, 1, 1, tzinfo=UTC)),
    ]
    plain.create_commits_audited([new_commit("commit_1", segments=two)], audit("a1"))
    other = finalized(1, "100.00", id="inv_other")
    racing = RacingWrites(dynamodb, lambda: plain.save_invoice(other, NOW))
    store = DynamoDBStore(racing, TABLE_NAME)  # type: ignore[arg-type]
    store.save_invoice(finalized(1, "100.00"), NOW)  # planned against "soon" whole, then raced
    assert racing.transactions >= 2  # the raced transaction failed its ledger condition and was planned again
    ledger = plain.get_commit_ledger("cust_acme", "commit_1")
    assert ledger is not None
    drawn = {(d.invoice_id, *d.amounts.items()) for d in ledger.drawdowns}
    assert drawn == {("inv_other", ("soon", Decimal("100.00"))), ("inv_1", ("later", Decimal("100.00")))}
    assert ledger.balance(NOW) == Decimal("200.00")


def test_a_version_naming_other_commits_than_the_last_fits_one_transaction(store: Store) -> None:
    first = [new_commit(f"commit_a{n:02d}") for n in range(MAX_APPLIED_CREDITS)]
    second = [new_commit(f"commit_b{n:02d}") for n in range(MAX_APPLIED_CREDITS)]
    store.create_commits_audited(first, audit("a1"))
    store.create_commits_audited(second, audit("a2"))

    def applied(commits: list[Commit]) -> list[dict[str, str]]:
        return [{"id": c.id, "type": "PREPAID", "amount": "1.00"} for c in commits]

    store.save_invoice(finalized(1, "0", applied_credits=applied(first)), NOW)
    # every drawdown of version 1 deleted and 45 others put, with the invoice, in one transaction
    store.save_invoice(finalized(2, "0", applied_credits=applied(second)), NOW)
    page = store.list_commit_ledgers("cust_acme", CommitQuery(), PageRequest(100))
    drawn = {ledger.commit.id: len(ledger.drawdowns) for ledger in page.items}
    assert drawn == {**{c.id: 0 for c in first}, **{c.id: 1 for c in second}}
