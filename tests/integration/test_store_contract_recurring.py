"""The Store port's recurring periods (`create_commits_audited` with `recurring`, and
`complete_recurring_commits`), against DynamoDB (moto) and the in-memory fake; and the contract
create over DynamoDB when it stops midway (a transaction failing between chunks) and is retried."""

from __future__ import annotations

import itertools
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

import pytest

from shared.adapters.dynamodb import DynamoDBStore
from shared.domain.audit import AuditEntry, AuditQuery, Caller
from shared.domain.commits import Commit, CommitKind, CommitQuery, Segment
from shared.domain.paging import PageRequest
from shared.ports.errors import RetryableError
from shared.ports.store import Store, UniquenessKeyTaken
from shared.services import api_contracts
from shared.services.api_commit_requests import CreateContractWithCommitsRequest
from shared.services.api_dependencies import ApiDependencies
from shared.services.api_errors import Conflict
from tests.builders import contract, customer
from tests.conftest import TABLE_NAME
from tests.fakes.memory_store import InMemoryStore

JAN = datetime(2025, 1, 1, tzinfo=UTC)
NOW = datetime(2025, 2, 15, tzinfo=UTC)
CALLER = Caller("tok_test", "192.0.2.1", "tests")
PLAN = "plan-digest-1"


@pytest.fixture(params=["dynamodb", "memory"])
def store(request: pytest.FixtureRequest) -> Store:
    the_store: Store
    if request.param == "memory":
        the_store = InMemoryStore()
    else:
        the_store = DynamoDBStore(request.getfixturevalue("dynamodb"), TABLE_NAME)
    the_store.create_customer(customer("cust_acme"))
    return the_store


def audit(entry_id: str) -> AuditEntry:
    return AuditEntry.for_call(
        entry_id=entry_id, at=NOW, caller=CALLER, action="contracts.create", resource_type="contract",
        resource_id="con_acme_2025", status_code=200,
    )  # fmt: skip


def period(number: int, contract_id: str = "con_acme_2025", kind: CommitKind = "commit") -> Commit:
    start = JAN + timedelta(days=number)
    return Commit(
        id=f"{kind}_{contract_id}_{number:03d}",
        kind=kind,
        customer_id="cust_acme",
        contract_id=contract_id,
        type="PREPAID" if kind == "commit" else None,
        name="Monthly allowance",
        currency="USD",
        segments=[
            Segment(
                id=f"seg_{number:03d}",
                amount=Decimal("310.00"),
                starting_at=start,
                ending_before=start + timedelta(days=1),
            )
        ],
        recurring_commit_id="recurring_1",
        created_at=JAN,
    )


def stored_ids(store: Store, contract_id: str = "con_acme_2025") -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        page = store.list_commit_ledgers("cust_acme", CommitQuery(contract_id=contract_id), PageRequest(100, cursor))
        ids += [ledger.commit.id for ledger in page.items]
        if (cursor := page.next_page) is None:
            return ids


def test_periods_are_created_with_their_contract_past_one_transaction(store: Store) -> None:
    periods = [period(n) for n in range(150)]
    store.create_commits_audited([], audit("audit_1"), contract=contract(), recurring=periods, plan=PLAN)
    assert stored_ids(store) == [commit.id for commit in periods]
    assert store.get_contract("cust_acme", "con_acme_2025") == contract()
    ledger = store.get_commit_ledger("cust_acme", periods[120].id)
    assert ledger is not None
    assert ledger.commit == periods[120]
    assert len(store.list_audit_entries(AuditQuery(), PageRequest(100)).items) == 1


def test_completing_writes_only_what_is_missing_and_is_safe_to_repeat(store: Store) -> None:
    periods = [period(n) for n in range(130)]
    store.create_commits_audited([], audit("audit_1"), contract=contract(), recurring=periods[:5], plan=PLAN)
    assert stored_ids(store) == [commit.id for commit in periods[:5]]
    assert store.complete_recurring_commits(contract(), PLAN, periods)
    assert store.complete_recurring_commits(contract(), PLAN, periods)
    assert stored_ids(store) == [commit.id for commit in periods]


