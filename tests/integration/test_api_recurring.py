"""Recurring commits and credits on `contracts/create`, through `downbeat local` (real sockets,
DynamoDB on moto): the worked example of docs/recurring.md in all four proration modes as the
lists and balances show it, clamped months, errors naming the item's field, a retried create, and
a ten-year monthly plan (120 periods: more than one DynamoDB transaction holds).

The stack's clock is the wall clock: the example's periods (2025) are expired, so their amounts
are read from the segments and the balance ledgers' grants; one test places a plan around now.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.domain.recurring import period_start
from tests.builders import customer
from tests.integration.api_harness import ApiClient, LocalApi
from tests.integration.test_store_contract_recurring import (
    concurrent_completions_write_each_period_once,
    concurrent_creates_make_one_contract,
)

CREATE = "/v1/contracts/create"
COMMITS = "/v1/contracts/customerCommits/list"
CREDITS = "/v1/contracts/customerCredits/list"
BALANCES = "/v1/contracts/customerBalances/list"
ITEM = {
    "name": "Monthly allowance",
    "amount": "310.00",
    "currency": "USD",
    "type": "PREPAID",
    "recurrence_frequency": "MONTHLY",
    "starting_at": "2025-01-15T00:00:00Z",
    "ending_before": "2025-04-10T00:00:00Z",
}
CREDIT_ITEM = {key: value for key, value in ITEM.items() if key != "type"}
EXAMPLE = {
    "FIRST_AND_LAST": ["170.00", "310.00", "310.00", "93.00"],
    "FIRST": ["170.00", "310.00", "310.00", "310.00"],
    "LAST": ["310.00", "310.00", "310.00", "93.00"],
    "NONE": ["310.00", "310.00", "310.00", "310.00"],
}
EXAMPLE_SPANS = [
    ("2025-01-15T00:00:00Z", "2025-02-01T00:00:00Z"),
    ("2025-02-01T00:00:00Z", "2025-03-01T00:00:00Z"),
    ("2025-03-01T00:00:00Z", "2025-04-01T00:00:00Z"),
    ("2025-04-01T00:00:00Z", "2025-04-10T00:00:00Z"),
]


def new_customer(api: ApiClient) -> str:
    customer_id: str = api.post("/v1/customers", {"name": "Recurring test"}).data["id"]
    return customer_id


def contract(customer_id: str, **fields: Any) -> dict[str, Any]:
    return {"customer_id": customer_id, "name": "2025", "starting_at": "2025-01-01T00:00:00Z", **fields}


def listed(api: ApiClient, path: str, customer_id: str, **fields: Any) -> list[dict[str, Any]]:
    """Every page of a list."""
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        body = {"customer_id": customer_id, "limit": 100, **fields, **({"next_page": cursor} if cursor else {})}
        reply = api.post(path, body).body
        found += reply["data"]
        if (cursor := reply["next_page"]) is None:
            return found


def periods(commits: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(starting_at, ending_before, amount) of each one-segment commit, in time order."""
    spans = [(c["segments"][0]["starting_at"], c["segments"][0]["ending_before"], c["segments"][0]["amount"])
             for c in commits]  # fmt: skip
    assert all(len(c["segments"]) == 1 for c in commits)
    return sorted(spans)


# -- the worked example ----------------------------------------------------------------------------
@pytest.mark.parametrize("proration", list(EXAMPLE))
def test_the_example_in_each_proration_mode_is_one_commit_per_period(api: ApiClient, proration: str) -> None:
    customer_id = new_customer(api)
    created = api.post(CREATE, contract(customer_id, recurring_commits=[{**ITEM, "proration": proration}])).data
    (item,) = created["recurring_commits"]
    assert (item["amount"], item["proration"], item["periods"], created["commits"]) == ("310.00", proration, 4, [])
    commits = listed(api, COMMITS, customer_id, contract_id=created["id"])
    assert periods(commits) == [(*span, amount) for span, amount in zip(EXAMPLE_SPANS, EXAMPLE[proration], strict=True)]
    assert {(c["recurring_commit_id"], c["contract_id"], c["type"], c["name"], c["status"]) for c in commits} == {
        (item["id"], created["id"], "PREPAID", "Monthly allowance", "expired")
    }
    assert listed(api, CREDITS, customer_id) == []
    entries = listed(api, BALANCES, customer_id, contract_id=created["id"], include_ledgers=True)
    assert {e["id"] for e in entries} == {c["id"] for c in commits}
    grants = sorted((e["ledger"][0]["timestamp"], e["ledger"][0]["amount"]) for e in entries)
    assert grants == [(start, amount) for (start, _), amount in zip(EXAMPLE_SPANS, EXAMPLE[proration], strict=True)]
    assert {(e["type"], e["balance"]) for e in entries} == {("commit", "0.00")}  # all of 2025 is past


