"""Stripe webhook events handled (`STRIPE_EVENT#<id>` / `#EVENT`) and the `provider_status` they set
on the sync record (`INVOICE#<id>` / `SYNC`).

The event's item and the sync record's update are one transaction, each with its condition: the
event id must be new (a duplicate writes nothing), and the stored result must not be newer
(`provider_status_order`, `shared.domain.stripe_webhooks.status_order`). Which condition failed is
read back afterwards, so a stale result still leaves its event id remembered.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.adapters.aws_errors import ConditionFailed
from shared.adapters.dynamodb.keys import stripe_event_key, sync_key
from shared.adapters.dynamodb.table import TableAccess, to_attributes
from shared.domain.timestamps import format_timestamp
from shared.ports.store import ProviderStatusWrite

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef


class StripeEventTable(TableAccess):
    def stripe_event_seen(self, event_id: str) -> bool:
        return self._get(stripe_event_key(event_id)) is not None

    def _event_item(self, event_id: str, expires_at: datetime, invoice_id: str | None = None) -> dict[str, Any]:
        item: dict[str, Any] = {
            **stripe_event_key(event_id),
            "entity": "stripe_event",
            "expires_at": int(expires_at.timestamp()),
        }
        if invoice_id is not None:
            item["invoice_id"] = invoice_id
        return item

    def remember_stripe_event(self, event_id: str, expires_at: datetime) -> bool:
        try:
            self._client.put_item(
                TableName=self._table,
                Item=to_attributes(self._event_item(event_id, expires_at)),
                ConditionExpression="attribute_not_exists(PK)",
            )
        except ConditionFailed:
            return False
        return True

    def record_provider_status(
        self,
        invoice_id: str,
        *,
        event_id: str,
        status: str,
        at: datetime,
        order: str,
        expires_at: datetime,
        stripe_invoice_id: str | None = None,
    ) -> ProviderStatusWrite:
        values: dict[str, Any] = {":status": status, ":at": format_timestamp(at), ":order": order}
        update = "SET provider_status = :status, provider_status_at = :at, provider_status_order = :order"
        if stripe_invoice_id is not None:
            update += ", provider_ids.stripe_invoice_id = :stripe_id"
            values[":stripe_id"] = stripe_invoice_id
        writes: list[TransactWriteItemTypeDef] = [
            self._put_if_absent(self._event_item(event_id, expires_at, invoice_id)),
            {
                "Update": {
                    "TableName": self._table,
                    "Key": to_attributes(sync_key(invoice_id)),
                    "UpdateExpression": update,
                    "ConditionExpression": (
                        "attribute_exists(PK) AND"
                        " (attribute_not_exists(provider_status_order) OR provider_status_order <= :order)"
                    ),
                    "ExpressionAttributeValues": to_attributes(values),
                }
            },
        ]
        try:
            self._client.transact_write_items(TransactItems=writes)
        except ConditionFailed:
            if self.remember_stripe_event(event_id, expires_at):
                return ProviderStatusWrite.STALE
            return ProviderStatusWrite.DUPLICATE
        return ProviderStatusWrite.APPLIED
