"""Response bodies of the commit, credit and balance routes (docs/ledger.md).

Amounts are decimal strings at the currency's minor units ("170.00", JPY "12345"); a drawdown of
an applied credit that carried more digits keeps them (nothing is rounded away but in balances).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.commits import Commit, CommitKind, CommitStatus, CommitType
from shared.domain.customers import Contract
from shared.domain.ledger import CommitLedger, EntryType, LedgerEntry
from shared.domain.money import at_least_minor_units, format_amount
from shared.domain.types import Timestamp
from shared.services.api_recurring import CreatedRecurringItem


class _View(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)


class SegmentView(_View):
    id: str
    amount: str
    starting_at: Timestamp
    ending_before: Timestamp


class LedgerEntryView(_View):
    id: str
    type: EntryType = Field(description="grant, drawdown or manual")
    commit_id: str = Field(description="the commit's or credit's id")
    segment_id: str
    amount: str = Field(description="signed: a drawdown is negative")
    timestamp: Timestamp
    invoice_id: str | None = Field(description="the drawing invoice (drawdowns)")
    reason: str | None = Field(description="why (manual entries)")

    @classmethod
    def of(cls, entry: LedgerEntry, currency: str) -> LedgerEntryView:
        return cls(
            id=entry.id,
            type=entry.type,
            commit_id=entry.commit_id,
            segment_id=entry.segment_id,
            amount=str(at_least_minor_units(entry.amount, currency)),
            timestamp=entry.timestamp,
            invoice_id=entry.invoice_id,
            reason=entry.reason,
        )


class CreditView(_View):
    id: str
    customer_id: str
    contract_id: str | None
    name: str
    priority: int | None
    currency: str
    segments: list[SegmentView]
    applicable_product_ids: list[str]
    custom_fields: dict[str, str]
    uniqueness_key: str | None
    invoice_id: str | None
    recurring_commit_id: str | None
    created_at: Timestamp
    status: CommitStatus = Field(
        description="voided or pending (by invoice_id's invoice), else active, upcoming or expired"
    )
    balance: str | None = Field(
        description="with include_balance: the sum of the segments active now, floored at 0 each"
    )
    ledger: list[LedgerEntryView] | None = Field(description="with include_ledgers: every entry, grants first")

    @classmethod
    def fields_of(
        cls, ledger: CommitLedger, now: datetime, invoice_status: str | None, *, balance: bool, ledgers: bool
    ) -> dict[str, Any]:
        commit = ledger.commit
        return {
            **commit.model_dump(include=_SHOWN),
            "segments": [
                SegmentView(
                    id=segment.id,
                    amount=format_amount(segment.amount, commit.currency),
                    starting_at=segment.starting_at,
                    ending_before=segment.ending_before,
                )
                for segment in commit.segments
            ],
            "status": commit.status(now, invoice_status),
            "balance": format_amount(ledger.balance(now, invoice_status), commit.currency) if balance else None,
            "ledger": [LedgerEntryView.of(entry, commit.currency) for entry in ledger.entries()] if ledgers else None,
        }

    @classmethod
    def of(
        cls,
        ledger: CommitLedger,
        now: datetime,
        invoice_status: str | None = None,
        *,
        balance: bool = False,
        ledgers: bool = False,
    ) -> CreditView:
        return cls(**cls.fields_of(ledger, now, invoice_status, balance=balance, ledgers=ledgers))


_SHOWN = {
    "id", "customer_id", "contract_id", "name", "priority", "currency", "applicable_product_ids", "custom_fields",
    "uniqueness_key", "invoice_id", "recurring_commit_id", "created_at",
}  # fmt: skip


class CommitView(CreditView):
    type: CommitType

    @classmethod
    def of(
        cls,
        ledger: CommitLedger,
        now: datetime,
        invoice_status: str | None = None,
        *,
        balance: bool = False,
        ledgers: bool = False,
    ) -> CommitView:
        fields = cls.fields_of(ledger, now, invoice_status, balance=balance, ledgers=ledgers)
        return cls(**fields, type=ledger.commit.type)


def view_of(
    ledger: CommitLedger,
    now: datetime,
    invoice_status: str | None = None,
    *,
    balance: bool = False,
    ledgers: bool = False,
) -> CommitView | CreditView:
    view = CommitView if ledger.commit.kind == "commit" else CreditView
    return view.of(ledger, now, invoice_status, balance=balance, ledgers=ledgers)


class BalanceView(_View):
    id: str
    type: CommitKind = Field(description="commit or credit")
    name: str
    currency: str
    contract_id: str | None
    status: CommitStatus
    balance: str = Field(description='"0.00" for an expired, upcoming or voided one')
    ledger: list[LedgerEntryView] | None = Field(description="with include_ledgers: every entry, grants first")

    @classmethod
    def of(cls, ledger: CommitLedger, now: datetime, invoice_status: str | None, *, ledgers: bool) -> BalanceView:
        commit = ledger.commit
        return cls(
            id=commit.id,
            type=commit.kind,
            name=commit.name,
            currency=commit.currency,
            contract_id=commit.contract_id,
            status=commit.status(now, invoice_status),
            balance=format_amount(ledger.balance(now, invoice_status), commit.currency),
            ledger=[LedgerEntryView.of(entry, commit.currency) for entry in ledger.entries()] if ledgers else None,
        )


class CommitData(_View):
    data: CommitView


class CreditData(_View):
    data: CreditView


class CommitPage(_View):
    data: list[CommitView]
    next_page: str | None


class CreditPage(_View):
    data: list[CreditView]
    next_page: str | None


class BalancePage(_View):
    data: list[BalanceView]
    next_page: str | None


class LedgerEntryData(_View):
    data: LedgerEntryView


class RecurringItemView(_View):
    """A recurring commit or credit of a contract create, echoed with its id (docs/recurring.md)."""

    id: str = Field(description="the `recurring_commit_id` of each commit or credit it became, one per period")
    name: str
    amount: str
    currency: str
    type: CommitType | None = Field(description="commits only")
    recurrence_frequency: str
    starting_at: Timestamp
    ending_before: Timestamp | None
    proration: str
    priority: int | None
    applicable_product_ids: list[str]
    custom_fields: dict[str, str]
    periods: int = Field(description="how many commits or credits it became")

    @classmethod
    def of(cls, created: CreatedRecurringItem) -> RecurringItemView:
        item = created.planned.item
        return cls(
            **item.model_dump(include=_ITEM_SHOWN),
            id=created.id,
            amount=format_amount(item.amount, item.currency),
            type=getattr(item, "type", None),
            periods=len(created.planned.periods),
        )


_ITEM_SHOWN = {
    "name", "currency", "recurrence_frequency", "starting_at", "ending_before", "proration", "priority",
    "applicable_product_ids", "custom_fields",
}  # fmt: skip


class ContractWithCommitsView(Contract):
    """A contract created with commits, credits or recurring items, which are shown with their ids."""

    commits: list[CommitView]
    credits: list[CreditView]
    recurring_commits: list[RecurringItemView]
    recurring_credits: list[RecurringItemView]

    @classmethod
    def of(
        cls, contract: Contract, commits: list[Commit], now: datetime, recurring: Sequence[CreatedRecurringItem] = ()
    ) -> ContractWithCommitsView:
        views = [view_of(CommitLedger(commit), now) for commit in commits]
        return cls(
            **contract.model_dump(),
            commits=[view for view in views if isinstance(view, CommitView)],
            credits=[view for view in views if not isinstance(view, CommitView)],
            recurring_commits=[RecurringItemView.of(r) for r in recurring if r.planned.kind == "commit"],
            recurring_credits=[RecurringItemView.of(r) for r in recurring if r.planned.kind == "credit"],
        )


class ContractWithCommitsData(_View):
    data: ContractWithCommitsView


def statuses_needed(ledgers: list[CommitLedger]) -> set[str]:
    return {ledger.commit.invoice_id for ledger in ledgers if ledger.commit.invoice_id is not None}


def invoice_status_of(ledger: CommitLedger, statuses: Mapping[str, str]) -> str | None:
    invoice_id = ledger.commit.invoice_id
    return None if invoice_id is None else statuses.get(invoice_id)