def test_a_recurring_credit_is_a_credit_per_period_and_the_default_proration_is_first_and_last(
    api: ApiClient,
) -> None:
    customer_id = new_customer(api)
    created = api.post(CREATE, contract(customer_id, recurring_credits=[CREDIT_ITEM])).data
    (item,) = created["recurring_credits"]
    assert (item["type"], item["proration"], created["recurring_commits"]) == (None, "FIRST_AND_LAST", [])
    credits = listed(api, CREDITS, customer_id, contract_id=created["id"])
    assert [amount for *_, amount in periods(credits)] == EXAMPLE["FIRST_AND_LAST"]
    assert {c["recurring_commit_id"] for c in credits} == {item["id"]}
    assert listed(api, COMMITS, customer_id) == []
    assert {e["type"] for e in listed(api, BALANCES, customer_id)} == {"credit"}


def test_a_january_31_contract_has_clamped_months(api: ApiClient) -> None:
    customer_id = new_customer(api)
    item = {**ITEM, "amount": "300.00", "starting_at": "2025-01-31T00:00:00Z", "ending_before": "2025-06-15T00:00:00Z"}
    body = contract(customer_id, starting_at="2025-01-31T00:00:00Z", recurring_commits=[item])
    created = api.post(CREATE, body).data
    assert periods(listed(api, COMMITS, customer_id, contract_id=created["id"])) == [
        ("2025-01-31T00:00:00Z", "2025-02-28T00:00:00Z", "300.00"),
        ("2025-02-28T00:00:00Z", "2025-03-31T00:00:00Z", "300.00"),
        ("2025-03-31T00:00:00Z", "2025-04-30T00:00:00Z", "300.00"),
        ("2025-04-30T00:00:00Z", "2025-05-31T00:00:00Z", "300.00"),
        ("2025-05-31T00:00:00Z", "2025-06-15T00:00:00Z", "150.00"),  # 15 of May 31 - Jun 30's 30 days
    ]


def test_the_period_active_now_shows_its_balance(api: ApiClient) -> None:
    customer_id = new_customer(api)
    this_month = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    start = (this_month - timedelta(days=1)).replace(day=1)  # last month: then this one and two more
    text, end = start.strftime("%Y-%m-%dT%H:%M:%SZ"), period_start(start, 4).strftime("%Y-%m-%dT%H:%M:%SZ")
    item = {**ITEM, "starting_at": text, "ending_before": None, "amount": "50.00"}
    created = api.post(CREATE, contract(customer_id, starting_at=text, ending_before=end, recurring_commits=[item]))
    commits = listed(api, COMMITS, customer_id, contract_id=created.data["id"], include_balance=True)
    assert sorted((c["status"], c["balance"]) for c in commits) == [
        ("active", "50.00"), ("expired", "0.00"), ("upcoming", "0.00"), ("upcoming", "0.00"),
    ]  # fmt: skip
    assert sorted(e["balance"] for e in listed(api, BALANCES, customer_id)) == ["0.00", "0.00", "0.00", "50.00"]


# -- errors ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"recurring_commits": [{**ITEM, "ending_before": "2026-02-01T00:00:00Z"}],
          "ending_before": "2026-01-01T00:00:00Z"}, "recurring_commits.0.ending_before"),
        ({"recurring_commits": [ITEM, {**ITEM, "ending_before": None}]}, "recurring_commits.1.ending_before"),
        ({"recurring_commits": [{**ITEM, "starting_at": "2024-12-01T00:00:00Z"}]}, "recurring_commits.0.starting_at"),
        ({"recurring_commits": [{**ITEM, "ending_before": "2125-01-01T00:00:00Z"}]},
         "recurring_commits.0.ending_before"),  # 1,200 months: over the 600 periods an item may have
        ({"recurring_commits": [{**ITEM, "amount": "1.001"}]}, "recurring_commits.0.amount"),
        ({"recurring_commits": [{**ITEM, "recurrence_frequency": "WEEKLY"}]},
         "recurring_commits.0.recurrence_frequency"),
        ({"recurring_commits": [{**ITEM, "proration": "BOTH"}]}, "recurring_commits.0.proration"),
        ({"recurring_commits": [CREDIT_ITEM]}, "recurring_commits.0.type"),
        ({"recurring_credits": [ITEM]}, "recurring_credits.0.type"),
        ({"recurring_credits": [{**CREDIT_ITEM, "currency": "XXX"}]}, "recurring_credits.0.currency"),
        ({"recurring_credits": [CREDIT_ITEM] * 21}, "recurring_credits"),
        ({"recurring_credits": [{**CREDIT_ITEM, "ending_before": "2075-01-01T00:00:00Z"}] * 5},
         "recurring_credits.4.ending_before"),  # 5 x 600 periods: over 2,400 a contract may have
    ],
)  # fmt: skip
def test_bad_items_are_400_naming_their_field_and_create_nothing(
    api: ApiClient, fields: dict[str, Any], field: str
) -> None:
    customer_id = new_customer(api)
    assert api.post(CREATE, contract(customer_id, **fields)).error() == (400, field)
    assert api.post("/v1/contracts/list", {"customer_id": customer_id}).data == []
    assert listed(api, BALANCES, customer_id) == []


