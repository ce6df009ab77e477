"""Sync status per invoice: the current status and the history of attempts (`INVOICE#<id>` / `SYNC`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.adapters.dynamodb.keys import sync_key
from shared.adapters.dynamodb.table import TableAccess, to_attributes
from shared.domain.providers import BillingProvider
from shared.domain.sync import SyncAttempt, SyncRecord, SyncStatus
from shared.domain.timestamps import format_timestamp
from shared.domain.types import STORAGE


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
    ) -> None:
        values: dict[str, Any] = {
            ":entity": "sync",
            ":invoice_id": invoice_id,
            ":provider": provider,
            ":status": status,
            ":reason": reason,
            ":at": format_timestamp(attempt.at),
            ":attempt": [attempt.model_dump(mode="json", context=STORAGE)],
            ":empty": [],
        }
        update = (
            "SET entity = :entity, invoice_id = :invoice_id, provider = :provider, #status = :status,"
            " reason = :reason, updated_at = :at,"
            " attempts = list_append(if_not_exists(attempts, :empty), :attempt)"
        )
        if provider_ids is not None:
            update += ", provider_ids = :provider_ids"
            values[":provider_ids"] = dict(provider_ids)
        self._client.update_item(
            TableName=self._table,
            Key=to_attributes(sync_key(invoice_id)),
            UpdateExpression=update,
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=to_attributes(values),
        )

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
                "provider_ids": item.get("provider_ids") or {},
                "attempts": item.get("attempts") or [],
                "updated_at": item["updated_at"],
            }
        )
