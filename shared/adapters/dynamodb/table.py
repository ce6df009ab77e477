"""What every aggregate module shares: the client (errors mapped), the table name, item codecs.

Entities are stored as `data`, their JSON text (amounts as decimal strings, so nothing passes
through DynamoDB's number type on the way back); the few attributes that conditions and arithmetic
need (`version`, `lifetime_billings`, `target_amount`, lease deadlines) are top-level.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from pydantic import ValidationError

from shared.adapters.aws_errors import ConditionFailed, with_mapped_errors
from shared.ports.store import AlreadyExists

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

Item = dict[str, Any]
MAX_OPTIMISTIC_RETRIES = 8  # read-decide-write loops give up after this many concurrent writers
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

    def _put_new(self, item: Mapping[str, Any]) -> None:
        try:
            self._client.put_item(
                TableName=self._table, Item=to_attributes(item), ConditionExpression="attribute_not_exists(PK)"
            )
        except ConditionFailed:
            raise AlreadyExists(f"{item['PK']} {item['SK']}") from None


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
