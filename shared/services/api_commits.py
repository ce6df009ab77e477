"""Commits, credits, manual ledger entries and balances (docs/ledger.md)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from shared.domain.audit import Caller
from shared.domain.commits import Commit, CommitKind, CommitQuery, Segment
from shared.domain.ledger import CommitLedger, LedgerEntry
from shared.domain.money import is_at_currency_precision
from shared.domain.paging import Page, PageRequest
from shared.domain.validation import FieldError
from shared.ports.store import UniquenessKeyTaken
from shared.services.api_commit_requests import (
    ContractCommitBody,
    ContractCreditBody,
    CreateCommitRequest,
    CreateCreditRequest,
    ListCommitsRequest,
    ManualEntryRequest,
)
from shared.services.api_customers import customer_of
from shared.services.api_dependencies import (
    COMMITS_CREATE,
    CREDITS_CREATE,
    MANUAL_ENTRY_ADD,
    ApiDependencies,
    ask_for_alert_evaluation,
    audit_entry,
)
from shared.services.api_errors import Conflict, NotFound


def new_commit(
    deps: ApiDependencies,
    body: ContractCommitBody | ContractCreditBody,
    kind: CommitKind,
    customer_id: str,
    contract_id: str | None,
    now: datetime,
) -> Commit:
    """The commit or credit a body describes, with fresh ids for it and each segment."""
    return Commit(
        id=deps.new_id(kind),
        kind=kind,
        customer_id=customer_id,
        contract_id=contract_id,
        type=body.type if isinstance(body, ContractCommitBody) else None,
        name=body.name,
        priority=body.priority,
        currency=body.currency,
        segments=[
            Segment(
                id=deps.new_id("seg"),
                amount=item.amount,
                starting_at=item.starting_at,
                ending_before=item.ending_before,
            )
            for item in body.access_schedule
        ],
        applicable_product_ids=list(body.applicable_product_ids),
        custom_fields=dict(body.custom_fields),
        uniqueness_key=body.uniqueness_key,
        invoice_id=body.invoice_id,
        created_at=now.replace(microsecond=0),
    )


def check_keys_unrepeated(bodies: Sequence[tuple[str, ContractCommitBody | ContractCreditBody]]) -> None:
    """Two commits or credits of one request naming the same key: the second is a conflict."""
    seen: set[str] = set()
    for field, body in bodies:
        if body.uniqueness_key is None:
            continue
        if body.uniqueness_key in seen:
            raise Conflict(f"uniqueness_key {body.uniqueness_key!r} is used twice in this request", field=field)
        seen.add(body.uniqueness_key)


def taken(error: UniquenessKeyTaken, field: str = "uniqueness_key") -> Conflict:
    return Conflict(
        f"uniqueness_key {error.key!r} is already used by a commit or credit of this customer; nothing was created",
        field=field,
    )


def create_commit(
    deps: ApiDependencies, caller: Caller, request: CreateCommitRequest | CreateCreditRequest
) -> CommitLedger:
    kind: CommitKind = "commit" if isinstance(request, CreateCommitRequest) else "credit"
    customer_of(deps, request.customer_id)
    if request.contract_id is not None and deps.store.get_contract(request.customer_id, request.contract_id) is None:
        raise NotFound(
            f"contract {request.contract_id!r} not found for customer {request.customer_id!r}", field="contract_id"
        )
    commit = new_commit(deps, request, kind, request.customer_id, request.contract_id, deps.clock())
    action = COMMITS_CREATE if kind == "commit" else CREDITS_CREATE
    try:
        deps.store.create_commits_audited([commit], audit_entry(deps, caller, action, commit.id, 200))
    except UniquenessKeyTaken as error:
        raise taken(error) from None
    ask_for_alert_evaluation(deps, commit.customer_id, commit.id)
    return CommitLedger(commit)


def list_commits(
    deps: ApiDependencies, request: ListCommitsRequest, kind: CommitKind | None
) -> tuple[Page[CommitLedger], dict[str, str]]:
    """A page of the customer's commits (or credits, or both with `kind` None) and the statuses of
    the invoices they name."""
    customer_of(deps, request.customer_id)
    if request.contract_id is not None and deps.store.get_contract(request.customer_id, request.contract_id) is None:
        raise NotFound(
            f"contract {request.contract_id!r} not found for customer {request.customer_id!r}", field="contract_id"
        )
    page = deps.store.list_commit_ledgers(
        request.customer_id, CommitQuery(kind, request.contract_id), PageRequest(request.limit, request.next_page)
    )
    wanted = {ledger.commit.invoice_id for ledger in page.items if ledger.commit.invoice_id is not None}
    return page, deps.store.invoice_statuses(wanted) if wanted else {}


def add_manual_entry(deps: ApiDependencies, caller: Caller, request: ManualEntryRequest) -> tuple[LedgerEntry, str]:
    """The stored entry, and the currency of its commit or credit."""
    customer_of(deps, request.customer_id)
    ledger = deps.store.get_commit_ledger(request.customer_id, request.id)
    if ledger is None:
        raise NotFound(f"no commit or credit {request.id!r} for customer {request.customer_id!r}", field="id")
    commit = ledger.commit
    if not is_at_currency_precision(request.amount, commit.currency):
        raise FieldError("amount", f"{request.amount} has more digits than {commit.currency} allows")
    if request.segment_id is not None:
        segment = commit.segment(request.segment_id)
        if segment is None:
            raise NotFound(f"{commit.kind} {commit.id!r} has no segment {request.segment_id!r}", field="segment_id")
    else:
        active = commit.active_segments(request.timestamp)
        if not active:
            raise FieldError(
                "segment_id", f"no segment of {commit.kind} {commit.id!r} is active at the timestamp; name one"
            )
        segment = active[0]
    now = deps.clock()
    entry = LedgerEntry(
        id=deps.new_id("entry"),
        commit_id=commit.id,
        segment_id=segment.id,
        type="manual",
        amount=request.amount,
        timestamp=request.timestamp,
        reason=request.reason,
        created_at=now,
    )
    if not deps.store.add_manual_entry(
        request.customer_id, entry, audit_entry(deps, caller, MANUAL_ENTRY_ADD, entry.id, 200)
    ):
        raise NotFound(f"no commit or credit {request.id!r} for customer {request.customer_id!r}", field="id")
    ask_for_alert_evaluation(deps, request.customer_id, entry.id)
    return entry, commit.currency
