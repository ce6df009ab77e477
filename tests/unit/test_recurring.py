"""Recurring commits and credits: periods aligned to the contract, clamped months, proration."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, ValidationError

from shared.domain.customers import Contract
from shared.domain.money import quantum
from shared.domain.recurring import (
    MAX_RECURRING_PERIODS,
    RecurringCommit,
    RecurringItem,
    period_start,
    recurring_periods,
)
from shared.domain.validation import FieldError, first_field_error
from shared.services.api_recurring import (
    MAX_CONTRACT_PERIODS,
    RecurringCommits,
    RecurringCredits,
    period_commits,
    plan_recurring,
    recurring_item_id,
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def item(**fields: Any) -> RecurringItem:
    body: dict[str, Any] = {
        "name": "Monthly allowance",
        "amount": "310.00",
        "currency": "USD",
        "recurrence_frequency": "MONTHLY",
        "starting_at": "2025-01-15T00:00:00Z",
        "ending_before": "2025-04-10T00:00:00Z",
        **fields,
    }
    return RecurringItem.model_validate(body)


def shown(periods: list[Any]) -> list[tuple[str, str, str]]:
    return [(p.starting_at.strftime("%m-%d"), p.ending_before.strftime("%m-%d"), str(p.amount)) for p in periods]


CONTRACT_START = at("2025-01-01T00:00:00Z")


# -- the worked example, in every proration mode --------------------------------------------------
@pytest.mark.parametrize(
    ("proration", "amounts"),
    [
        ("FIRST_AND_LAST", ["170.00", "310.00", "310.00", "93.00"]),
        ("FIRST", ["170.00", "310.00", "310.00", "310.00"]),
        ("LAST", ["310.00", "310.00", "310.00", "93.00"]),
        ("NONE", ["310.00", "310.00", "310.00", "310.00"]),
    ],
)
def test_the_worked_example(proration: str, amounts: list[str]) -> None:
    periods = recurring_periods(CONTRACT_START, None, item(proration=proration))
    assert shown(periods) == [
        ("01-15", "02-01", amounts[0]),
        ("02-01", "03-01", amounts[1]),
        ("03-01", "04-01", amounts[2]),
        ("04-01", "04-10", amounts[3]),
    ]
    assert [p.index for p in periods] == [0, 1, 2, 3]


def test_proration_is_the_default_first_and_last() -> None:
    assert item().proration == "FIRST_AND_LAST"


def test_a_period_partial_at_both_ends_is_prorated_once_by_what_it_covers() -> None:
    inside = {"starting_at": "2025-01-11T00:00:00Z", "ending_before": "2025-01-21T00:00:00Z"}  # 10 of 31 days
    for proration, amount in [
        ("FIRST_AND_LAST", "100.00"),
        ("FIRST", "100.00"),
        ("LAST", "100.00"),
        ("NONE", "310.00"),
    ]:
        (period,) = recurring_periods(CONTRACT_START, None, item(proration=proration, **inside))
        assert (str(period.amount), period.prorated) == (amount, proration != "NONE")


def test_an_item_without_an_end_ends_with_the_contract() -> None:
    periods = recurring_periods(CONTRACT_START, at("2025-04-10T00:00:00Z"), item(ending_before=None))
    assert shown(periods)[-1] == ("04-01", "04-10", "93.00")


def test_both_open_ended_names_ending_before() -> None:
    with pytest.raises(FieldError) as refused:
        recurring_periods(CONTRACT_START, None, item(ending_before=None))
    assert refused.value.field == "ending_before"


@pytest.mark.parametrize(
    ("contract_end", "fields", "field"),
    [
        (None, {"starting_at": "2024-12-31T00:00:00Z"}, "starting_at"),
        ("2025-03-01T00:00:00Z", {}, "ending_before"),
        ("2025-01-10T00:00:00Z", {"ending_before": None}, "starting_at"),
    ],
    ids=["starts-before-the-contract", "ends-after-the-contract", "starts-after-the-contract-ends"],
)
def test_an_item_outside_its_contract_names_the_field(
    contract_end: str | None, fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(FieldError) as refused:
        recurring_periods(CONTRACT_START, at(contract_end) if contract_end else None, item(**fields))
    assert refused.value.field == field


# -- clamped months, other frequencies ------------------------------------------------------------
def test_a_jan_31_start_clamps_each_month_independently() -> None:
    contract_start = at("2025-01-31T00:00:00Z")
    periods = recurring_periods(
        contract_start,
        None,
        item(starting_at="2025-01-31T00:00:00Z", ending_before="2025-06-15T00:00:00Z", amount="300.00"),
    )
    assert [p.starting_at.date().isoformat() for p in periods] == [
        "2025-01-31",
        "2025-02-28",
        "2025-03-31",  # back to the 31st: not 28 days after Feb 28
        "2025-04-30",
        "2025-05-31",
    ]
    assert periods[-1].ending_before == at("2025-06-15T00:00:00Z")
    # whole periods of 28, 31, 30 and 31 days are all worth the full amount; the last, May 31 to
    # Jun 30 (30 days), is covered to Jun 15: 15 of 30 days
    assert [str(p.amount) for p in periods] == ["300.00", "300.00", "300.00", "300.00", "150.00"]


def test_leap_february_and_time_of_day_are_kept() -> None:
    contract_start = at("2024-01-30T06:00:00Z")
    assert [period_start(contract_start, n).isoformat() for n in (1, 2, 13)] == [
        "2024-02-29T06:00:00+00:00",
        "2024-03-30T06:00:00+00:00",
        "2025-02-28T06:00:00+00:00",
    ]


def test_quarterly_and_annual_periods() -> None:
    quarterly = recurring_periods(
        CONTRACT_START,
        None,
        item(recurrence_frequency="QUARTERLY", amount="900.00", ending_before="2025-08-01T00:00:00Z"),
    )
    # Q1 from Jan 15: 76 of 90 days; Q2 whole; Q3 to Aug 1: 31 of 92 days
    assert shown(quarterly) == [
        ("01-15", "04-01", "760.00"),
        ("04-01", "07-01", "900.00"),
        ("07-01", "08-01", "303.26"),
    ]
    # 2025 from Jan 15: 351 of 365 days; 2027 to Jul 2 noon: 182.5 of 365 days
    annual = recurring_periods(
        CONTRACT_START,
        None,
        item(recurrence_frequency="ANNUAL", amount="3650.00", ending_before="2027-07-02T12:00:00Z"),
    )
    assert [(p.starting_at.year, str(p.amount)) for p in annual] == [
        (2025, "3510.00"),
        (2026, "3650.00"),
        (2027, "1825.00"),
    ]


# -- currencies: minor units and rounding half-up -------------------------------------------------
def test_jpy_periods_are_whole_yen() -> None:
    periods = recurring_periods(CONTRACT_START, None, item(currency="JPY", amount="10000"))
    assert [str(p.amount) for p in periods] == ["5484", "10000", "10000", "3000"]  # 5483.87 → 5484


def test_kwd_periods_have_three_decimals() -> None:
    periods = recurring_periods(CONTRACT_START, None, item(currency="KWD", amount="100.000"))
    assert [str(p.amount) for p in periods] == ["54.839", "100.000", "100.000", "30.000"]  # 54.8387… → 54.839


def test_rounding_is_half_up() -> None:
    # 0.01 * 15/30 = 0.005 exactly → 0.01 (half-up), never banker's 0.00
    (period,) = recurring_periods(
        at("2025-04-01T00:00:00Z"),
        None,
        item(amount="0.01", starting_at="2025-04-16T00:00:00Z", ending_before="2025-05-01T00:00:00Z"),
    )
    assert str(period.amount) == "0.01"


def test_an_amount_finer_than_the_currency_is_refused() -> None:
    with pytest.raises(ValidationError) as refused:
        item(currency="JPY", amount="10.5")
    assert first_field_error(refused.value, {}).field == "amount"


# -- the bound on the number of periods -----------------------------------------------------------
def test_ten_years_monthly_is_120_periods() -> None:
    periods = recurring_periods(
        CONTRACT_START, None, item(starting_at="2025-01-01T00:00:00Z", ending_before="2035-01-01T00:00:00Z")
    )
    assert len(periods) == 120
    assert all(p.amount == Decimal("310.00") for p in periods)


def test_a_hundred_years_monthly_is_refused_with_its_field() -> None:
    with pytest.raises(FieldError) as refused:
        recurring_periods(
            CONTRACT_START, None, item(starting_at="2025-01-01T00:00:00Z", ending_before="2125-01-01T00:00:00Z")
        )
    assert refused.value.field == "ending_before"
    assert str(MAX_RECURRING_PERIODS) in refused.value.message


def test_open_ended_to_the_last_year_is_refused_not_overflowed() -> None:
    contract_start = at("9999-11-15T00:00:00Z")
    with pytest.raises(FieldError) as refused:
        recurring_periods(
            contract_start,
            at("9999-12-30T00:00:00Z"),
            item(starting_at="9999-12-01T00:00:00Z", ending_before=None),
        )
    assert refused.value.field == "ending_before"


# -- the request shape ----------------------------------------------------------------------------
class _Lists(BaseModel):
    model_config = ConfigDict(extra="forbid")
    recurring_commits: RecurringCommits = []
    recurring_credits: RecurringCredits = []


COMMIT = {
    "name": "Monthly allowance",
    "amount": "310.00",
    "currency": "USD",
    "type": "PREPAID",
    "recurrence_frequency": "MONTHLY",
    "starting_at": "2025-01-15T00:00:00Z",
    "ending_before": "2025-04-10T00:00:00Z",
    "proration": "FIRST_AND_LAST",
}
CREDIT = {key: value for key, value in COMMIT.items() if key != "type"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"recurring_commits": [{**COMMIT, "amount": 310}]}, "recurring_commits.0.amount"),
        ({"recurring_commits": [COMMIT, {**COMMIT, "amount": "1.001"}]}, "recurring_commits.1.amount"),
        ({"recurring_commits": [{**COMMIT, "amount": "-1.00"}]}, "recurring_commits.0.amount"),
        ({"recurring_commits": [CREDIT]}, "recurring_commits.0.type"),
        ({"recurring_commits": [{**COMMIT, "type": "GIFT"}]}, "recurring_commits.0.type"),
        ({"recurring_commits": [{**COMMIT, "recurrence_frequency": "WEEKLY"}]},
         "recurring_commits.0.recurrence_frequency"),
        ({"recurring_commits": [{**COMMIT, "proration": "BOTH"}]}, "recurring_commits.0.proration"),
        ({"recurring_commits": [{**COMMIT, "currency": "XXX"}]}, "recurring_commits.0.currency"),
        ({"recurring_commits": [{**COMMIT, "name": " "}]}, "recurring_commits.0.name"),
        ({"recurring_commits": [{**COMMIT, "ending_before": COMMIT["starting_at"]}]},
         "recurring_commits.0.ending_before"),
        ({"recurring_commits": [{**COMMIT, "applicable_product_ids": [""]}]},
         "recurring_commits.0.applicable_product_ids.0"),
        ({"recurring_commits": [{**COMMIT, "priority": -1}]}, "recurring_commits.0.priority"),
        ({"recurring_commits": [{**COMMIT, "custom_fields": {"a": 1}}]}, "recurring_commits.0.custom_fields.a"),
        ({"recurring_credits": [COMMIT]}, "recurring_credits.0.type"),  # a credit has no type
        ({"recurring_credits": [{**CREDIT, "colour": "red"}]}, "recurring_credits.0.colour"),
    ],
)  # fmt: skip
def test_the_request_shape_names_the_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        _Lists.model_validate(body)
    assert first_field_error(refused.value, body).field == field


def test_the_request_shape_takes_the_documented_example() -> None:
    lists = _Lists.model_validate({"recurring_commits": [COMMIT], "recurring_credits": [CREDIT]})
    assert isinstance(lists.recurring_commits[0], RecurringCommit)
    planned = plan_recurring(CONTRACT_START, None, lists.recurring_commits, lists.recurring_credits)
    assert [(p.field, [str(period.amount) for period in p.periods]) for p in planned] == [
        ("recurring_commits.0", ["170.00", "310.00", "310.00", "93.00"]),
        ("recurring_credits.0", ["170.00", "310.00", "310.00", "93.00"]),
    ]


def test_plan_names_the_item_that_does_not_fit() -> None:
    lists = _Lists.model_validate({"recurring_credits": [CREDIT, CREDIT]})
    open_ended = lists.recurring_credits[1].model_copy(update={"ending_before": None})
    with pytest.raises(FieldError) as refused:
        plan_recurring(CONTRACT_START, None, [], [lists.recurring_credits[0], open_ended])
    assert refused.value.field == "recurring_credits.1.ending_before"


def test_a_contract_may_have_at_most_2400_periods_in_all() -> None:
    ten_years = item(starting_at="2025-01-01T00:00:00Z", ending_before="2035-01-01T00:00:00Z")
    planned = plan_recurring(CONTRACT_START, None, [], [ten_years] * 20)
    assert sum(len(entry.periods) for entry in planned) == MAX_CONTRACT_PERIODS
    one_more = ten_years.model_copy(update={"ending_before": at("2035-02-01T00:00:00Z")})
    with pytest.raises(FieldError) as refused:
        plan_recurring(CONTRACT_START, None, [], [ten_years] * 19 + [one_more])
    assert refused.value.field == "recurring_credits.19.ending_before"
    assert "2401" in refused.value.message


# -- the commits and credits the periods become ----------------------------------------------------
def _contract(contract_id: str, customer_id: str = "cust_acme") -> Contract:
    return Contract(id=contract_id, customer_id=customer_id, name="2025", starting_at=CONTRACT_START,
                    created_at=at("2024-12-20T10:00:00Z"))  # fmt: skip


def test_each_period_becomes_a_commit_with_ids_derived_from_contract_item_and_period() -> None:
    lists = _Lists.model_validate({"recurring_commits": [COMMIT], "recurring_credits": [CREDIT]})
    planned = plan_recurring(CONTRACT_START, None, lists.recurring_commits, lists.recurring_credits)
    commits = period_commits(_contract("con_a"), planned)
    assert [(c.kind, c.type, str(c.segments[0].amount)) for c in commits] == [
        *(("commit", "PREPAID", amount) for amount in ("170.00", "310.00", "310.00", "93.00")),
        *(("credit", None, amount) for amount in ("170.00", "310.00", "310.00", "93.00")),
    ]
    assert {c.recurring_commit_id for c in commits[:4]} == {recurring_item_id(_contract("con_a"), planned[0])}
    assert {c.recurring_commit_id for c in commits[4:]} == {recurring_item_id(_contract("con_a"), planned[1])}
    assert {(c.contract_id, c.created_at) for c in commits} == {("con_a", at("2024-12-20T10:00:00Z"))}
    assert [c.id for c in commits[:4]] == sorted(c.id for c in commits[:4])  # id order is time order
    assert (commits[0].id[:7], commits[4].id[:7]) == ("commit_", "credit_")
    # the same request under the same contract: the same commits; under another: other ids
    assert period_commits(_contract("con_a"), planned) == commits
    others = period_commits(_contract("con_b"), planned) + period_commits(_contract("con_a", "cust_b"), planned)
    ids = [c.id for c in commits + others]
    segments = [s.id for c in commits + others for s in c.segments]
    assert len(set(ids)) == len(ids) == 24
    assert len(set(segments)) == len(segments)


# -- properties -----------------------------------------------------------------------------------
def _moments(low: datetime, high: datetime) -> st.SearchStrategy[datetime]:
    seconds = int((high - low).total_seconds())
    return st.integers(0, seconds).map(lambda s: low + timedelta(seconds=s))


@st.composite
def _cases(draw: st.DrawFn) -> tuple[datetime, datetime | None, RecurringItem]:
    contract_start = draw(_moments(at("1990-01-01T00:00:00Z"), at("2060-01-01T00:00:00Z")))
    frequency = draw(st.sampled_from(["MONTHLY", "QUARTERLY", "ANNUAL"]))
    reach = {"MONTHLY": 40 * 31, "QUARTERLY": 100 * 92, "ANNUAL": 200 * 366}[frequency]
    item_start = draw(_moments(contract_start, contract_start + timedelta(days=400)))
    item_end = draw(_moments(item_start + timedelta(seconds=1), item_start + timedelta(days=reach)))
    contract_end = draw(st.one_of(st.none(), _moments(item_end, item_end + timedelta(days=100))))
    currency = draw(st.sampled_from(["USD", "JPY", "KWD"]))
    digits = {"USD": 2, "JPY": 0, "KWD": 3}[currency]
    minor = draw(st.integers(0, 10**12))
    amount = Decimal(minor).scaleb(-digits)
    open_item = contract_end is not None and item_end == contract_end and draw(st.booleans())
    recurring = item(
        amount=str(amount),
        currency=currency,
        recurrence_frequency=frequency,
        proration=draw(st.sampled_from(["NONE", "FIRST", "LAST", "FIRST_AND_LAST"])),
        starting_at=item_start.isoformat(),
        ending_before=None if open_item else item_end.isoformat(),
    )
    return contract_start, contract_end, recurring


@settings(max_examples=300, deadline=None)
@given(_cases())
def test_periods_are_contiguous_and_cover_the_item_exactly(
    case: tuple[datetime, datetime | None, RecurringItem],
) -> None:
    contract_start, contract_end, recurring = case
    periods = recurring_periods(contract_start, contract_end, recurring)
    end = recurring.ending_before or contract_end
    assert periods[0].starting_at == recurring.starting_at
    assert periods[-1].ending_before == end
    for before, after in itertools.pairwise(periods):
        assert before.ending_before == after.starting_at
    assert all(p.starting_at < p.ending_before for p in periods)
    assert [p.index for p in periods] == list(range(len(periods)))
    # every boundary inside the item is a period start of the contract's own calendar
    step = {"MONTHLY": 1, "QUARTERLY": 3, "ANNUAL": 12}[recurring.recurrence_frequency]
    starts = {period_start(contract_start, n * step) for n in range(0, len(periods) + 400 // step + 2)}
    assert all(p.starting_at in starts for p in periods[1:])


@settings(max_examples=300, deadline=None)
@given(_cases())
def test_amounts_stay_within_their_bounds(case: tuple[datetime, datetime | None, RecurringItem]) -> None:
    contract_start, contract_end, recurring = case
    periods = recurring_periods(contract_start, contract_end, recurring)
    full = recurring.amount
    assert all(Decimal(0) <= p.amount <= full for p in periods)
    assert all(p.amount == p.amount.quantize(quantum(recurring.currency)) for p in periods)
    assert all(p.amount == full for p in periods[1:-1])  # only the ends may be prorated
    total = sum((p.amount for p in periods), Decimal(0))
    assert full * max(len(periods) - 2, 0) <= total <= full * len(periods)
    if recurring.proration == "NONE":
        assert total == full * len(periods)
    for p in periods:
        if p.prorated:  # within half a minor unit of the exact share
            step = {"MONTHLY": 1, "QUARTERLY": 3, "ANNUAL": 12}[recurring.recurrence_frequency]
            n = _period_number(contract_start, step, p.starting_at)
            whole = period_start(contract_start, (n + 1) * step) - period_start(contract_start, n * step)
            exact = (
                full
                * Decimal((p.ending_before - p.starting_at) / timedelta(microseconds=1))
                / Decimal(whole / timedelta(microseconds=1))
            )
            assert abs(p.amount - exact) <= quantum(recurring.currency) / 2


def _period_number(contract_start: datetime, step: int, moment: datetime) -> int:
    n = 0
    while period_start(contract_start, (n + 1) * step) <= moment:
        n += 1
    return n
