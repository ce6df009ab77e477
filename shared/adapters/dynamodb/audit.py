"""The audit log: entries written with the change they record, listed newest first.

PK `AUDIT#<shard>` / SK `<time µs>#<id>`; with a resource id also GSI2 `AUDIT#<type>#<resource id>`
/ `<time µs>#<id>`. Writes spread over `AUDIT_SHARDS` partitions; an unfiltered page reads them
all and merges on the shared sort key.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Any

from shared.adapters.dynamodb.table import Item, TableAccess, from_attributes, to_attributes, unreadable_reason
from shared.domain.audit import AuditEntry, AuditQuery
from shared.domain.paging import InvalidCursor, Page, PageRequest, decode_cursor, encode_cursor
from shared.domain.timestamps import sortable_timestamp
from shared.domain.types import STORAGE

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

AUDIT_SHARDS = 4
_AUDIT_SORT_KEY = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z#[^#]{1,256}$")


def audit_shard(entry_id: str) -> int:
    return int(hashlib.sha256(entry_id.encode("utf-8")).hexdigest()[:8], 16) % AUDIT_SHARDS


def audit_item(entry: AuditEntry) -> Item:
    item: Item = {
        "PK": f"AUDIT#{audit_shard(entry.id)}",
        "SK": entry.sort_key,
        "entity": "audit",
        "resource_type": entry.resource_type,
        "data": entry.model_dump_json(context=STORAGE),
    }
    if entry.resource_id is not None:
        item["resource_id"] = entry.resource_id
        item["GSI2PK"] = f"AUDIT#{entry.resource_type}#{entry.resource_id}"
        item["GSI2SK"] = entry.sort_key
    return item


class AuditTable(TableAccess):
    def _audit_put(self, entry: AuditEntry) -> TransactWriteItemTypeDef:
        return self._put_if_absent(audit_item(entry))

    def record_audit(self, entry: AuditEntry) -> None:
        self._client.transact_write_items(TransactItems=[self._audit_put(entry)])

    def list_audit_entries(self, query: AuditQuery, page: PageRequest) -> Page[AuditEntry]:
        before = _audit_position(page.cursor) if page.cursor else None
        low = sortable_timestamp(query.starting_on) if query.starting_on else "0"
        high = sortable_timestamp(query.ending_before) if query.ending_before else "~"
        if before is not None:
            high = min(high, before)
        sources: list[tuple[str | None, str, str, str]]
        if query.resource_type is not None and query.resource_id is not None:
            sources = [("GSI2", "GSI2PK", f"AUDIT#{query.resource_type}#{query.resource_id}", "GSI2SK")]
        else:  # newest first across every shard, merged on the shared sort key
            sources = [(None, "PK", f"AUDIT#{shard}", "SK") for shard in range(AUDIT_SHARDS)]
        found: list[tuple[str, AuditEntry]] = []
        for index, partition_name, partition, sort_name in sources:
            found.extend(
                self._newest_audit_entries(
                    index, partition_name, partition, sort_name, (low, high), before, query, page
                )
            )
        found.sort(key=lambda pair: pair[0], reverse=True)
        if len(found) <= page.limit:
            return Page([entry for _, entry in found], None)
        return Page([entry for _, entry in found[: page.limit]], encode_cursor({"before": found[page.limit - 1][0]}))

    def _newest_audit_entries(
        self,
        index: str | None,
        partition_name: str,
        partition: str,
        sort_name: str,
        bounds: tuple[str, str],
        before: str | None,
        query: AuditQuery,
        page: PageRequest,
    ) -> list[tuple[str, AuditEntry]]:
        """Up to limit + 1 matching entries of one partition, newest first (filters loop past short pages)."""
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :low AND :high",
            "ExpressionAttributeNames": {"#pk": partition_name, "#sk": sort_name},
            "ExpressionAttributeValues": to_attributes({":pk": partition, ":low": bounds[0], ":high": bounds[1]}),
            "ScanIndexForward": False,
            "Limit": page.limit + 1,
        }
        if index is not None:
            kwargs["IndexName"] = index
        found: list[tuple[str, AuditEntry]] = []
        while True:
            response = self._client.query(**kwargs)
            for raw in response.get("Items", []):
                item = from_attributes(raw)
                if item["SK"] == before:
                    continue
                try:
                    entry = AuditEntry.model_validate_json(item["data"])
                except Exception as error:  # one unreadable entry never fails the page (see pages.py)
                    self._on_unreadable({"PK": item.get("PK"), "SK": item.get("SK")}, unreadable_reason(error))
                    continue
                if query.matches(entry):
                    found.append((item["SK"], entry))
                    if len(found) > page.limit:
                        return found
            last = response.get("LastEvaluatedKey")
            if not last:
                return found
            kwargs["ExclusiveStartKey"] = last


def _audit_position(cursor: str) -> str:
    position = decode_cursor(cursor)
    before = position.get("before") if isinstance(position, dict) and len(position) == 1 else None
    if not isinstance(before, str) or not _AUDIT_SORT_KEY.match(before):
        raise InvalidCursor("next_page belongs to another list")
    return before
