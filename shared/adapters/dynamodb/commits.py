"""Commits and credits with their ledgers, under their customer's partition (keys.py).

One Query of `COMMIT#…` reads a customer's commits and credits, each followed by its drawdown and
manual entry items, so a page of balances is one Query (more only past DynamoDB's 1 MB pages).
A `uniqueness_key` is claimed by a conditional Put of `UNIQUE#<key>` in the commit's own
transaction: of concurrent creates with one key exactly one commits, the others write nothing.
The periods of a contract's recurring items fill what its create transaction has room for; the
rest follow in transactions that each check the contract's `recurring_plan` (docs/recurring.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, overload

from shared.adapters.aws_errors import ConditionFailed
from shared.adapters.dynamodb.audit import AuditTable
from shared.adapters.dynamodb.commit_items import commit_item, manual_entry_item
from shared.adapters.dynamodb.keys import (
    COMMITS_RANGE,
    commit_key,
    commit_ledger_range,
    contract_item,
    customer_key,
    invoice_key,
    uniqueness_key,
)
from shared.adapters.dynamodb.pages import key_position
from shared.adapters.dynamodb.recurring_periods import (
    BATCH_GET_MAX,
    TRANSACTION_MAX_ITEMS,
    RecurringPeriodWrites,
    fitting_periods,
    put_size,
    sized_periods,
)
from shared.adapters.dynamodb.table import (
    Item,
    UnreadableItem,
    from_attributes,
    to_attributes,
    unreadable_reason,
)
from shared.domain.audit import AuditEntry
from shared.domain.commits import Commit, CommitQuery
from shared.domain.customers import Contract
from shared.domain.ledger import CommitLedger, Drawdown, LedgerEntry
from shared.domain.paging import InvalidCursor, Page, PageRequest, encode_cursor
from shared.domain.timestamps import parse_rfc3339
from shared.ports.store import AlreadyExists, UniquenessKeyTaken

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef


def _drawdown_from_item(commit_id: str, item: Mapping[str, Any]) -> Drawdown:
    return Drawdown(
        invoice_id=str(item["invoice_id"]),
        commit_id=commit_id,
        invoice_version=int(item["invoice_version"]),
        timestamp=_stored_timestamp(item["timestamp"]),
        amounts={str(segment): _stored_amount(amount) for segment, amount in item["amounts"].items()},
    )


def _stored_amount(text: str) -> Decimal:
    """An amount this module wrote (plain decimal text), read in C; ValueError for anything else."""
    amount = Decimal(text)
    if not amount.is_finite():
        raise ValueError(f"{text[:40]!r} is not a finite amount")
    return amount


class _ManualEntries(Sequence[LedgerEntry]):
    """A commit's manual entries, each parsed from its `data` only when first read (balances sum
    the top-level amounts and never need them)."""

    def __init__(self, items: list[tuple[Item, str]], on_unreadable: UnreadableItem) -> None:
        self._items = items  # (key, data)
        self._on_unreadable = on_unreadable
        self._entries: list[LedgerEntry] | None = None

    def _parsed(self) -> list[LedgerEntry]:
        if self._entries is None:
            self._entries = []
            for key, text in self._items:
                try:
                    self._entries.append(LedgerEntry.model_validate_json(text))
                except Exception as error:  # left out of the listed ledger and reported (pages.py)
                    self._on_unreadable(key, unreadable_reason(error))
        return self._entries

    @overload
    def __getitem__(self, index: int) -> LedgerEntry: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[LedgerEntry]: ...
    def __getitem__(self, index: int | slice) -> LedgerEntry | Sequence[LedgerEntry]:
        return self._parsed()[index]

    def __len__(self) -> int:
        return len(self._parsed()) if self._entries is not None else len(self._items)


def _stored_timestamp(text: str) -> datetime:
    """What `format_precise_timestamp` wrote, read in C; anything else through the full parser."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return parse_rfc3339(text)
    return moment if moment.tzinfo is not None else parse_rfc3339(text)


def _plain(raw: Mapping[str, Any]) -> Item:
    """An item of this module from DynamoDB's attribute values: its strings, numbers and maps read
    directly (boto3's TypeDeserializer is most of a page's time); anything else through it."""
    item: Item = {}
    for name, value in raw.items():
        if "S" in value:
            item[name] = value["S"]
        elif "N" in value:
            item[name] = Decimal(value["N"])
        elif "M" in value:
            item[name] = _plain(value["M"])
        else:
            item[name] = from_attributes({name: value})[name]
    return item


