"""Request bodies of the commit, credit and ledger routes (docs/ledger.md): strict, bounded."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StrictBool, model_validator

from shared.domain.commits import (
    MAX_PRODUCT_IDS,
    MAX_SEGMENTS,
    CommitType,
    UniquenessKey,
)
from shared.domain.ledger import Reason
from shared.domain.money import is_at_currency_precision, minor_units
from shared.domain.paging import DEFAULT_LIMIT
from shared.domain.types import (
    BoundedInt,
    DecimalString,
    Identifier,
    Name,
    NonNegativeDecimal,
    RequestCurrency,
    Timestamp,
)
from shared.domain.validation import invalid_field
from shared.services.api_recurring import RecurringCommits, RecurringCredits
from shared.services.api_requests import BodyLimit, CreateContractRequest, CustomFields, NextPage, _Body

# A contract's commits and credits are created in its one transaction (with their uniqueness keys).
MAX_CONTRACT_COMMITS = 40

Currency = RequestCurrency


class AccessScheduleItem(_Body):
    amount: NonNegativeDecimal
    starting_at: Timestamp
    ending_before: Timestamp

    @model_validator(mode="after")
    def _forward(self) -> AccessScheduleItem:
        if self.ending_before <= self.starting_at:
            raise invalid_field("ending_before", "must be after starting_at (the end is exclusive)")
        return self


def _digits(currency: str) -> str:
    digits = minor_units(currency)
    return f"{digits} decimal places" if digits else "no decimal places"


class _CommitFields(_Body):
    """What a commit and a credit share, in a create call or in a contract's `commits` / `credits`."""

    name: Name
    priority: BoundedInt | None = None
    currency: Currency
    access_schedule: Annotated[list[AccessScheduleItem], Field(min_length=1, max_length=MAX_SEGMENTS)]
    applicable_product_ids: Annotated[list[Identifier], Field(max_length=MAX_PRODUCT_IDS)] = Field(default_factory=list)
    custom_fields: CustomFields = Field(default_factory=dict)
    uniqueness_key: UniquenessKey | None = None
    invoice_id: Identifier | None = None

    @model_validator(mode="after")
    def _amounts_at_currency_precision(self) -> _CommitFields:
        for index, item in enumerate(self.access_schedule):
            if not is_at_currency_precision(item.amount, self.currency):
                raise invalid_field(
                    f"access_schedule.{index}.amount",
                    f"{item.amount} has more digits than {self.currency} allows ({_digits(self.currency)})",
                )
        return self


class ContractCommitBody(_CommitFields):
    type: CommitType


class ContractCreditBody(_CommitFields):
    pass


class CreateCommitRequest(ContractCommitBody):
    customer_id: Identifier
    contract_id: Identifier | None = None


class CreateCreditRequest(ContractCreditBody):
    customer_id: Identifier
    contract_id: Identifier | None = None


class ListCommitsRequest(_Body):
    customer_id: Identifier
    contract_id: Identifier | None = None
    include_balance: StrictBool = False
    include_ledgers: StrictBool = False
    limit: BodyLimit = DEFAULT_LIMIT
    next_page: NextPage | None = None


class ManualEntryRequest(_Body):
    customer_id: Identifier
    id: Identifier = Field(description="the commit's or credit's id")
    segment_id: Identifier | None = Field(
        default=None, description="default: the segment active at `timestamp` (earliest-ending first)"
    )
    amount: DecimalString = Field(description="signed: negative takes from the balance")
    reason: Reason
    timestamp: Timestamp = Field(description="when the entry applies; may be in the future")


ContractCommits = Annotated[list[ContractCommitBody], Field(max_length=MAX_CONTRACT_COMMITS)]
ContractCredits = Annotated[list[ContractCreditBody], Field(max_length=MAX_CONTRACT_COMMITS)]


class CreateContractWithCommitsRequest(CreateContractRequest):
    """A contract with its commits and credits, all created in one transaction."""

    commits: ContractCommits = Field(default_factory=list)
    credits: ContractCredits = Field(default_factory=list)
    # Their periods are checked against the contract by `plan_recurring` (docs/recurring.md).
    recurring_commits: RecurringCommits = Field(default_factory=list)
    recurring_credits: RecurringCredits = Field(default_factory=list)

    @model_validator(mode="after")
    def _fits_one_transaction(self) -> CreateContractWithCommitsRequest:
        if len(self.commits) + len(self.credits) > MAX_CONTRACT_COMMITS:
            raise invalid_field("credits", f"at most {MAX_CONTRACT_COMMITS} commits and credits together")
        return self