def test_completing_another_plan_or_an_unknown_contract_writes_nothing(store: Store) -> None:
    store.create_commits_audited([], audit("audit_1"), contract=contract(), recurring=[period(0)], plan=PLAN)
    assert not store.complete_recurring_commits(contract(), "another-plan", [period(n) for n in range(1, 3)])
    assert not store.complete_recurring_commits(contract("con_none"), PLAN, [period(1, "con_none")])
    store.create_contract(contract("con_plain"))  # created without a plan: nothing completes it
    assert not store.complete_recurring_commits(contract("con_plain"), PLAN, [period(1, "con_plain")])
    assert stored_ids(store) == [period(0).id]
    assert (stored_ids(store, "con_none"), stored_ids(store, "con_plain")) == ([], [])


def test_concurrent_completions_write_each_period_once() -> None:
    store = InMemoryStore()
    store.create_customer(customer("cust_acme"))
    concurrent_completions_write_each_period_once(store)


def concurrent_completions_write_each_period_once(store: Store) -> None:
    """Also run on the local stack's DynamoDB (test_api_recurring.py): in-process moto is not safe
    for concurrent transactions."""
    periods = [period(n, kind="credit") for n in range(250)]
    store.create_commits_audited([], audit("audit_1"), contract=contract(), recurring=periods[:1], plan=PLAN)
    with ThreadPoolExecutor(max_workers=4) as pool:
        done = list(pool.map(lambda _: store.complete_recurring_commits(contract(), PLAN, periods), range(4)))
    assert done == [True] * 4
    assert stored_ids(store) == [commit.id for commit in periods]


def test_a_taken_key_writes_neither_the_contract_nor_its_periods(store: Store) -> None:
    keyed = period(900).model_copy(update={"id": "commit_keyed", "uniqueness_key": "po-1", "contract_id": None})
    store.create_commits_audited([keyed], audit("audit_1"))
    with pytest.raises(UniquenessKeyTaken):
        store.create_commits_audited(
            [keyed.model_copy(update={"id": "commit_keyed_2"})], audit("audit_2"), contract=contract(),
            recurring=[period(n) for n in range(120)], plan=PLAN,
        )  # fmt: skip
    assert store.get_contract("cust_acme", "con_acme_2025") is None
    assert stored_ids(store) == []


# -- the contract create, stopped midway and retried (DynamoDB) ------------------------------------
class _FailingTransaction:
    """The boto3 client, failing its `fail_at`-th TransactWriteItems as a throttle that outlasted
    botocore's retries would (the Lambda then answers 5xx, or times out)."""

    def __init__(self, client: Any, fail_at: int) -> None:
        self._client = client
        self._fail_at = fail_at
        self.transactions = 0

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name != "transact_write_items":
            return attribute

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.transactions += 1
            if self.transactions == self._fail_at:
                raise RetryableError("throttled", code="ThrottlingException")
            return attribute(*args, **kwargs)

        return counted


def _deps(store: Store) -> ApiDependencies:
    ids = itertools.count()
    # The contract's id is the same on every call, as a caller-chosen id is on a retry.
    return ApiDependencies(
        store, lambda: NOW, lambda prefix: "con_fixed" if prefix == "con" else f"{prefix}_{next(ids)}", lambda: "t"
    )


TEN_YEARS = CreateContractWithCommitsRequest.model_validate(
    {
        "customer_id": "cust_acme", "name": "ten years", "starting_at": "2025-01-01T00:00:00Z",
        "recurring_commits": [{"name": "Monthly allowance", "amount": "310.00", "currency": "USD", "type": "PREPAID",
                               "recurrence_frequency": "MONTHLY", "starting_at": "2025-01-01T00:00:00Z",
                               "ending_before": "2035-01-01T00:00:00Z"}],
        "recurring_credits": [{"name": "Quarterly credit", "amount": "50.00", "currency": "USD",
                               "recurrence_frequency": "QUARTERLY", "starting_at": "2025-01-01T00:00:00Z",
                               "ending_before": "2035-01-01T00:00:00Z"}],
    }
)  # fmt: skip


@pytest.fixture
def dynamodb_store(dynamodb: Any) -> tuple[Any, Store]:
    store = DynamoDBStore(dynamodb, TABLE_NAME)
    store.create_customer(customer("cust_acme"))
    return dynamodb, store


