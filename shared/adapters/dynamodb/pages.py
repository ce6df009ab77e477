"""One list page from one Query, with an opaque cursor that only its own list accepts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from shared.adapters.dynamodb.table import Item, TableAccess, from_attributes, to_attributes, unreadable_reason
from shared.domain.paging import InvalidCursor, Page, PageRequest, decode_cursor, encode_cursor

_T = TypeVar("_T")


class PagedQueries(TableAccess):
    def _query_page(
        self,
        *,
        index: str | None,
        partition: tuple[str, str],
        sort: tuple[str, tuple[str, str] | None],
        key_names: tuple[str, ...],
        page: PageRequest,
        read: Callable[[Item], _T],
        keep: Callable[[_T], bool] | None = None,
        weigh: tuple[Callable[[_T], int], int] | None = None,
    ) -> Page[_T]:
        """One page in key order: `limit` items that `keep` accepts (each item `read` once, and only
        as far as needed) and a cursor to the next, or None when none is left. With `weigh`
        (a weight per item, the most a page may weigh), a page also ends before the item that
        would pass that weight (but always holds one item).

        An item that `read` cannot map (written by hand, or by an older release) is left out and
        reported with its key to `on_unreadable`: one bad item never fails the whole page.

        The cursor is the key of the last item returned (not DynamoDB's LastEvaluatedKey, which may
        lie past items a filter kept back), so a page may stop in the middle of a DynamoDB page.
        """
        (partition_name, partition_value), (sort_name, sort_range) = partition, sort
        names = {"#pk": partition_name}
        values: dict[str, Any] = {":pk": partition_value}
        condition = "#pk = :pk"
        if sort_range is not None:
            names["#sk"] = sort_name
            values.update({":low": sort_range[0], ":high": sort_range[1]})
            condition += " AND #sk BETWEEN :low AND :high"
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": to_attributes(values),
            "Limit": page.limit + 1,
        }
        if index is not None:
            kwargs["IndexName"] = index
        if page.cursor is not None:
            position = key_position(page.cursor, key_names, partition)
            # DynamoDB refuses a start key outside the key condition ("outside query boundaries"),
            # which a cursor reused with other filters can be; moto does not check. Before the
            # range: start at its beginning. After it: nothing is left.
            at = position.get(sort_name) if sort_range is not None else None
            if sort_range is not None and isinstance(at, str) and at > sort_range[1]:
                return Page([], None)
            if not (sort_range is not None and isinstance(at, str) and at < sort_range[0]):
                kwargs["ExclusiveStartKey"] = to_attributes(position)
        kept: list[_T] = []
        last_position: Item = {}
        weight = 0
        while True:
            response = self._client.query(**kwargs)
            for raw in response.get("Items", []):
                item = from_attributes(raw)
                if keep is None and len(kept) == page.limit:  # one more exists: nothing to read
                    return Page(kept, encode_cursor(last_position))
                try:
                    value = read(item)
                except Exception as error:  # any failure to map one item is that item's, not the list's
                    self._on_unreadable({"PK": item.get("PK"), "SK": item.get("SK")}, unreadable_reason(error))
                    continue
                if keep is not None and not keep(value):
                    continue
                if len(kept) == page.limit:  # one more exists: this page is full and not the last
                    return Page(kept, encode_cursor(last_position))
                if weigh is not None:
                    weight += weigh[0](value)
                    if kept and weight > weigh[1]:  # full by weight: this item starts the next page
                        return Page(kept, encode_cursor(last_position))
                kept.append(value)
                last_position = {name: item[name] for name in key_names}
            last = response.get("LastEvaluatedKey")
            if not last:
                return Page(kept, None)
            kwargs["ExclusiveStartKey"] = last


def key_position(cursor: str, key_names: tuple[str, ...], partition: tuple[str, str]) -> Item:
    """The ExclusiveStartKey inside a cursor, checked: our key names, string values, this partition."""
    position = decode_cursor(cursor)
    if (
        not isinstance(position, dict)
        or set(position) != set(key_names)
        or not all(isinstance(value, str) and value for value in position.values())
        or position.get(partition[0]) != partition[1]
    ):
        raise InvalidCursor("next_page belongs to another list")
    return position
