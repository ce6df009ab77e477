"""Recurring commits and credits: the periods an item covers and what each is worth (docs/recurring.md).

Periods are aligned to the contract's `starting_at`: period n starts n months later (3n for
QUARTERLY, 12n for ANNUAL), each clamped to its month's last day on its own, so a contract from
Jan 31 has periods from Jan 31, Feb 28, Mar 31 — never a drift to the 28th. A period ends where the
next starts. Each period the item covers becomes one commit or credit, from the later of the
period's start and the item's `starting_at` to the earlier of the period's end and the item's end.
A first or last period the item covers only partly is prorated — `amount * covered / period`,
elapsed UTC time, rounded half-up to the currency's minor unit — when `proration` names that end;
one partial at both ends is prorated once, by what it covers. Otherwise it gets the full amount.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.domain.money import from_minor_units, is_at_currency_precision, to_minor_units
from shared.domain.types import BoundedInt, CurrencyCode, Identifier, Name, NonNegativeDecimal, Timestamp
from shared.domain.validation import FieldError, invalid_field, text_is_unicode

RecurrenceFrequency = Literal["MONTHLY", "QUARTERLY", "ANNUAL"]
Proration = Literal["NONE", "FIRST", "LAST", "FIRST_AND_LAST"]
CommitType = Literal["PREPAID", "POSTPAID"]

MONTHS_PER_PERIOD: dict[str, int] = {"MONTHLY": 1, "QUARTERLY": 3, "ANNUAL": 12}
# Each period becomes a commit or credit of its own: 50 years of monthly periods is far past any
# contract, and keeps what one contract create writes bounded. 100 years monthly is refused.
MAX_RECURRING_PERIODS = 600
MAX_APPLICABLE_PRODUCTS = 100
MAX_CUSTOM_FIELDS = 50
_LAST_YEAR = 9999


class RecurringItem(BaseModel):
    """A recurring credit as a contract create takes it (a recurring commit adds `type`)."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    name: Name
    amount: NonNegativeDecimal = Field(description="what each whole period is worth, at the currency's minor units")
    currency: CurrencyCode
    recurrence_frequency: RecurrenceFrequency
    starting_at: Timestamp
    ending_before: Timestamp | None = Field(default=None, description="exclusive; absent: ends with the contract")
    proration: Proration = "FIRST_AND_LAST"
    priority: BoundedInt | None = None
    applicable_product_ids: Annotated[list[Identifier], Field(max_length=MAX_APPLICABLE_PRODUCTS)] = Field(
        default_factory=list
    )
    custom_fields: Annotated[
        dict[
            Annotated[str, Field(min_length=1, max_length=256)],
            Annotated[str, Field(max_length=1024)],
        ],
        Field(max_length=MAX_CUSTOM_FIELDS),
    ] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _unicode(cls, data: Any) -> Any:
        return text_is_unicode(data)

    @model_validator(mode="after")
    def _consistent(self) -> RecurringItem:
        if not is_at_currency_precision(self.amount, self.currency):
            raise invalid_field("amount", f"{self.amount} has more digits than {self.currency} allows")
        if self.ending_before is not None and self.ending_before <= self.starting_at:
            raise invalid_field("ending_before", "must be after starting_at (the end is exclusive)")
        return self


class RecurringCommit(RecurringItem):
    """A recurring commit: a recurring credit with the commit's `type`."""

    type: CommitType


@dataclass(frozen=True)
class RecurringPeriod:
    """One period the item covers: its own commit or credit, `[starting_at, ending_before)`."""

    index: int  # 0 for the item's first period
    starting_at: datetime
    ending_before: datetime
    amount: Decimal  # at the currency's minor units
    prorated: bool


def period_start(contract_starting_at: datetime, months: int) -> datetime:
    """`contract_starting_at` plus `months` calendar months, the day clamped to that month's last day."""
    year, month_index = divmod(contract_starting_at.month - 1 + months, 12)
    year += contract_starting_at.year
    if year > _LAST_YEAR:
        raise OverflowError("past year 9999")
    month = month_index + 1
    day = min(contract_starting_at.day, calendar.monthrange(year, month)[1])
    return contract_starting_at.replace(year=year, month=month, day=day)