def test_a_create_stopped_between_chunks_is_completed_by_its_retry(dynamodb_store: tuple[Any, Store]) -> None:
    client, store = dynamodb_store
    failing = _FailingTransaction(client, fail_at=2)  # the contract's transaction lands, the next does not
    with pytest.raises(RetryableError):
        api_contracts.create_contract(_deps(DynamoDBStore(cast(Any, failing), TABLE_NAME)), CALLER, TEN_YEARS)
    partial = stored_ids(store, "con_fixed")
    assert 0 < len(partial) < 160  # what a reader sees meanwhile: the first periods, each once
    with pytest.raises(
        Conflict, match="already has a contract with id"
    ):  # first create wins; the retry only completed it
        api_contracts.create_contract(_deps(store), CALLER, TEN_YEARS)
    ids = stored_ids(store, "con_fixed")
    assert len(ids) == len(set(ids)) == 120 + 40
    assert set(partial) <= set(ids)
    ledgers = store.list_commit_ledgers("cust_acme", CommitQuery("credit", "con_fixed"), PageRequest(100)).items
    assert [str(ledger.commit.segments[0].amount) for ledger in ledgers] == ["50.00"] * 40
    assert [e.status_code for e in store.list_audit_entries(AuditQuery(), PageRequest(100)).items] == [200]


class _RecordingTransactions:
    """The boto3 client, keeping the size of each TransactWriteItems' items as sent (JSON)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.sizes: list[tuple[int, int]] = []  # (operations, bytes of their items)

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name != "transact_write_items":
            return attribute

        def recorded(*, TransactItems: list[Any], **kwargs: Any) -> Any:
            items = [operation["Put"]["Item"] for operation in TransactItems if "Put" in operation]
            self.sizes.append((len(TransactItems), len(json.dumps(items))))
            return attribute(TransactItems=TransactItems, **kwargs)

        return recorded


def test_large_periods_are_split_under_dynamodbs_4_mb_per_transaction(dynamodb_store: tuple[Any, Store]) -> None:
    client, store = dynamodb_store
    recording = _RecordingTransactions(client)
    fields = {f"{n:03d}-{'k' * 200}": "v" * 1024 for n in range(50)}  # about 60 KB a period
    body = TEN_YEARS.model_dump(mode="json")
    body["recurring_commits"][0]["custom_fields"] = fields
    request = CreateContractWithCommitsRequest.model_validate(body)
    api_contracts.create_contract(_deps(DynamoDBStore(cast(Any, recording), TABLE_NAME)), CALLER, request)
    assert len(stored_ids(store, "con_fixed")) == 160
    assert len(recording.sizes) > 2  # 120 periods of 60 KB: more than two transactions' worth
    assert all(operations <= 100 and size < 4 * 1024 * 1024 for operations, size in recording.sizes)


def test_a_retry_asking_for_something_else_completes_nothing(dynamodb_store: tuple[Any, Store]) -> None:
    client, store = dynamodb_store
    with pytest.raises(RetryableError):
        api_contracts.create_contract(
            _deps(DynamoDBStore(cast(Any, _FailingTransaction(client, 2)), TABLE_NAME)), CALLER, TEN_YEARS
        )
    partial = stored_ids(store, "con_fixed")
    other = TEN_YEARS.model_copy(update={"name": "another name"})
    with pytest.raises(Conflict, match="already has a contract with id"):
        api_contracts.create_contract(_deps(store), CALLER, other)
    assert stored_ids(store, "con_fixed") == partial


def test_concurrent_identical_creates_make_one_contract_with_each_period_once() -> None:
    store = InMemoryStore()
    store.create_customer(customer("cust_acme"))
    concurrent_creates_make_one_contract(store)


def concurrent_creates_make_one_contract(store: Store) -> None:
    """Also run on the local stack's DynamoDB (test_api_recurring.py)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(lambda _: _outcome(store), range(4)))
    assert sorted(outcomes) == ["409 naming id"] * 3 + ["created"]
    ids = stored_ids(store, "con_fixed")
    assert len(ids) == len(set(ids)) == 160


def _outcome(store: Store) -> str:
    try:
        api_contracts.create_contract(_deps(store), CALLER, TEN_YEARS)
    except Conflict as conflict:
        return f"409 naming {conflict.field}"
    return "created"
