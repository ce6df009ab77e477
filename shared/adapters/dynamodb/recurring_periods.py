"""The periods of a contract's recurring items that its create transaction had no room for.

They follow in transactions of up to 99 periods (and 3 MB), each checking the contract's
`recurring_plan` (the create request's digest), every put conditional: a retried or concurrent
create writes each period once, and a create that stopped midway is completed by its retry
(docs/recurring.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from shared.adapters.aws_errors import ConditionFailed, TransactionConflict
from shared.adapters.dynamodb.commit_items import commit_item, item_size
from shared.adapters.dynamodb.keys import commit_sort_key, contract_key
from shared.adapters.dynamodb.table import MAX_OPTIMISTIC_RETRIES, Item, TableAccess, from_attributes, to_attributes
from shared.domain.commits import Commit
from shared.domain.customers import Contract

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

BATCH_GET_MAX = 100  # keys per BatchGetItem
TRANSACTION_MAX_ITEMS = 100  # DynamoDB's limit per TransactWriteItems
# DynamoDB refuses a transaction whose items add up to more than 4 MB; periods are counted against
# 3 MB, which leaves the rest for what their transaction carries besides and for the estimate's slack.
TRANSACTION_PERIOD_BYTES = 3 * 1024 * 1024


# A commit ready to write: its id, its item and the item's size.
_Sized = tuple[str, Item, int]


def sized_periods(commits: Sequence[Commit]) -> list[_Sized]:
    return [(commit.id, item, item_size(item)) for commit in commits for item in (commit_item(commit),)]


def fitting_periods(sized: Sequence[_Sized], room: int, used_bytes: int) -> int:
    """How many of `sized`, from the first, one transaction takes besides what it holds already
    (`used_bytes`, and `room` items left); at least one when it holds nothing else."""
    count, total = 0, used_bytes
    for _, _, size in sized[: max(room, 0)]:
        total += size
        if total > TRANSACTION_PERIOD_BYTES and (count or used_bytes):
            break
        count += 1
    return count


def put_size(write: TransactWriteItemTypeDef) -> int:
    put = write.get("Put")
    return 0 if put is None else item_size(from_attributes(put["Item"]))


class RecurringPeriodWrites(TableAccess):
    def complete_recurring_commits(self, contract: Contract, plan: str, commits: Sequence[Commit]) -> bool:
        return self._complete(contract, plan, sized_periods(commits))

    def _complete(self, contract: Contract, plan: str, periods: list[_Sized]) -> bool:
        contract_has_plan: TransactWriteItemTypeDef = {
            "ConditionCheck": {
                "TableName": self._table,
                "Key": to_attributes(contract_key(contract.customer_id, contract.id)),
                "ConditionExpression": "#plan = :plan",
                "ExpressionAttributeNames": {"#plan": "recurring_plan"},
                "ExpressionAttributeValues": to_attributes({":plan": plan}),
            }
        }
        pending = periods
        collisions = 0
        while pending:
            fitting = fitting_periods(pending, TRANSACTION_MAX_ITEMS - 1, 0)
            chunk, rest = pending[:fitting], pending[fitting:]
            try:
                self._client.transact_write_items(
                    TransactItems=[contract_has_plan, *(self._put_if_absent(item) for _, item, _ in chunk)]
                )
            except ConditionFailed:
                # Either the contract is not this plan's, or some of the chunk is stored already
                # (an earlier attempt, or a concurrent one): leave those out and write the others.
                item = self._get(contract_key(contract.customer_id, contract.id))
                if item is None or item.get("recurring_plan") != plan:
                    return False
                stored = self._stored_commit_ids(contract.customer_id, [commit_id for commit_id, _, _ in chunk])
                if not stored:
                    raise
                pending = [period for period in chunk if period[0] not in stored] + rest
                continue
            except TransactionConflict:
                collisions += 1  # a concurrent attempt writing the same periods: read again
                if collisions > MAX_OPTIMISTIC_RETRIES:
                    raise
                continue
            pending = rest
        return True

    def _stored_commit_ids(self, customer_id: str, commit_ids: Sequence[str]) -> set[str]:
        """Which of these commits exist, by one BatchGetItem per 100 (keys only)."""
        by_key = {commit_sort_key(commit_id): commit_id for commit_id in commit_ids}
        found: set[str] = set()
        wanted = sorted(by_key)
        for begin in range(0, len(wanted), BATCH_GET_MAX):
            request: Any = {
                self._table: {
                    "Keys": [
                        to_attributes({"PK": f"CUSTOMER#{customer_id}", "SK": sort_key})
                        for sort_key in wanted[begin : begin + BATCH_GET_MAX]
                    ],
                    "ProjectionExpression": "SK",
                    "ConsistentRead": True,
                }
            }
            while request:
                response = self._client.batch_get_item(RequestItems=request)
                for raw in response.get("Responses", {}).get(self._table, []):
                    found.add(by_key[str(from_attributes(raw)["SK"])])
                request = response.get("UnprocessedKeys") or None
        return found
