"""What every aggregate module shares: the client (errors mapped), the table name, item codecs.

Entities are stored as `data`, their JSON text (amounts as decimal strings, so nothing passes
through DynamoDB's number type on the way back); the few attributes that conditions and arithmetic
need (`version`, `lifetime_billings`, `target_amount`, lease deadlines) are top-level.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from pydantic import ValidationError

from shared.adapters.aws_errors import ConditionFailed, TransactionConflict, with_mapped_errors
from shared.ports.errors import RetryableError
from shared.ports.store import AlreadyExists

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import (
        KeysAndAttributesTypeDef,
        TransactWriteItemTypeDef,
        WriteRequestTypeDef,
    )

Item = dict[str, Any]
MAX_OPTIMISTIC_RETRIES = 8  # read-decide-write loops give up after this many concurrent writers
BATCH_GET_KEYS = 100  # DynamoDB's limits per BatchGetItem, BatchWriteItem and TransactWriteItems
BATCH_WRITE_ITEMS = 25
TRANSACTION_ITEMS = 100
BATCH_ROUNDS = 8  # sends of what a batch request held back (throttling) before giving up
# Told of each item a list skipped because it could not be mapped: its key and why (no item data).
UnreadableItem = Callable[[Mapping[str, Any], str], None]
_log = logging.getLogger(__name__)
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def to_attributes(item: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _serializer.serialize(value) for key, value in item.items()}


def from_attributes(item: Mapping[str, Any]) -> Item:
    return {key: _deserializer.deserialize(value) for key, value in item.items()}


class TableAccess:
    """The one table; each aggregate's methods live in their own mixin of `DynamoDBStore`."""

    def __init__(self, client: DynamoDBClient, table_name: str, on_unreadable: UnreadableItem | None = None) -> None:
        self._client = with_mapped_errors(client, service="DynamoDB", resource=f"table {table_name}")
        self._table = table_name
        self._on_unreadable = on_unreadable or log_unreadable

    def _get(self, key: Mapping[str, Any]) -> Item | None:
        response = self._client.get_item(TableName=self._table, Key=to_attributes(key), ConsistentRead=True)
        item = response.get("Item")
        return None if item is None else from_attributes(item)

    def _put_if_absent(self, item: Mapping[str, Any]) -> TransactWriteItemTypeDef:
        """A transaction's Put of a new item: it fails the transaction when the key exists."""
        return {
            "Put": {
                "TableName": self._table,
                "Item": to_attributes(item),
                "ConditionExpression": "attribute_not_exists(PK)",
            }
        }

    def _batch_get(self, keys: Sequence[Mapping[str, Any]], per_request: int = BATCH_GET_KEYS) -> list[Item]:
        """The items of `keys` that exist, read consistently, 100 keys a request (fewer for items so
        large that 100 would pass a response's 16 MB)."""
        found: list[Item] = []
        for start in range(0, len(keys), per_request):
            chunk = [to_attributes(key) for key in keys[start : start + per_request]]
            request: dict[str, KeysAndAttributesTypeDef] = {self._table: {"Keys": chunk, "ConsistentRead": True}}
            for round_number in range(BATCH_ROUNDS):
                response = self._client.batch_get_item(RequestItems=request)
                found.extend(from_attributes(raw) for raw in response.get("Responses", {}).get(self._table, []))
                held_back = (response.get("UnprocessedKeys") or {}).get(self._table)
                if held_back is None or not held_back.get("Keys"):
                    break
                _back_off(round_number)
                request = {self._table: {"Keys": list(held_back["Keys"]), "ConsistentRead": True}}
            else:
                raise RetryableError(
                    f"DynamoDB held back keys of a batch read {BATCH_ROUNDS} times in a row; it will be retried",
                    code="throttled",
                )
        return found

    def _batch_put(self, items: Sequence[Mapping[str, Any]]) -> None:
        """Whole items, unconditionally, 25 a request (each item's put stands on its own)."""
        for start in range(0, len(items), BATCH_WRITE_ITEMS):
            requests: list[WriteRequestTypeDef] = [
                {"PutRequest": {"Item": to_attributes(item)}} for item in items[start : start + BATCH_WRITE_ITEMS]
            ]
            for round_number in range(BATCH_ROUNDS):
                response = self._client.batch_write_item(RequestItems={self._table: requests})
                held_back = (response.get("UnprocessedItems") or {}).get(self._table) or []
                requests = cast("list[WriteRequestTypeDef]", list(held_back))  # the same puts, as sent
                if not requests:
                    break
                _back_off(round_number)
            else:
                raise RetryableError(
                    f"DynamoDB held back items of a batch write {BATCH_ROUNDS} times in a row; it will be retried",
                    code="throttled",
                )

    def _transact_or_each(self, groups: Sequence[Sequence[TransactWriteItemTypeDef]]) -> list[bool]:
        """Write each group all or nothing, as few groups to a transaction as its item limit allows;
        True for each group written. One refused group never holds back the others: when DynamoDB
        says which items failed their condition, the transaction goes again without their groups;
        otherwise (a conflict) group by group."""
        written: list[bool] = []
        chunk: list[Sequence[TransactWriteItemTypeDef]] = []
        for group in groups:
            if chunk and sum(len(held) for held in chunk) + len(group) > TRANSACTION_ITEMS:
                written += self._transact_chunk(chunk)
                chunk = []
            chunk.append(group)
        if chunk:
            written += self._transact_chunk(chunk)
        return written

    def _transact_chunk(self, chunk: Sequence[Sequence[TransactWriteItemTypeDef]]) -> list[bool]:
        outcome: list[bool | None] = [None] * len(chunk)
        for _ in range(2):  # all at once; again without the groups named as failing
            trying = [index for index, done in enumerate(outcome) if done is None]
            if not trying:
                break
            try:
                self._client.transact_write_items(TransactItems=[item for i in trying for item in chunk[i]])
            except (ConditionFailed, TransactionConflict) as refused:
                if len(trying) == 1:
                    outcome[trying[0]] = False
                    break
                failing = _failing_groups(refused, [len(chunk[i]) for i in trying])
                if failing is None:
                    break
                for position in failing:
                    outcome[trying[position]] = False
                continue
            for index in trying:
                outcome[index] = True
            break
        for index, done in enumerate(outcome):
            if done is None:  # one by one: the reasons were not given, or the retry was refused too
                try:
                    self._client.transact_write_items(TransactItems=list(chunk[index]))
                    outcome[index] = True
                except (ConditionFailed, TransactionConflict):
                    outcome[index] = False
        return [bool(done) for done in outcome]

    def _put_new(self, item: Mapping[str, Any]) -> None:
        try:
            self._client.put_item(
                TableName=self._table, Item=to_attributes(item), ConditionExpression="attribute_not_exists(PK)"
            )
        except ConditionFailed:
            raise AlreadyExists(f"{item['PK']} {item['SK']}") from None


