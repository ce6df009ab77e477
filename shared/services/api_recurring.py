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

from shared.domain.commits import Commit, CommitKind, Segment
from shared.domain.customers import Contract
from shared.domain.id_keys import digest
from shared.domain.recurring import RecurringCommit, RecurringItem, RecurringPeriod, recurring_periods
from shared.domain.validation import FieldError

MAX_RECURRING_ITEMS = 20  # per list, per contract
# Every period is a commit or credit written by the create call itself (a hundred a transaction):
# 20 items of ten years of months each, and what one call writes stays well inside its timeout.
MAX_CONTRACT_PERIODS = 2_400

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

    @property
    def kind(self) -> CommitKind:
        return "commit" if isinstance(self.item, RecurringCommit) else "credit"


@dataclass(frozen=True)
class CreatedRecurringItem:
    """A recurring item as a contract create answers it: with the id its periods carry."""

    id: str  # each period's `recurring_commit_id`
    planned: PlannedRecurringItem


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
            total = sum(len(entry.periods) for entry in planned)
            if total > MAX_CONTRACT_PERIODS:
                raise FieldError(
                    f"{path}.ending_before",
                    f"the contract's recurring items span {total} periods together; at most"
                    f" {MAX_CONTRACT_PERIODS} are allowed (each becomes its own commit or credit)",
                )
    return planned


def recurring_item_id(contract: Contract, planned: PlannedRecurringItem) -> str:
    """`recurring_<hex>`: derived from the contract and the item's place in the request, so a retried
    create computes the same ids and its writes land on what the first attempt wrote."""
    return f"recurring_{_item_digest(contract, planned)}"


def _item_digest(contract: Contract, planned: PlannedRecurringItem) -> str:
    return digest(f"{contract.customer_id}\n{contract.id}\n{planned.field}")


def period_commits(contract: Contract, planned: Sequence[PlannedRecurringItem]) -> list[Commit]:
    """One commit or credit per period, in request order. Ids are `<kind>_<item hex>_<period nnn>`
    (segments `seg_…` alike): deterministic per (contract, item, period), and a list in id order
    shows an item's periods in time order. `created_at` is the contract's, so a retry builds
    exactly what the first attempt stored."""
    commits: list[Commit] = []
    for entry in planned:
        item, hex_id = entry.item, _item_digest(contract, entry)
        for period in entry.periods:
            commits.append(
                Commit(
                    id=f"{entry.kind}_{hex_id}_{period.index:03d}",
                    kind=entry.kind,
                    customer_id=contract.customer_id,
                    contract_id=contract.id,
                    type=item.type if isinstance(item, RecurringCommit) else None,
                    name=item.name,
                    priority=item.priority,
                    currency=item.currency,
                    segments=[
                        Segment(
                            id=f"seg_{hex_id}_{period.index:03d}",
                            amount=period.amount,
                            starting_at=period.starting_at,
                            ending_before=period.ending_before,
                        )
                    ],
                    applicable_product_ids=list(item.applicable_product_ids),
                    custom_fields=dict(item.custom_fields),
                    recurring_commit_id=recurring_item_id(contract, entry),
                    created_at=contract.created_at,
                )
            )
    return commits
