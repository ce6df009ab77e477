"""Alerts (docs/alerts.md): their definitions, and what each one measures for a customer.

- A low-balance alert measures the customer's **remaining balance**: Σ of the balances (the
  ledger's own rule, `CommitLedger.balance`) of the customer's `active` commits and credits in the
  alert's currency, among those its filters select. `Contract` filters keep items on matching
  contracts; when any `Commit` or `ContractCredit` filter is given, only commits matching all
  `Commit` filters and credits matching all `ContractCredit` filters count (a kind without a
  filter of its own is left out). A customer with nothing selected is not evaluated. Fires at
  balance ≤ threshold.
- A spend alert measures each contract its `Contract` filters select: the `subtotal` of the
  contract's non-VOID USAGE invoice (at its latest version) in the alert's currency whose service
  period contains now, else 0. Fires at spend ≥ threshold.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.domain.commits import UniquenessKey
from shared.domain.customers import Contract
from shared.domain.ledger import ZERO, CommitLedger
from shared.domain.money import check_currency, is_at_currency_precision
from shared.domain.types import Identifier, Name, NonNegativeDecimal, Timestamp
from shared.domain.validation import invalid_field

AlertType = Literal["low_remaining_contract_credit_and_commit_balance_reached", "spend_threshold_reached"]
LOW_BALANCE: AlertType = "low_remaining_contract_credit_and_commit_balance_reached"
SPEND: AlertType = "spend_threshold_reached"
FilterEntity = Literal["Contract", "Commit", "ContractCredit"]
AlertStatus = Literal["ok", "in_alarm"]
MAX_FILTERS = 20
MAX_FILTER_VALUE = 1024


class CustomFieldFilter(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    entity: FilterEntity
    key: Annotated[str, Field(min_length=1, max_length=256)]
    value: Annotated[str, Field(max_length=MAX_FILTER_VALUE)]

    def matches(self, fields: Mapping[str, str]) -> bool:
        return fields.get(self.key) == self.value


class Alert(BaseModel):
    """An alert as stored; `archived_at` set once archived (it is then never evaluated again)."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    id: Identifier
    alert_type: AlertType
    name: Name
    threshold: NonNegativeDecimal
    currency: str
    customer_id: Identifier | None = None
    custom_field_filters: Annotated[list[CustomFieldFilter], Field(max_length=MAX_FILTERS)] = Field(
        default_factory=list
    )
    uniqueness_key: UniquenessKey | None = None
    created_at: Timestamp
    archived_at: Timestamp | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Alert:
        check_currency(self.currency)
        if not is_at_currency_precision(self.threshold, self.currency):
            raise invalid_field("threshold", f"has more digits than {self.currency} allows")
        return self

    def applies_to(self, customer_id: str) -> bool:
        return self.archived_at is None and self.customer_id in (None, customer_id)

    def filters(self, entity: FilterEntity) -> list[CustomFieldFilter]:
        return [item for item in self.custom_field_filters if item.entity == entity]

    def selects_contract(self, contract: Contract | None) -> bool:
        """Whether a contract (None: no contract) passes the `Contract` filters."""
        wanted = self.filters("Contract")
        if not wanted:
            return True
        return contract is not None and all(item.matches(contract.custom_fields) for item in wanted)

    def firing(self, value: Decimal) -> bool:
        return value <= self.threshold if self.alert_type == LOW_BALANCE else value >= self.threshold


def selected_ledgers(
    alert: Alert, ledgers: Iterable[CommitLedger], contracts: Mapping[str, Contract]
) -> list[CommitLedger]:
    """The commits and credits in the alert's currency that its filters select (any status)."""
    commit_filters, credit_filters = alert.filters("Commit"), alert.filters("ContractCredit")
    by_kind = bool(commit_filters or credit_filters)
    selected = []
    for ledger in ledgers:
        commit = ledger.commit
        if commit.currency != alert.currency:
            continue
        contract = contracts.get(commit.contract_id) if commit.contract_id is not None else None
        if not alert.selects_contract(contract):
            continue
        if by_kind:
            own = commit_filters if commit.kind == "commit" else credit_filters
            if not own or not all(item.matches(commit.custom_fields) for item in own):
                continue
        selected.append(ledger)
    return selected


def remaining_balance(
    alert: Alert,
    ledgers: Iterable[CommitLedger],
    contracts: Mapping[str, Contract],
    invoice_statuses: Mapping[str, str],
    now: datetime,
) -> Decimal | None:
    """The remaining balance a low-balance alert compares, or None when nothing is selected."""
    selected = selected_ledgers(alert, ledgers, contracts)
    if not selected:
        return None
    total = ZERO
    for ledger in selected:
        status = invoice_statuses.get(ledger.commit.invoice_id) if ledger.commit.invoice_id else None
        if ledger.commit.status(now, status) == "active":
            total += ledger.balance(now, status)
    return total


@dataclass(frozen=True)
class SpendInvoice:
    """What spend needs of a USAGE invoice of a contract, at its latest (non-VOID) version."""

    invoice_id: str
    contract_id: str
    currency: str
    start_timestamp: datetime
    end_timestamp: datetime
    issued_at: datetime
    subtotal: Decimal

    def covers(self, moment: datetime) -> bool:
        return self.start_timestamp <= moment < self.end_timestamp


def current_spend(alert: Alert, contract_id: str, invoices: Sequence[SpendInvoice], now: datetime) -> Decimal:
    """The contract's current-period spend in the alert's currency: its latest invoice for the
    period (the latest-starting, then latest-issued, one covering `now`), else 0."""
    covering = [
        invoice
        for invoice in invoices
        if invoice.contract_id == contract_id and invoice.currency == alert.currency and invoice.covers(now)
    ]
    if not covering:
        return ZERO
    latest = max(covering, key=lambda invoice: (invoice.start_timestamp, invoice.issued_at, invoice.invoice_id))
    return latest.subtotal