def _failing_groups(refused: Exception, sizes: Sequence[int]) -> set[int] | None:
    """Which groups of a refused transaction failed their condition (positions in `sizes`), from
    the cancellation reasons DynamoDB gives item by item; None when it gave none to go by."""
    cause = refused.__cause__
    response = getattr(cause, "response", None)
    reasons = response.get("CancellationReasons") if isinstance(response, dict) else None
    if not isinstance(reasons, list) or len(reasons) != sum(sizes):
        return None
    failing: set[int] = set()
    item = 0
    for position, size in enumerate(sizes):
        codes = {str(reason.get("Code")) for reason in reasons[item : item + size] if isinstance(reason, dict)}
        item += size
        if "ConditionalCheckFailed" in codes:
            failing.add(position)
        elif codes - {"None"}:
            return None  # a conflict or throttling: nothing says which group is to blame
    return failing or None


def _back_off(round_number: int) -> None:
    # AWS's advice for what a batch request held back: try again after an exponential back-off.
    time.sleep(min(0.05 * 2**round_number, 1.0))


def log_unreadable(key: Mapping[str, Any], reason: str) -> None:
    """What a store reports an unreadable item with when nobody asked for more (tests, the CLI)."""
    _log.error("a stored item could not be read and was left out of a list: %s (%s)", dict(key), reason)


def unreadable_reason(error: Exception) -> str:
    """Why an item could not be mapped, without its data: the failing fields and error kinds."""
    if isinstance(error, ValidationError):
        problems = [f"{'.'.join(map(str, e['loc'])) or '(item)'}: {e['type']}" for e in error.errors()[:5]]
        return f"{error.title} does not validate ({'; '.join(problems)})"
    if isinstance(error, KeyError) and error.args:
        return f"no attribute {str(error.args[0])[:64]!r}"
    return type(error).__name__
