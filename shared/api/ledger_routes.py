"""contracts/create, commits, credits, manual ledger entries and balances.

A route family of its own: the API imports it on the first request for one of its paths
(shared.api.app), so a cold start serving the other routes does not build its models."""

from __future__ import annotations

from typing import Literal, TypeVar

from aws_lambda_powertools.event_handler.api_gateway import Router

from shared.api.commit_schemas import (
    BalancePage,
    BalanceView,
    CommitData,
    CommitPage,
    CommitView,
    ContractWithCommitsData,
    ContractWithCommitsView,
    CreditData,
    CreditPage,
    CreditView,
    LedgerEntryData,
    LedgerEntryView,
    invoice_status_of,
)
from shared.api.routes import current_caller as _caller
from shared.api.routes import current_deps as _deps
from shared.api.schemas import ContractData, error_responses
from shared.services import api_commits, api_contracts
from shared.services.api_commit_requests import (
    CreateCommitRequest,
    CreateContractWithCommitsRequest,
    CreateCreditRequest,
    ListCommitsRequest,
    ManualEntryRequest,
)
from shared.services.api_dependencies import COMMITS_CREATE, CONTRACTS_CREATE, CREDITS_CREATE, MANUAL_ENTRY_ADD

router = Router()  # type: ignore[no-untyped-call]


# -- contracts/create -------------------------------------------------------------------------------
@router.post(
    "/v1/contracts/create",
    operation_id=CONTRACTS_CREATE.name,
    tags=["contracts"],
    responses=error_responses(400, 401, 404, 409, 413),
)
def create_contract(request: CreateContractWithCommitsRequest) -> ContractData | ContractWithCommitsData:
    """The contract; when created with commits or credits, with those too (and their ids), and its
    recurring items with the `id` each period's commit or credit carries as `recurring_commit_id`."""
    contract, commits, recurring = api_contracts.create_contract(_deps(), _caller(), request)
    if not commits and not recurring:
        return ContractData(data=contract)
    return ContractWithCommitsData(data=ContractWithCommitsView.of(contract, commits, _deps().clock(), recurring))


# -- commits, credits and the ledger -----------------------------------------------------------------
@router.post(
    "/v1/contracts/customerCommits/create",
    operation_id=COMMITS_CREATE.name,
    tags=["commits and credits"],
    summary="Create a commit; a uniqueness_key already used by the customer's commits or credits is a 409",
    responses=error_responses(400, 401, 404, 409, 413),
)
def create_commit(request: CreateCommitRequest) -> CommitData:
    ledger = api_commits.create_commit(_deps(), _caller(), request)
    return CommitData(data=CommitView.of(ledger, _deps().clock()))


@router.post(
    "/v1/contracts/customerCommits/list",
    operation_id="customerCommits.list",
    tags=["commits and credits"],
    responses=error_responses(400, 401, 404, 413),
)
def list_commits(request: ListCommitsRequest) -> CommitPage:
    views, next_page = _listed(request, "commit", CommitView)
    return CommitPage(data=views, next_page=next_page)


_ViewT = TypeVar("_ViewT", CommitView, CreditView)


def _listed(
    request: ListCommitsRequest, kind: Literal["commit", "credit"], view: type[_ViewT]
) -> tuple[list[_ViewT], str | None]:
    """A page of the customer's commits or credits as `view`s, with the page's cursor."""
    page, statuses = api_commits.list_commits(_deps(), request, kind)
    now = _deps().clock()
    views = [
        view.of(
            ledger,
            now,
            invoice_status_of(ledger, statuses),
            balance=request.include_balance,
            ledgers=request.include_ledgers,
        )
        for ledger in page.items
    ]
    return views, page.next_page


@router.post(
    "/v1/contracts/customerCredits/create",
    operation_id=CREDITS_CREATE.name,
    tags=["commits and credits"],
    summary="Create a credit; a uniqueness_key already used by the customer's commits or credits is a 409",
    responses=error_responses(400, 401, 404, 409, 413),
)
def create_credit(request: CreateCreditRequest) -> CreditData:
    ledger = api_commits.create_commit(_deps(), _caller(), request)
    return CreditData(data=CreditView.of(ledger, _deps().clock()))


@router.post(
    "/v1/contracts/customerCredits/list",
    operation_id="customerCredits.list",
    tags=["commits and credits"],
    responses=error_responses(400, 401, 404, 413),
)
def list_credits(request: ListCommitsRequest) -> CreditPage:
    views, next_page = _listed(request, "credit", CreditView)
    return CreditPage(data=views, next_page=next_page)


@router.post(
    "/v1/contracts/addManualBalanceLedgerEntry",
    operation_id=MANUAL_ENTRY_ADD.name,
    tags=["commits and credits"],
    summary="Add a manual entry to a segment of a commit or credit (it may be future-dated)",
    responses=error_responses(400, 401, 404, 413),
)
def add_manual_ledger_entry(request: ManualEntryRequest) -> LedgerEntryData:
    entry, currency = api_commits.add_manual_entry(_deps(), _caller(), request)
    return LedgerEntryData(data=LedgerEntryView.of(entry, currency))


@router.post(
    "/v1/contracts/customerBalances/list",
    operation_id="customerBalances.list",
    tags=["commits and credits"],
    summary="The balance of each commit and credit: the sum of its segments active now, each floored at 0",
    responses=error_responses(400, 401, 404, 413),
)
def list_balances(request: ListCommitsRequest) -> BalancePage:
    page, statuses = api_commits.list_commits(_deps(), request, None)
    now = _deps().clock()
    views = [
        BalanceView.of(ledger, now, invoice_status_of(ledger, statuses), ledgers=request.include_ledgers)
        for ledger in page.items
    ]
    return BalancePage(data=views, next_page=page.next_page)
