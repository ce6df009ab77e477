"""Usage records: one per (provider, customer, dimension, UTC hour), `METER#<provider>#<customer>` /
`RECORD#<dimension>#<hour>`; while `pending` or `sent` also in GSI1 under
`METERWAIT#<provider>#<customer>` / `<hour>` (sparse), so a customer's unfinished records are one
Query away however many hours it has been metered.

A record is created in one transaction with the outbox entries whose cents it carries (their
`metered_cents` and `allocations` grow by exactly its quantity), each conditional on the entry
being as the meter read it: two runs can never both assign the same cents.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from shared.adapters.dynamodb.keys import (
    outbox_key,
    usage_record_key,
    usage_records_partition,
    waiting_records_partition,
)
from shared.adapters.dynamodb.table import Item, TableAccess, from_attributes, to_attributes
from shared.domain.marketplace_metering import WAITING_STATES, UsageRecordState
from shared.domain.timestamps import parse_sortable_timestamp, sortable_timestamp
from shared.ports.meter_store import MeterInvoice, StoredUsageRecord
from shared.ports.metering import AwsBuyer, AzureBuyer, Buyer, MarketplaceProvider

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef


class UsageRecordTable(TableAccess):
    def waiting_usage_records(self, provider: MarketplaceProvider, customer_id: str) -> list[StoredUsageRecord]:
        return self._records(
            {
                "TableName": self._table,
                "IndexName": "GSI1",
                "KeyConditionExpression": "GSI1PK = :pk",
                "ExpressionAttributeValues": to_attributes({":pk": waiting_records_partition(provider, customer_id)}),
            }
        )

    def get_usage_records(
        self, provider: MarketplaceProvider, customer_id: str, dimension: str, hours: Sequence[datetime]
    ) -> list[StoredUsageRecord]:
        # One Query over the span of hours (an invoice's records are its customer's, hours apart),
        # rather than a read per record.
        wanted = list(dict.fromkeys(hours))
        if not wanted:
            return []
        first, last = (usage_record_key(provider, customer_id, dimension, hour) for hour in (min(wanted), max(wanted)))
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk AND SK BETWEEN :first AND :last",
            "ExpressionAttributeValues": to_attributes(
                {":pk": first["PK"], ":first": first["SK"], ":last": last["SK"]}
            ),
            "ConsistentRead": True,
        }
        found = {record.hour: record for record in self._records(query)}
        return [found[hour] for hour in wanted if hour in found]

    def list_usage_records(
        self, provider: MarketplaceProvider, customer_id: str, dimension: str
    ) -> list[StoredUsageRecord]:
        partition = usage_records_partition(provider, customer_id)
        return self._records(
            {
                "TableName": self._table,
                "KeyConditionExpression": "PK = :pk AND begins_with(SK, :records)",
                "ExpressionAttributeValues": to_attributes({":pk": partition, ":records": f"RECORD#{dimension}#"}),
            }
        )

    def _records(self, query: dict[str, Any]) -> list[StoredUsageRecord]:
        """Every record a Query finds, all pages."""
        records: list[StoredUsageRecord] = []
        while True:
            response = self._client.query(**query)
            records.extend(usage_record_from_item(from_attributes(item)) for item in response.get("Items") or [])
            if "LastEvaluatedKey" not in response:
                return records
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def create_usage_record(self, record: StoredUsageRecord, invoices: Sequence[MeterInvoice]) -> bool:
        return self._transact_or_each([self._creation(record, invoices)])[0]

    def create_usage_records(self, records: Sequence[tuple[StoredUsageRecord, Sequence[MeterInvoice]]]) -> set[str]:
        # A call's worth of new records in one transaction (a record and its entries are a few
        # items each); a refused transaction is tried record by record.
        written = self._transact_or_each([self._creation(record, invoices) for record, invoices in records])
        return {record.record_id for (record, _), created in zip(records, written, strict=True) if created}

    def update_usage_records(self, records: Sequence[StoredUsageRecord]) -> None:
        # Whole items, 25 a BatchWriteItem: the meter holds each record as it created or read it
        # under the customer's lease, so a put writes its new state and the same everything else,
        # and costs one request a call's worth instead of one each.
        self._batch_put([usage_record_item(record) for record in records])

    def _creation(self, record: StoredUsageRecord, invoices: Sequence[MeterInvoice]) -> list[TransactWriteItemTypeDef]:
        hour = sortable_timestamp(record.hour)
        items: list[TransactWriteItemTypeDef] = [self._put_if_absent(usage_record_item(record))]
        for invoice in invoices:
            share = record.invoices[invoice.invoice_id]
            items.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": to_attributes(outbox_key(invoice.invoice_id, invoice.provider)),
                        "UpdateExpression": "SET metered_cents = metered_cents + :share, allocations.#hour = :share",
                        "ConditionExpression": "invoice_version = :version AND metered_cents = :metered",
                        "ExpressionAttributeNames": {"#hour": hour},
                        "ExpressionAttributeValues": to_attributes(
                            {
                                ":share": share,
                                ":version": invoice.invoice_version,
                                ":metered": invoice.metered_cents,
                            }
                        ),
                    }
                }
            )
        return items


def usage_record_item(record: StoredUsageRecord) -> Item:
    hour = sortable_timestamp(record.hour)
    item: Item = {
        **usage_record_key(record.provider, record.customer_id, record.dimension, record.hour),
        "entity": "usage_record",
        "record_id": record.record_id,
        "provider": record.provider,
        "customer_id": record.customer_id,
        "dimension": record.dimension,
        "hour": hour,
        "quantity": record.quantity,
        "buyer": buyer_text(record.buyer),
        "invoices": dict(record.invoices),
        "state": record.state,
        "receipt": record.receipt,
        "reason": record.reason,
        "sends": record.sends,
    }
    if record.state in WAITING_STATES:
        item["GSI1PK"] = waiting_records_partition(record.provider, record.customer_id)
        item["GSI1SK"] = hour
    return item


def usage_record_from_item(item: Item) -> StoredUsageRecord:
    return StoredUsageRecord(
        record_id=str(item["record_id"]),
        provider=cast(MarketplaceProvider, item["provider"]),
        customer_id=str(item["customer_id"]),
        dimension=str(item["dimension"]),
        hour=parse_sortable_timestamp(str(item["hour"])),
        quantity=int(item["quantity"]),
        buyer=buyer_from_text(str(item["buyer"])),
        invoices={invoice_id: int(share) for invoice_id, share in (item.get("invoices") or {}).items()},
        state=cast(UsageRecordState, item["state"]),
        receipt=item.get("receipt"),
        reason=item.get("reason"),
        sends=int(item.get("sends", 0)),
    )


def buyer_text(buyer: Buyer) -> str:
    kind = "aws" if isinstance(buyer, AwsBuyer) else "azure"
    return json.dumps({"kind": kind, **asdict(buyer)}, sort_keys=True)


def buyer_from_text(text: str) -> Buyer:
    fields = json.loads(text)
    kind = fields.pop("kind")
    return AwsBuyer(**fields) if kind == "aws" else AzureBuyer(**fields)
