"""Sync status per invoice: the current status and the history of attempts (`INVOICE#<id>` / `SYNC`).

A record written only by rejections (`record_rejection`) carries `rejected_only = true`; the first
status of an accepted version (`record_sync`) removes it, and from then on a rejection only adds
its attempt. The condition sits on the write itself, so a rejection racing an accepted event for
the same invoice can never overwrite the accepted status.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from shared.adapters.aws_errors import ConditionFailed
from shared.adapters.dynamodb.keys import sync_key
from shared.adapters.dynamodb.table import TableAccess, to_attributes
from shared.domain.providers import BillingProvider
from shared.domain.sync import DeadLetterQueue, SyncAttempt, SyncRecord, SyncStatus
from shared.domain.timestamps import format_timestamp
from shared.domain.types import STORAGE

_APPEND_ATTEMPT = "attempts = list_append(if_not_exists(attempts, :empty), :attempt)"


class SyncRecordTable(TableAccess):
    def record_sync(
        self,
        invoice_id: str,
        *,
        provider: BillingProvider | None,
        status: SyncStatus,
        reason: str | None,
        attempt: SyncAttempt,
        provider_ids: Mapping[str, Any] | None = None,
        dead_letter_queue: DeadLetterQueue | None = None,
    ) -> None:
        self._client.update_item(
            **sync_update(self._table, invoice_id, provider, status, reason, attempt, provider_ids, dead_letter_queue)
        )

    def record_rejection(
        self, invoice_id: str, *, reason: str, attempt: SyncAttempt, dead_letter_queue: DeadLetterQueue
    ) -> bool:
        values: dict[str, Any] = {
            ":entity": "sync",
            ":invoice_id": invoice_id,
            ":none": None,
            ":failed": "failed",
            ":reason": reason,
            ":dlq": dead_letter_queue,
            ":at": format_timestamp(attempt.at),
            ":true": True,
            **_attempt_values(attempt),
        }
        try:
            self._client.update_item(
                TableName=self._table,
                Key=to_attributes(sync_key(invoice_id)),
                UpdateExpression=(
                    "SET entity = :entity, invoice_id = :invoice_id, provider = :none, #status = :failed,"
                    " reason = :reason, dead_letter_queue = :dlq, updated_at = :at, rejected_only = :true,"
                    f" {_APPEND_ATTEMPT}"
                ),
                ConditionExpression="attribute_not_exists(PK) OR rejected_only = :true",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=to_attributes(values),
            )
        except ConditionFailed:  # an accepted version has its status: it stays, the attempt is kept
            self._client.update_item(
                TableName=self._table,
                Key=to_attributes(sync_key(invoice_id)),
                UpdateExpression=f"SET {_APPEND_ATTEMPT}",
                ExpressionAttributeValues=to_attributes(_attempt_values(attempt)),
            )
            return False
        return True

    def get_sync(self, invoice_id: str) -> SyncRecord | None:
        item = self._get(sync_key(invoice_id))
        if item is None:
            return None
        return SyncRecord.model_validate(
            {
                "invoice_id": item["invoice_id"],
                "provider": item.get("provider"),
                "status": item["status"],
                "reason": item.get("reason"),
                "dead_letter_queue": item.get("dead_letter_queue"),
                "provider_ids": _numbers_as_written(item.get("provider_ids") or {}),
                "attempts": item.get("attempts") or [],
                "updated_at": item["updated_at"],
                "provider_status": item.get("provider_status"),
                "provider_status_at": item.get("provider_status_at"),
            }
        )


def sync_update(
    table: str,
    invoice_id: str,
    provider: BillingProvider | None,
    status: SyncStatus,
    reason: str | None,
    attempt: SyncAttempt,
    provider_ids: Mapping[str, Any] | None = None,
    dead_letter_queue: DeadLetterQueue | None = None,
) -> dict[str, Any]:
    """`record_sync`'s write, as UpdateItem's arguments (a transaction's Update takes the same)."""
    values: dict[str, Any] = {
        ":entity": "sync",
        ":invoice_id": invoice_id,
        ":provider": provider,
        ":status": status,
        ":reason": reason,
        ":dlq": dead_letter_queue,
        ":at": format_timestamp(attempt.at),
        **_attempt_values(attempt),
    }
    update = (
        "SET entity = :entity, invoice_id = :invoice_id, provider = :provider, #status = :status,"
        f" reason = :reason, dead_letter_queue = :dlq, updated_at = :at, {_APPEND_ATTEMPT}"
    )
    if provider_ids is not None:
        update += ", provider_ids = :provider_ids"
        values[":provider_ids"] = dict(provider_ids)
    return {
        "TableName": table,
        "Key": to_attributes(sync_key(invoice_id)),
        "UpdateExpression": update + " REMOVE rejected_only",
        "ExpressionAttributeNames": {"#status": "status"},
        "ExpressionAttributeValues": to_attributes(values),
    }


def _numbers_as_written(value: Any) -> Any:
    """DynamoDB hands every number back as a Decimal: whole ones (counts, cents) become ints again."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else value
    if isinstance(value, dict):
        return {key: _numbers_as_written(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_numbers_as_written(inner) for inner in value]
    return value


def _attempt_values(attempt: SyncAttempt) -> dict[str, Any]:
    return {":attempt": [attempt.model_dump(mode="json", context=STORAGE)], ":empty": []}