def recurring_periods(
    contract_starting_at: datetime, contract_ending_before: datetime | None, item: RecurringItem
) -> list[RecurringPeriod]:
    """The periods `item` covers under a contract, in order; FieldError (the field relative to the
    item: `starting_at`, `ending_before`) when the item does not fit the contract."""
    start, end = item_span(contract_starting_at, contract_ending_before, item)
    step = MONTHS_PER_PERIOD[item.recurrence_frequency]

    def starts_at(n: int) -> datetime:
        try:
            return period_start(contract_starting_at, n * step)
        except OverflowError:
            raise FieldError(
                "ending_before", "its last period would end after the year 9999: end the item earlier"
            ) from None

    first = _period_holding(contract_starting_at, step, start)
    last = _period_holding(contract_starting_at, step, end - timedelta(microseconds=1))
    count = last - first + 1
    if count > MAX_RECURRING_PERIODS:
        raise FieldError(
            "ending_before",
            f"the item spans {count} {item.recurrence_frequency.lower()} periods; at most"
            f" {MAX_RECURRING_PERIODS} are allowed (each becomes its own commit or credit)",
        )
    periods: list[RecurringPeriod] = []
    full = to_minor_units(item.amount, item.currency)
    for index, n in enumerate(range(first, last + 1)):
        period_from, period_until = starts_at(n), starts_at(n + 1)
        covered_from, covered_until = max(period_from, start), min(period_until, end)
        cut_at_start = covered_from > period_from and "FIRST" in _ends(item.proration)
        cut_at_end = covered_until < period_until and "LAST" in _ends(item.proration)
        prorated = cut_at_start or cut_at_end
        minor = (
            _prorated_minor_units(full, covered_until - covered_from, period_until - period_from) if prorated else full
        )
        periods.append(
            RecurringPeriod(index, covered_from, covered_until, from_minor_units(minor, item.currency), prorated)
        )
    return periods


def item_span(
    contract_starting_at: datetime, contract_ending_before: datetime | None, item: RecurringItem
) -> tuple[datetime, datetime]:
    """`[starting_at, end)` of the item: its own end, else the contract's; it must lie within the contract."""
    if item.starting_at < contract_starting_at:
        raise FieldError("starting_at", "must not be before the contract's starting_at")
    end = item.ending_before if item.ending_before is not None else contract_ending_before
    if end is None:
        raise FieldError(
            "ending_before",
            "required when the contract has no ending_before: a recurring item needs an end",
        )
    if contract_ending_before is not None and end > contract_ending_before:
        raise FieldError("ending_before", "must not be after the contract's ending_before")
    if end <= item.starting_at:
        raise FieldError("starting_at", "must be before the contract's ending_before (the item would cover nothing)")
    return item.starting_at, end


def _period_holding(contract_starting_at: datetime, step: int, moment: datetime) -> int:
    """The n whose period `[start(n), start(n+1))` holds `moment` (≥ the contract's start)."""
    months = (moment.year - contract_starting_at.year) * 12 + moment.month - contract_starting_at.month
    n = max(months // step, 0)

    def start(k: int) -> datetime | None:
        try:
            return period_start(contract_starting_at, k * step)
        except OverflowError:
            return None

    while n > 0 and (found := start(n)) is not None and found > moment:
        n -= 1
    while (following := start(n + 1)) is not None and following <= moment:
        n += 1
    return n


def _ends(proration: str) -> frozenset[str]:
    return _PRORATED_ENDS[proration]


_PRORATED_ENDS: Mapping[str, frozenset[str]] = {
    "NONE": frozenset(),
    "FIRST": frozenset({"FIRST"}),
    "LAST": frozenset({"LAST"}),
    "FIRST_AND_LAST": frozenset({"FIRST", "LAST"}),
}


def _prorated_minor_units(full: int, covered: timedelta, period: timedelta) -> int:
    """`full * covered / period`, rounded half-up, in exact integer arithmetic (microseconds)."""
    numerator = full * _microseconds(covered)
    denominator = _microseconds(period)
    return (2 * numerator + denominator) // (2 * denominator)


def _microseconds(span: timedelta) -> int:
    return (span.days * 86_400 + span.seconds) * 1_000_000 + span.microseconds