class _Group:
    """A commit item and the entry items after it, as one Query yields them."""

    def __init__(self, commit: Commit | None, on_unreadable: UnreadableItem) -> None:
        self.commit = commit  # None: the commit item could not be read; its entries are skipped
        self._on_unreadable = on_unreadable
        self.manual: list[tuple[Item, str]] = []
        self.manual_sums: dict[str, Decimal] = {}
        self.drawdowns: list[Drawdown] = []

    def add(self, item: Item) -> None:
        if self.commit is None:
            return
        if item.get("entity") == "drawdown":
            self.drawdowns.append(_drawdown_from_item(self.commit.id, item))
        elif item.get("entity") == "manual":
            segment_id, amount = str(item["segment_id"]), _stored_amount(item["amount"])
            self.manual_sums[segment_id] = self.manual_sums.get(segment_id, Decimal(0)) + amount
            self.manual.append(({"PK": item["PK"], "SK": item["SK"]}, str(item["data"])))

    def ledger(self) -> CommitLedger | None:
        if self.commit is None:
            return None
        return CommitLedger(
            self.commit, _ManualEntries(self.manual, self._on_unreadable), self.drawdowns, self.manual_sums
        )


class CommitTable(AuditTable, RecurringPeriodWrites):
    def create_commits_audited(
        self,
        commits: Sequence[Commit],
        audit: AuditEntry,
        contract: Contract | None = None,
        recurring: Sequence[Commit] = (),
        plan: str | None = None,
    ) -> None:
        writes: list[TransactWriteItemTypeDef] = []
        if contract is not None:
            item = contract_item(contract)
            if plan is not None:
                item["recurring_plan"] = plan  # what a retry's periods are checked against
            writes.append(self._put_if_absent(item))
        keys = []
        for commit in commits:
            writes.append(self._put_if_absent(commit_item(commit)))
            if commit.uniqueness_key is not None:
                keys.append((commit.customer_id, commit.uniqueness_key))
                claim = {**uniqueness_key(*keys[-1]), "entity": "uniqueness_key", "commit_id": commit.id}
                writes.append(self._put_if_absent(claim))
        writes.append(self._audit_put(audit))
        # Periods fill what the transaction has left: a plan that fits is all or nothing.
        periods = sized_periods(recurring)
        fitting = fitting_periods(periods, TRANSACTION_MAX_ITEMS - len(writes), sum(map(put_size, writes)))
        writes.extend(self._put_if_absent(item) for _, item, _ in periods[:fitting])
        try:
            self._client.transact_write_items(TransactItems=writes)
        except ConditionFailed:
            # Ids are fresh, so a failed condition is a taken key; read which, to name it.
            for customer_id, key in keys:
                if self._get(uniqueness_key(customer_id, key)) is not None:
                    raise UniquenessKeyTaken(key) from None
            raise AlreadyExists("a commit, credit or contract with one of these ids exists") from None
        if periods[fitting:]:
            if contract is None or plan is None:
                raise ValueError("recurring commits are written with their contract and its plan")
            self._complete(contract, plan, periods[fitting:])

    def add_manual_entry(self, customer_id: str, entry: LedgerEntry, audit: AuditEntry) -> bool:
        commit_exists: TransactWriteItemTypeDef = {
            "ConditionCheck": {
                "TableName": self._table,
                "Key": to_attributes(commit_key(customer_id, entry.commit_id)),
                "ConditionExpression": "attribute_exists(PK)",
            }
        }
        writes = [commit_exists, self._put_if_absent(manual_entry_item(customer_id, entry)), self._audit_put(audit)]
        try:
            self._client.transact_write_items(TransactItems=writes)
        except ConditionFailed:
            return False
        return True

    def get_commit_ledger(self, customer_id: str, commit_id: str) -> CommitLedger | None:
        group: _Group | None = None
        for item in self._query_items(customer_id, commit_ledger_range(commit_id), None):
            if item.get("entity") == "commit":
                group = _Group(Commit.model_validate_json(item["data"]), self._on_unreadable)
            elif group is not None:
                group.add(item)
        return None if group is None else group.ledger()

    def list_commit_ledgers(self, customer_id: str, query: CommitQuery, page: PageRequest) -> Page[CommitLedger]:
        start = None
        if page.cursor is not None:
            start = key_position(page.cursor, ("PK", "SK"), ("PK", f"CUSTOMER#{customer_id}"))
            if not COMMITS_RANGE[0] <= start["SK"] <= COMMITS_RANGE[1]:
                raise InvalidCursor("next_page belongs to another list")
        kept: list[CommitLedger] = []
        group: _Group | None = None
        last_key: Item | None = None
        seen = 0

        def items_still_needed() -> int | None:
            """About as many items as the rest of the page takes, by what the page held so far: the
            last DynamoDB page then stops near the page's end instead of 1 MB past it."""
            if not kept:
                return None
            per_commit = seen / len(kept)
            return max(16, math.ceil((page.limit + 1 - len(kept)) * per_commit * 1.1) + 2)

        for item in self._query_items(customer_id, COMMITS_RANGE, start, items_still_needed):
            seen += 1
            if item.get("entity") == "commit":
                finished = None if group is None else group.ledger()
                if finished is not None and query.matches(finished.commit):
                    kept.append(finished)
                if len(kept) == page.limit and last_key is not None:  # one more exists: the page is full
                    return Page(kept, encode_cursor(last_key))
                group = _Group(self._read_commit(item), self._on_unreadable)
            elif group is not None:
                try:
                    group.add(item)
                except Exception as error:  # one unreadable entry never fails the page (pages.py)
                    self._on_unreadable({"PK": item.get("PK"), "SK": item.get("SK")}, unreadable_reason(error))
                    group.commit = None  # its balance would be wrong: leave the commit out too
            last_key = {"PK": item["PK"], "SK": item["SK"]}
        finished = None if group is None else group.ledger()
        if finished is not None and query.matches(finished.commit):
            kept.append(finished)
        return Page(kept, None)

    def invoice_statuses(self, invoice_ids: Collection[str]) -> dict[str, str]:
        statuses: dict[str, str] = {}
        wanted = sorted(set(invoice_ids))
        for begin in range(0, len(wanted), BATCH_GET_MAX):
            request: Any = {
                self._table: {
                    "Keys": [
                        to_attributes(invoice_key(invoice_id)) for invoice_id in wanted[begin : begin + BATCH_GET_MAX]
                    ],
                    "ProjectionExpression": "PK, #status",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ConsistentRead": True,
                }
            }
            while request:
                response = self._client.batch_get_item(RequestItems=request)
                for raw in response.get("Responses", {}).get(self._table, []):
                    item = from_attributes(raw)
                    statuses[str(item["PK"]).removeprefix("INVOICE#")] = str(item["status"])
                request = response.get("UnprocessedKeys") or None
        return statuses

    def customer_ledger_version(self, customer_id: str) -> int | None:
        """The customer's ledger version (drawdown writes move it on), or None without a customer."""
        item = self._get(customer_key(customer_id))
        return None if item is None else int(item.get("ledger_version", 0))

    def _read_commit(self, item: Item) -> Commit | None:
        try:
            return Commit.model_validate_json(item["data"])
        except Exception as error:  # left out and reported, as pages.py does for any list
            self._on_unreadable({"PK": item.get("PK"), "SK": item.get("SK")}, unreadable_reason(error))
            return None

    def _query_items(
        self,
        customer_id: str,
        sort_range: tuple[str, str],
        start: Item | None,
        next_limit: Callable[[], int | None] | None = None,
    ) -> Iterator[Item]:
        """The range's items in key order, read one DynamoDB page at a time as they are consumed;
        `next_limit` bounds each page after the first (None: up to DynamoDB's 1 MB)."""
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk AND SK BETWEEN :low AND :high",
            "ExpressionAttributeValues": to_attributes(
                {":pk": f"CUSTOMER#{customer_id}", ":low": sort_range[0], ":high": sort_range[1]}
            ),
            "ConsistentRead": True,
        }
        if start is not None:
            kwargs["ExclusiveStartKey"] = to_attributes(start)
        while True:
            response = self._client.query(**kwargs)
            for raw in response.get("Items", []):
                yield _plain(raw)
            last = response.get("LastEvaluatedKey")
            if not last:
                return
            kwargs["ExclusiveStartKey"] = last
            limit = None if next_limit is None else next_limit()
            if limit is None:
                kwargs.pop("Limit", None)
            else:
                kwargs["Limit"] = limit