def test_an_unknown_customer_is_404_after_the_items_are_checked(api: ApiClient) -> None:
    assert api.post(CREATE, contract("cust_missing", recurring_commits=[ITEM])).error() == (404, "customer_id")
    bad = {**ITEM, "starting_at": "2024-01-01T00:00:00Z"}
    assert api.post(CREATE, contract("cust_missing", recurring_commits=[bad])).error() == (
        400,
        "recurring_commits.0.starting_at",
    )


# -- retries, large plans, audit -------------------------------------------------------------------
def test_a_retried_create_creates_nothing_twice(api: ApiClient) -> None:
    customer_id = new_customer(api)
    keyed = {
        "type": "PREPAID", "name": "setup", "currency": "USD", "uniqueness_key": f"po-{uuid.uuid4().hex}",
        "access_schedule": [{"amount": "10.00", "starting_at": "2025-01-01T00:00:00Z",
                             "ending_before": "2025-02-01T00:00:00Z"}],
    }  # fmt: skip
    body = contract(customer_id, commits=[keyed], recurring_commits=[ITEM], recurring_credits=[CREDIT_ITEM])
    first = api.post(CREATE, body).data
    assert api.post(CREATE, body).error() == (409, "commits.0.uniqueness_key")
    assert [c["id"] for c in api.post("/v1/contracts/list", {"customer_id": customer_id}).data] == [first["id"]]
    commits, credits = listed(api, COMMITS, customer_id), listed(api, CREDITS, customer_id)
    assert (len(commits), len(credits)) == (1 + 4, 4)
    assert len({c["id"] for c in commits + credits}) == 9


def test_ten_years_monthly_is_120_commits(api: ApiClient) -> None:
    customer_id = new_customer(api)
    item = {**ITEM, "starting_at": "2025-01-01T00:00:00Z", "ending_before": "2035-01-01T00:00:00Z"}
    created = api.post(CREATE, contract(customer_id, ending_before="2035-01-01T00:00:00Z", recurring_commits=[item]))
    (plan,) = created.data["recurring_commits"]
    assert plan["periods"] == 120
    commits = listed(api, COMMITS, customer_id, contract_id=created.data["id"])
    spans = periods(commits)
    assert len(spans) == len({c["id"] for c in commits}) == 120
    assert (spans[0][0], spans[-1][1]) == ("2025-01-01T00:00:00Z", "2035-01-01T00:00:00Z")
    assert all(spans[n][1] == spans[n + 1][0] for n in range(119))  # contiguous: none missing, none twice
    assert {amount for *_, amount in spans} == {"310.00"}
    assert {c["recurring_commit_id"] for c in commits} == {plan["id"]}
    assert len(listed(api, BALANCES, customer_id)) == 120


def test_the_create_has_one_audit_entry_with_ip_and_user_agent(api: ApiClient) -> None:
    agent = f"recurring-audit/{uuid.uuid4().hex}"
    customer_id = new_customer(api)
    item = {**ITEM, "starting_at": "2025-01-01T00:00:00Z", "ending_before": "2035-01-01T00:00:00Z"}
    created = api.post(CREATE, contract(customer_id, recurring_commits=[item]), user_agent=agent).data
    bad = contract(customer_id, recurring_commits=[{**item, "ending_before": None}])
    assert api.post(CREATE, bad, user_agent=agent).status == 400
    entries = [e for e in api.get("/v1/auditLogs?limit=100").data if e["user_agent"] == agent]
    assert [(e["action"], e["resource_type"], e["resource_id"], e["status_code"]) for e in entries] == [
        ("contracts.create", "contract", None, 400),
        ("contracts.create", "contract", created["id"], 200),
    ]
    assert {e["ip_address"] for e in entries} == {"127.0.0.1"}


# -- concurrency on DynamoDB (the stack's moto server; the store suite runs these on the fake) -------
@pytest.fixture(scope="module")
def stack_store(local_api: LocalApi) -> Any:
    local_api.store.create_customer(customer("cust_acme"))  # what the store suite's helpers name
    return local_api.store


def test_concurrent_completions_on_dynamodb_write_each_period_once(stack_store: Any) -> None:
    concurrent_completions_write_each_period_once(stack_store)


def test_concurrent_identical_creates_on_dynamodb_make_one_contract(stack_store: Any) -> None:
    concurrent_creates_make_one_contract(stack_store)
