"""`recurring_commits[]` and `recurring_credits[]` of a contract create: their request shape, and
their periods checked against the contract (docs/recurring.md).

The item models hold what one item alone can say (amount at the currency's minor units, its own
end after its start, a known currency, unknown fields refused — a credit has no `type`). What
needs the contract — the item within it, an end from one of the two, the number of periods — is
`plan_recurring`, whose FieldError names the item's own path (`recurring_commits.0.ending_before`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from pydantic import Field

from shared.domain.recurring import RecurringCommit, RecurringItem, RecurringPeriod, recurring_periods
from shared.domain.validation import FieldError

MAX_RECURRING_ITEMS = 20  # per list, per contract

RecurringCommits = Annotated[
    list[RecurringCommit],
    Field(
        max_length=MAX_RECURRING_ITEMS,
        description="each becomes one commit per period it covers (docs/recurring.md)",
    ),
]
RecurringCredits = Annotated[
    list[RecurringItem],
    Field(
        max_length=MAX_RECURRING_ITEMS,
        description="each becomes one credit per period it covers; no `type` (docs/recurring.md)",
    ),
]


@dataclass(frozen=True)
class PlannedRecurringItem:
    """One recurring item of a contract create, with the periods it becomes."""

    field: str  # its path in the request: `recurring_commits.0`
    item: RecurringItem
    periods: list[RecurringPeriod]


def plan_recurring(
    contract_starting_at: datetime,
    contract_ending_before: datetime | None,
    recurring_commits: Sequence[RecurringCommit] = (),
    recurring_credits: Sequence[RecurringItem] = (),
) -> list[PlannedRecurringItem]:
    """Every item's periods, commits first; FieldError naming the first item that does not fit."""
    planned: list[PlannedRecurringItem] = []
    for name, items in (("recurring_commits", recurring_commits), ("recurring_credits", recurring_credits)):
        for index, item in enumerate(items):
            path = f"{name}.{index}"
            try:
                periods = recurring_periods(contract_starting_at, contract_ending_before, item)
            except FieldError as error:
                raise FieldError(f"{path}.{error.field}" if error.field else path, error.message) from None
            planned.append(PlannedRecurringItem(path, item, periods))
    return planned
