"""Commits, credits, manual entries and balances through `downbeat local` (real sockets, DynamoDB on
moto): every path and error, the audit entries, uniqueness keys under concurrency, and the balance
table of docs/ledger.md with invoices drawn down, re-versioned and voided.

The stack's clock is the wall clock, so segments are placed far from now: ACTIVE spans it,
EXPIRED ended years ago, UPCOMING starts in decades.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.domain.invoice import InvoiceEvent
from tests.builders import invoice_event
from tests.integration.api_harness import ApiClient, LocalApi

RECEIVED = datetime(2025, 3, 1, tzinfo=UTC)
ACTIVE = ("2020-01-01T00:00:00Z", "2090-01-01T00:00:00Z")
EXPIRED = ("2020-01-01T00:00:00Z", "2021-01-01T00:00:00Z")
UPCOMING = ("2090-01-01T00:00:00Z", "2091-01-01T00:00:00Z")
COMMITS = "/v1/contracts/customerCommits"
CREDITS = "/v1/contracts/customerCredits"
BALANCES = "/v1/contracts/customerBalances/list"
MANUAL = "/v1/contracts/addManualBalanceLedgerEntry"


def new_customer(api: ApiClient) -> str:
    customer_id: str = api.post("/v1/customers", {"name": "Ledger test"}).data["id"]
    return customer_id


def schedule(*segments: tuple[str, tuple[str, str]]) -> list[dict[str, str]]:
    return [{"amount": amount, "starting_at": start, "ending_before": end} for amount, (start, end) in segments]


def commit_body(customer_id: str, *segments: tuple[str, tuple[str, str]], **fields: Any) -> dict[str, Any]:
    return {
        "customer_id": customer_id,
        "type": "PREPAID",
        "name": "2025 commit",
        "priority": 1,
        "currency": "USD",
        "access_schedule": schedule(*(segments or (("1000.00", ACTIVE),))),
        "applicable_product_ids": ["prod_api"],
        "custom_fields": {"team": "ml"},
        **fields,
    }


def credit_body(customer_id: str, *segments: tuple[str, tuple[str, str]], **fields: Any) -> dict[str, Any]:
    body = commit_body(customer_id, *segments, name="promo credit", **fields)
    del body["type"]
    return body


def create_commit(api: ApiClient, customer_id: str, *segments: tuple[str, tuple[str, str]], **fields: Any) -> Any:
    return api.post(f"{COMMITS}/create", commit_body(customer_id, *segments, **fields)).data


def balances(api: ApiClient, customer_id: str, **fields: Any) -> dict[str, str]:
    data = api.post(BALANCES, {"customer_id": customer_id, "limit": 100, **fields}).data
    return {entry["id"]: entry["balance"] for entry in data}


def save_invoice(local_api: LocalApi, **overrides: Any) -> None:
    local_api.store.save_invoice(InvoiceEvent.model_validate(invoice_event(**overrides)).detail, RECEIVED)


def drawing(commit_id: str, amount: str) -> list[dict[str, str]]:
    return [{"id": commit_id, "type": "PREPAID", "amount": amount}]


def mine(api: ApiClient, agent: str) -> list[tuple[str, str, str | None, int]]:
    entries = api.get("/v1/auditLogs?limit=100").data
    return [
        (e["action"], e["resource_type"], e["resource_id"], e["status_code"])
        for e in entries
        if e["user_agent"] == agent
    ]


# -- create, list, shapes --------------------------------------------------------------------------
def test_commit_and_credit_create_and_list_with_status_balance_and_ledger(api: ApiClient) -> None:
    customer_id = new_customer(api)
    contract = api.post(
        "/v1/contracts/create", {"customer_id": customer_id, "name": "2025", "starting_at": "2025-01-01T00:00:00Z"}
    ).data
    commit = create_commit(
        api, customer_id, ("600.00", ACTIVE), ("400.00", EXPIRED), contract_id=contract["id"], uniqueness_key="po-1"
    )
    assert commit["id"].startswith("commit_")
    assert [segment["amount"] for segment in commit["segments"]] == ["600.00", "400.00"]
    assert all(segment["id"].startswith("seg_") for segment in commit["segments"])
    assert commit["segments"][0]["starting_at"] == ACTIVE[0]
    assert (commit["type"], commit["uniqueness_key"], commit["status"], commit["contract_id"]) == (
        "PREPAID", "po-1", "active", contract["id"],
    )  # fmt: skip
    assert (commit["priority"], commit["applicable_product_ids"], commit["custom_fields"]) == (
        1,
        ["prod_api"],
        {"team": "ml"},
    )
    assert commit["balance"] is None  # not asked for
    credit = api.post(f"{CREDITS}/create", credit_body(customer_id, ("25.00", UPCOMING))).data
    assert "type" not in credit
    assert credit["id"].startswith("credit_")

    listed = api.post(f"{COMMITS}/list", {"customer_id": customer_id, "include_balance": True}).body
    assert listed["next_page"] is None
    (shown,) = listed["data"]
    assert (shown["id"], shown["status"], shown["balance"], shown["ledger"]) == (commit["id"], "active", "600.00", None)
    with_ledger = api.post(f"{COMMITS}/list", {"customer_id": customer_id, "include_ledgers": True}).data[0]
    assert [(e["type"], e["amount"]) for e in with_ledger["ledger"]] == [("grant", "600.00"), ("grant", "400.00")]
    (listed_credit,) = api.post(f"{CREDITS}/list", {"customer_id": customer_id, "include_balance": True}).data
    assert (listed_credit["status"], listed_credit["balance"]) == ("upcoming", "0.00")
    data = api.post(BALANCES, {"customer_id": customer_id}).data
    assert sorted((e["type"], e["name"], e["currency"], e["balance"]) for e in data) == [
        ("commit", "2025 commit", "USD", "600.00"),
        ("credit", "promo credit", "USD", "0.00"),
    ]
    by_contract = api.post(BALANCES, {"customer_id": customer_id, "contract_id": contract["id"]}).data
    assert [entry["id"] for entry in by_contract] == [commit["id"]]


def test_lists_page_with_limit_and_next_page(api: ApiClient) -> None:
    customer_id = new_customer(api)
    created = {create_commit(api, customer_id)["id"] for _ in range(3)}
    first = api.post(f"{COMMITS}/list", {"customer_id": customer_id, "limit": 2}).body
    assert len(first["data"]) == 2
    rest = api.post(f"{COMMITS}/list", {"customer_id": customer_id, "limit": 2, "next_page": first["next_page"]}).body
    assert rest["next_page"] is None
    assert {entry["id"] for entry in first["data"] + rest["data"]} == created
    refused = api.post(BALANCES, {"customer_id": customer_id, "next_page": "garbage"})
    assert refused.error() == (400, "next_page")


def test_zero_decimal_and_three_decimal_currencies_show_their_minor_units(api: ApiClient) -> None:
    customer_id = new_customer(api)
    yen = create_commit(api, customer_id, ("12345", ACTIVE), currency="JPY")
    dinar = create_commit(api, customer_id, ("1.5", ACTIVE), currency="KWD")
    assert yen["segments"][0]["amount"] == "12345"
    assert balances(api, customer_id) == {yen["id"]: "12345", dinar["id"]: "1.500"}


def test_contract_create_takes_commits_and_credits_in_its_transaction(api: ApiClient) -> None:
    customer_id = new_customer(api)
    body: dict[str, Any] = {
        "customer_id": customer_id,
        "name": "with commits",
        "starting_at": "2025-01-01T00:00:00Z",
        "commits": [
            {k: v for k, v in commit_body(customer_id).items() if k != "customer_id"} | {"uniqueness_key": "c-1"}
        ],
        "credits": [{k: v for k, v in credit_body(customer_id).items() if k != "customer_id"}],
    }
    created = api.post("/v1/contracts/create", body).data
    ((commit,), (credit,)) = created["commits"], created["credits"]
    assert (commit["contract_id"], credit["contract_id"]) == (created["id"], created["id"])
    assert balances(api, customer_id, contract_id=created["id"]) == {commit["id"]: "1000.00", credit["id"]: "1000.00"}
    # a taken key: nothing is created, neither contract nor commits
    again = api.post("/v1/contracts/create", {**body, "name": "again"})
    assert again.error() == (409, "commits.0.uniqueness_key")
    names = [c["name"] for c in api.post("/v1/contracts/list", {"customer_id": customer_id}).data]
    assert names == ["with commits"]
    repeated = {k: v for k, v in body["commits"][0].items() if k != "type"} | {"uniqueness_key": "k2"}
    twice = {**body, "commits": [], "credits": [repeated, repeated]}
    assert api.post("/v1/contracts/create", twice).error() == (409, "credits.1.uniqueness_key")


# -- errors ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "change", "field"),
    [
        (f"{COMMITS}/create", {"access_schedule": schedule(("1.001", ACTIVE))}, "access_schedule.0.amount"),
        (f"{COMMITS}/create", {"access_schedule": schedule(("1.5", ACTIVE)), "currency": "JPY"},
         "access_schedule.0.amount"),
        (f"{COMMITS}/create", {"access_schedule": schedule(("-1.00", ACTIVE))}, "access_schedule.0.amount"),
        (f"{COMMITS}/create", {"access_schedule": schedule(("1.00", (ACTIVE[1], ACTIVE[0])))},
         "access_schedule.0.ending_before"),
        (f"{COMMITS}/create", {"access_schedule": []}, "access_schedule"),
        (f"{COMMITS}/create", {"currency": "XXX"}, "currency"),
        (f"{COMMITS}/create", {"type": "MONTHLY"}, "type"),
        (f"{COMMITS}/create", {"uniqueness_key": ""}, "uniqueness_key"),
        (f"{COMMITS}/create", {"uniqueness_key": "k" * 129}, "uniqueness_key"),
        (f"{COMMITS}/create", {"name": "  "}, "name"),
        (f"{COMMITS}/create", {"priority": -1}, "priority"),
        (f"{COMMITS}/create", {"surprise": 1}, "surprise"),
        (f"{CREDITS}/create", {"type": "PREPAID"}, "type"),
        (f"{COMMITS}/list", {"limit": 0}, "limit"),
        (f"{COMMITS}/list", {"include_balance": "yes"}, "include_balance"),
        (BALANCES, {"limit": 101}, "limit"),
    ],
)  # fmt: skip
def test_bad_fields_are_400_naming_them(api: ApiClient, path: str, change: dict[str, Any], field: str) -> None:
    customer_id = new_customer(api)
    base = commit_body(customer_id) if path.endswith("create") else {"customer_id": customer_id}
    if path.startswith(CREDITS):
        base = credit_body(customer_id)
    assert api.post(path, {**base, **change}).error() == (400, field)
    assert api.post(BALANCES, {"customer_id": customer_id}).data == []  # nothing was created


def test_manual_entry_errors(api: ApiClient) -> None:
    customer_id = new_customer(api)
    commit = create_commit(api, customer_id, ("100.00", EXPIRED))
    base = {"customer_id": customer_id, "id": commit["id"], "amount": "5.00", "reason": "goodwill",
            "timestamp": "2025-06-01T00:00:00Z"}  # fmt: skip
    assert api.post(MANUAL, {**base, "reason": " "}).error() == (400, "reason")
    assert api.post(MANUAL, {**base, "amount": "5.001"}).error() == (400, "amount")
    assert api.post(MANUAL, {**base, "amount": 5}).error() == (400, "amount")
    assert api.post(MANUAL, {**base, "timestamp": "soon"}).error() == (400, "timestamp")
    # no segment is active at the timestamp, and none is named
    assert api.post(MANUAL, base).error() == (400, "segment_id")
    assert api.post(MANUAL, {**base, "segment_id": "seg_none"}).error() == (404, "segment_id")
    assert api.post(MANUAL, {**base, "id": "commit_none"}).error() == (404, "id")
    assert api.post(MANUAL, {**base, "customer_id": "cust_none"}).error() == (404, "customer_id")


def test_unknown_customer_or_contract_is_404_naming_it(api: ApiClient) -> None:
    customer_id = new_customer(api)
    for path in (f"{COMMITS}/create", f"{CREDITS}/create"):
        body = commit_body("cust_none") if path.startswith(COMMITS) else credit_body("cust_none")
        assert api.post(path, body).error() == (404, "customer_id")
        assert api.post(path, {**body, "customer_id": customer_id, "contract_id": "con_none"}).error() == (
            404, "contract_id",
        )  # fmt: skip
    for path in (f"{COMMITS}/list", f"{CREDITS}/list", BALANCES):
        assert api.post(path, {"customer_id": "cust_none"}).error() == (404, "customer_id")
        assert api.post(path, {"customer_id": customer_id, "contract_id": "con_none"}).error() == (404, "contract_id")


# -- uniqueness_key --------------------------------------------------------------------------------
def test_a_uniqueness_key_is_used_once_across_commits_and_credits(api: ApiClient) -> None:
    customer_id = new_customer(api)
    create_commit(api, customer_id, uniqueness_key="po-4471")
    same = api.post(f"{COMMITS}/create", commit_body(customer_id, uniqueness_key="po-4471"))
    assert same.error() == (409, "uniqueness_key")
    other_body = api.post(f"{COMMITS}/create", commit_body(customer_id, ("5.00", ACTIVE), uniqueness_key="po-4471"))
    assert other_body.error() == (409, "uniqueness_key")
    as_credit = api.post(f"{CREDITS}/create", credit_body(customer_id, uniqueness_key="po-4471"))
    assert as_credit.error() == (409, "uniqueness_key")
    assert len(balances(api, customer_id)) == 1
    assert api.post(f"{COMMITS}/create", commit_body(new_customer(api), uniqueness_key="po-4471")).status == 200


def test_fifty_concurrent_creates_with_one_key_make_one_commit(api: ApiClient) -> None:
    customer_id = new_customer(api)
    body = commit_body(customer_id, uniqueness_key=f"race-{uuid.uuid4().hex}")
    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = sorted(pool.map(lambda _: api.post(f"{COMMITS}/create", body).status, range(50)))
    assert statuses == [200] + [409] * 49
    assert len(api.post(f"{COMMITS}/list", {"customer_id": customer_id, "limit": 100}).data) == 1


# -- the balance table -----------------------------------------------------------------------------
def test_balance_grant_only(api: ApiClient) -> None:
    customer_id = new_customer(api)
    active = create_commit(api, customer_id, ("250.00", ACTIVE), ("100.00", EXPIRED), ("75.00", UPCOMING))
    assert balances(api, customer_id) == {active["id"]: "250.00"}


def test_three_versions_of_one_invoice_draw_once_and_voiding_reverses(local_api: LocalApi, api: ApiClient) -> None:
    customer_id = new_customer(api)
    commit = create_commit(api, customer_id, ("1000.00", ACTIVE))
    invoice = {"id": f"{customer_id}-inv", "customer_id": customer_id}

    def billed() -> dict[str, str]:
        found: dict[str, str] = api.get(f"/v1/customers/{customer_id}").data["lifetime_billings"]
        return found

    save_invoice(
        local_api, **invoice, status="DRAFT", total="0.00", applied_credits=drawing(commit["id"], "50.00"), version=1
    )
    assert (balances(api, customer_id), billed()) == ({commit["id"]: "1000.00"}, {})
    save_invoice(local_api, **invoice, total="10.00", applied_credits=drawing(commit["id"], "100.00"), version=2)
    assert (balances(api, customer_id), billed()) == ({commit["id"]: "900.00"}, {"USD": "10.00"})
    save_invoice(local_api, **invoice, total="20.00", applied_credits=drawing(commit["id"], "250.50"), version=3)
    assert (balances(api, customer_id), billed()) == ({commit["id"]: "749.50"}, {"USD": "20.00"})
    save_invoice(local_api, **invoice, total="30.00", applied_credits=drawing(commit["id"], "300.00"), version=4)
    assert (balances(api, customer_id), billed()) == ({commit["id"]: "700.00"}, {"USD": "30.00"})
    ledger = api.post(BALANCES, {"customer_id": customer_id, "include_ledgers": True}).data[0]["ledger"]
    assert [(e["type"], e["amount"], e["invoice_id"]) for e in ledger] == [
        ("grant", "1000.00", None), ("drawdown", "-300.00", invoice["id"]),
    ]  # fmt: skip
    save_invoice(
        local_api, **invoice, status="VOID", total="30.00", applied_credits=drawing(commit["id"], "300.00"), version=5
    )
    assert (balances(api, customer_id), billed()) == ({commit["id"]: "1000.00"}, {"USD": "0.00"})


def test_lifetime_billings_on_the_customers_list_follow_drawn_down_invoices(
    local_api: LocalApi, api: ApiClient
) -> None:
    """The customers list (not only the customer's own page) moves with the ledger: a drawdown
    re-versioned replaces its total, a voided one removes it, a second currency stays apart."""
    customer_id = new_customer(api)
    commit = create_commit(api, customer_id, ("1000.00", ACTIVE))
    euros = create_commit(api, customer_id, ("500.00", ACTIVE), currency="EUR")

    def listed() -> tuple[dict[str, str], dict[str, str]]:
        found: dict[str, Any] = {}
        cursor = None
        while True:
            page = api.get("/v1/customers?limit=100" + (f"&next_page={cursor}" if cursor else "")).body
            found |= {entry["id"]: entry for entry in page["data"]}
            if (cursor := page["next_page"]) is None:
                return found[customer_id]["lifetime_billings"], balances(api, customer_id)

    usd = {"id": f"{customer_id}-usd", "customer_id": customer_id}
    eur = {"id": f"{customer_id}-eur", "customer_id": customer_id, "currency": "EUR"}
    save_invoice(local_api, **usd, total="40.00", applied_credits=drawing(commit["id"], "100.00"), version=1)
    save_invoice(local_api, **eur, total="7.50", applied_credits=drawing(euros["id"], "20.00"), version=1)
    assert listed() == ({"USD": "40.00", "EUR": "7.50"}, {commit["id"]: "900.00", euros["id"]: "480.00"})
    save_invoice(local_api, **usd, total="55.25", applied_credits=drawing(commit["id"], "150.00"), version=2)
    assert listed() == ({"USD": "55.25", "EUR": "7.50"}, {commit["id"]: "850.00", euros["id"]: "480.00"})
    save_invoice(local_api, **usd, status="VOID", total="55.25", applied_credits=drawing(commit["id"], "150.00"),
                 version=3)  # fmt: skip
    assert listed() == ({"USD": "0.00", "EUR": "7.50"}, {commit["id"]: "1000.00", euros["id"]: "480.00"})
    save_invoice(local_api, **usd, total="99.99", applied_credits=drawing(commit["id"], "999.00"), version=2)
    assert listed() == ({"USD": "0.00", "EUR": "7.50"}, {commit["id"]: "1000.00", euros["id"]: "480.00"})  # stale


def test_negative_manual_entries_beyond_the_remainder_show_zero_until_the_sum_is_positive(api: ApiClient) -> None:
    customer_id = new_customer(api)
    commit = create_commit(api, customer_id, ("100.00", ACTIVE))
    entry = {
        "customer_id": customer_id,
        "id": commit["id"],
        "reason": "correction",
        "timestamp": "2025-06-01T00:00:00Z",
    }
    added = api.post(MANUAL, {**entry, "amount": "-230.00"}).data
    assert (added["type"], added["amount"], added["segment_id"]) == ("manual", "-230.00", commit["segments"][0]["id"])
    assert balances(api, customer_id) == {commit["id"]: "0.00"}
    api.post(MANUAL, {**entry, "amount": "50.00"})
    assert balances(api, customer_id) == {commit["id"]: "0.00"}  # -80: a sum, not a running clamp
    api.post(MANUAL, {**entry, "amount": "100.00"})
    assert balances(api, customer_id) == {commit["id"]: "20.00"}


def test_future_dated_manual_entries_count_on_an_active_segment_and_not_on_an_expired_one(api: ApiClient) -> None:
    customer_id = new_customer(api)
    commit = create_commit(api, customer_id, ("100.00", ACTIVE), ("40.00", EXPIRED))
    active_segment, expired_segment = (segment["id"] for segment in commit["segments"])
    entry = {"customer_id": customer_id, "id": commit["id"], "reason": "next year", "timestamp": "2089-06-01T00:00:00Z"}
    assert api.post(MANUAL, {**entry, "amount": "-30.00"}).data["segment_id"] == active_segment
    assert balances(api, customer_id) == {commit["id"]: "70.00"}
    assert api.post(MANUAL, {**entry, "amount": "500.00", "segment_id": expired_segment}).status == 200
    assert balances(api, customer_id) == {commit["id"]: "70.00"}  # stored, counted nowhere
    ledger = api.post(BALANCES, {"customer_id": customer_id, "include_ledgers": True}).data[0]["ledger"]
    assert sorted(e["amount"] for e in ledger if e["type"] == "manual") == ["-30.00", "500.00"]


def test_a_commit_billed_by_an_invoice_is_pending_then_active_then_voided(local_api: LocalApi, api: ApiClient) -> None:
    customer_id = new_customer(api)
    invoice_id = f"{customer_id}-bills-the-commit"
    commit = create_commit(api, customer_id, invoice_id=invoice_id)

    def status() -> tuple[str, str]:
        (entry,) = api.post(BALANCES, {"customer_id": customer_id}).data
        return entry["status"], entry["balance"]

    assert status() == ("pending", "1000.00")
    save_invoice(local_api, id=invoice_id, customer_id=customer_id, status="DRAFT", applied_credits=[], version=1)
    assert status() == ("pending", "1000.00")
    save_invoice(local_api, id=invoice_id, customer_id=customer_id, applied_credits=[], version=2)
    assert status() == ("active", "1000.00")
    save_invoice(local_api, id=invoice_id, customer_id=customer_id, status="VOID", applied_credits=[], version=3)
    assert status() == ("voided", "0.00")
    (listed,) = api.post(f"{COMMITS}/list", {"customer_id": customer_id}).data
    assert listed["id"] == commit["id"]
    assert listed["status"] == "voided"


def test_an_applied_credit_naming_no_commit_leaves_the_invoice_stored(local_api: LocalApi, api: ApiClient) -> None:
    customer_id = new_customer(api)
    commit = create_commit(api, customer_id, ("100.00", ACTIVE))
    applied = [*drawing(commit["id"], "10.00"), *drawing("commit_unknown", "5.00")]
    save_invoice(local_api, id=f"{customer_id}-i", customer_id=customer_id, applied_credits=applied, version=1)
    assert balances(api, customer_id) == {commit["id"]: "90.00"}
    assert api.get(f"/v1/customers/{customer_id}/invoices/{customer_id}-i").status == 200


# -- audit -----------------------------------------------------------------------------------------
def test_every_mutating_call_is_audited_with_ip_and_user_agent(api: ApiClient) -> None:
    agent = f"ledger-audit/{uuid.uuid4().hex}"
    customer_id = new_customer(api)
    commit = api.post(f"{COMMITS}/create", commit_body(customer_id, uniqueness_key="a-1"), user_agent=agent).data
    assert api.post(f"{COMMITS}/create", commit_body(customer_id, uniqueness_key="a-1"), user_agent=agent).status == 409
    credit = api.post(f"{CREDITS}/create", credit_body(customer_id), user_agent=agent).data
    assert api.post(f"{CREDITS}/create", credit_body("cust_none"), user_agent=agent).status == 404
    entry = {"customer_id": customer_id, "id": commit["id"], "amount": "-1.00", "reason": "r", "timestamp": ACTIVE[0]}
    added = api.post(MANUAL, entry, user_agent=agent).data
    assert api.post(MANUAL, {**entry, "amount": "x"}, user_agent=agent).status == 400
    for path in (f"{COMMITS}/list", f"{CREDITS}/list", BALANCES):  # read-only: not audited
        assert api.post(path, {"customer_id": customer_id}, user_agent=agent).status == 200
    assert mine(api, agent) == [
        ("addManualBalanceLedgerEntry", "ledger_entry", None, 400),
        ("addManualBalanceLedgerEntry", "ledger_entry", added["id"], 200),
        ("customerCredits.create", "credit", None, 404),
        ("customerCredits.create", "credit", credit["id"], 200),
        ("customerCommits.create", "commit", None, 409),
        ("customerCommits.create", "commit", commit["id"], 200),
    ]  # newest first
    entries = [e for e in api.get("/v1/auditLogs?limit=100").data if e["user_agent"] == agent]
    assert {e["ip_address"] for e in entries} == {"127.0.0.1"}
