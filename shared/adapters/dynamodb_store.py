"""The Store port on one DynamoDB table (single-table design; see docs/architecture.md).

Keys (PK / SK, and GSI1PK / GSI1SK where an item is listed):

| item            | PK                    | SK                 | GSI1PK                      | GSI1SK                 |
|-----------------|-----------------------|--------------------|-----------------------------|------------------------|
| customer        | CUSTOMER#<id>         | #CUSTOMER          | CUSTOMERS                   | <created_at>#<id>      |
| contract        | CUSTOMER#<customer>   | CONTRACT#<id>      |                             |                        |
| invoice         | INVOICE#<id>          | #INVOICE           | CUSTOMER#<customer>#INVOICES| <start_timestamp>#<id> |
| sync status     | INVOICE#<id>          | SYNC               |                             |                        |
| meter outbox    | INVOICE#<id>          | METER#<provider>   | OUTBOX#<provider>           | <customer>#<id>        |

Entities are stored as `data`, their JSON text (amounts as decimal strings, so nothing passes
through DynamoDB's number type on the way back); the few attributes that conditions and
arithmetic need (`version`, `lifetime_billings`, `target_amount`) are top-level.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from shared.domain.customers import Contract, Customer
from shared.domain.invoice import Invoice
from shared.domain.providers import BillingProvider
from shared.domain.sync import SyncAttempt, SyncRecord, SyncStatus
from shared.domain.timestamps import format_timestamp
from shared.ports import AlreadyExists, InvoiceWrite, InvoiceWriteOutcome, MeterOutboxEntry

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

Item = dict[str, Any]
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()
_MAX_OPTIMISTIC_RETRIES = 8


def to_attributes(item: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _serializer.serialize(value) for key, value in item.items()}


def from_attributes(item: Mapping[str, Any]) -> Item:
    return {key: _deserializer.deserialize(value) for key, value in item.items()}


def customer_key(customer_id: str) -> Item:
    return {"PK": f"CUSTOMER#{customer_id}", "SK": "#CUSTOMER"}


def contract_key(customer_id: str, contract_id: str) -> Item:
    return {"PK": f"CUSTOMER#{customer_id}", "SK": f"CONTRACT#{contract_id}"}


def invoice_key(invoice_id: str) -> Item:
    return {"PK": f"INVOICE#{invoice_id}", "SK": "#INVOICE"}


def sync_key(invoice_id: str) -> Item:
    return {"PK": f"INVOICE#{invoice_id}", "SK": "SYNC"}


def outbox_key(invoice_id: str, provider: str) -> Item:
    return {"PK": f"INVOICE#{invoice_id}", "SK": f"METER#{provider}"}


def _is_condition_failure(error: ClientError) -> bool:
    code = error.response.get("Error", {}).get("Code", "")
    return code in {"ConditionalCheckFailedException", "TransactionCanceledException"}


def _billed(invoice: Invoice | None) -> tuple[str, Decimal] | None:
    """What an invoice contributes to lifetime billings: its total when FINALIZED."""
    if invoice is None or invoice.status != "FINALIZED":
        return None
    return invoice.currency, invoice.total


class DynamoDBStore:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    # -- customers and contracts ---------------------------------------------------------
    def create_customer(self, customer: Customer) -> None:
        item = {
            **customer_key(customer.id),
            "entity": "customer",
            "GSI1PK": "CUSTOMERS",
            "GSI1SK": f"{format_timestamp(customer.created_at)}#{customer.id}",
            "data": customer.model_dump_json(exclude={"lifetime_billings"}),
            "lifetime_billings": dict(customer.lifetime_billings),
        }
        self._put_new(item)

    def get_customer(self, customer_id: str) -> Customer | None:
        item = self._get(customer_key(customer_id))
        if item is None:
            return None
        customer = Customer.model_validate_json(item["data"])
        billings = {currency: Decimal(amount) for currency, amount in item.get("lifetime_billings", {}).items()}
        return customer.model_copy(update={"lifetime_billings": billings})

    def create_contract(self, contract: Contract) -> None:
        self._put_new(
            {
                **contract_key(contract.customer_id, contract.id),
                "entity": "contract",
                "data": contract.model_dump_json(),
            }
        )

    def get_contract(self, customer_id: str, contract_id: str) -> Contract | None:
        item = self._get(contract_key(customer_id, contract_id))
        return None if item is None else Contract.model_validate_json(item["data"])

    # -- invoices ---------------------------------------------------------------------------
    def save_invoice(self, invoice: Invoice, received_at: datetime) -> InvoiceWrite:
        for _ in range(_MAX_OPTIMISTIC_RETRIES):
            current = self._get(invoice_key(invoice.id))
            stored_version = None if current is None else int(current["version"])
            dispatched = None if current is None else current.get("dispatched_version")
            dispatched_version = None if dispatched is None else int(dispatched)
            if stored_version is not None and invoice.version <= stored_version:
                outcome = (
                    InvoiceWriteOutcome.DUPLICATE if invoice.version == stored_version else InvoiceWriteOutcome.STALE
                )
                return InvoiceWrite(outcome, stored_version, dispatched_version)
            previous = None if current is None else Invoice.model_validate_json(current["data"])
            try:
                self._client.transact_write_items(
                    TransactItems=self._invoice_write(
                        invoice, received_at, stored_version, dispatched_version, previous
                    )
                )
            except ClientError as error:
                if _is_condition_failure(error):
                    continue  # someone wrote in between: read again and decide again
                raise
            outcome = InvoiceWriteOutcome.CREATED if current is None else InvoiceWriteOutcome.UPDATED
            return InvoiceWrite(outcome, invoice.version, dispatched_version)
        raise RuntimeError(f"invoice {invoice.id}: gave up after {_MAX_OPTIMISTIC_RETRIES} concurrent writes")

    def _invoice_write(
        self,
        invoice: Invoice,
        received_at: datetime,
        stored_version: int | None,
        dispatched_version: int | None,
        previous: Invoice | None,
    ) -> list[TransactWriteItemTypeDef]:
        item: Item = {
            **invoice_key(invoice.id),
            "entity": "invoice",
            "GSI1PK": f"CUSTOMER#{invoice.customer_id}#INVOICES",
            "GSI1SK": f"{format_timestamp(invoice.start_timestamp)}#{invoice.id}",
            "customer_id": invoice.customer_id,
            "status": invoice.status,
            "version": invoice.version,
            "received_at": format_timestamp(received_at),
            "data": invoice.model_dump_json(),
        }
        if dispatched_version is not None:  # the router moves this marker forward itself
            item["dispatched_version"] = dispatched_version
        put: TransactWriteItemTypeDef
        if stored_version is None:
            put = {
                "Put": {
                    "TableName": self._table,
                    "Item": to_attributes(item),
                    "ConditionExpression": "attribute_not_exists(PK)",
                }
            }
        else:
            put = {
                "Put": {
                    "TableName": self._table,
                    "Item": to_attributes(item),
                    "ConditionExpression": "version = :stored",
                    "ExpressionAttributeValues": to_attributes({":stored": stored_version}),
                }
            }
        writes: list[TransactWriteItemTypeDef] = [put]
        deltas: dict[str, Decimal] = {}
        for contribution, sign in ((_billed(previous), -1), (_billed(invoice), 1)):
            if contribution is not None:
                currency, amount = contribution
                deltas[currency] = deltas.get(currency, Decimal(0)) + sign * amount
        deltas = {currency: delta for currency, delta in deltas.items() if delta != 0}
        if deltas:
            writes.append(self._lifetime_update(invoice.customer_id, deltas))
        return writes

    def _lifetime_update(self, customer_id: str, deltas: Mapping[str, Decimal]) -> TransactWriteItemTypeDef:
        names: dict[str, str] = {}
        values: dict[str, Any] = {":zero": Decimal(0)}
        clauses = []
        for index, (currency, delta) in enumerate(sorted(deltas.items())):
            names[f"#c{index}"] = currency
            values[f":d{index}"] = delta
            clauses.append(
                f"lifetime_billings.#c{index} = if_not_exists(lifetime_billings.#c{index}, :zero) + :d{index}"
            )
        return {
            "Update": {
                "TableName": self._table,
                "Key": to_attributes(customer_key(customer_id)),
                "UpdateExpression": "SET " + ", ".join(clauses),
                "ConditionExpression": "attribute_exists(PK)",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": to_attributes(values),
            }
        }

    def get_invoice(self, invoice_id: str) -> Invoice | None:
        item = self._get(invoice_key(invoice_id))
        return None if item is None else Invoice.model_validate_json(item["data"])

    def mark_dispatched(self, invoice_id: str, version: int) -> None:
        try:
            self._client.update_item(
                TableName=self._table,
                Key=to_attributes(invoice_key(invoice_id)),
                UpdateExpression="SET dispatched_version = :v",
                ConditionExpression="attribute_exists(PK) AND"
                " (attribute_not_exists(dispatched_version) OR dispatched_version < :v)",
                ExpressionAttributeValues=to_attributes({":v": version}),
            )
        except ClientError as error:
            if not _is_condition_failure(error):
                raise

    # -- sync status ------------------------------------------------------------------------
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
            ":invoice_id": invoice_id,
            ":provider": provider,
            ":status": status,
            ":reason": reason,
            ":at": format_timestamp(attempt.at),
            ":attempt": [attempt.model_dump(mode="json")],
            ":empty": [],
        }
        update = (
            "SET entity = :entity, invoice_id = :invoice_id, provider = :provider, #status = :status,"
            " reason = :reason, updated_at = :at,"
            " attempts = list_append(if_not_exists(attempts, :empty), :attempt)"
        )
        values[":entity"] = "sync"
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

    # -- marketplace outbox -----------------------------------------------------------------
    def upsert_meter_outbox(self, entry: MeterOutboxEntry) -> None:
        values = {
            ":entity": "meter_outbox",
            ":gsi1pk": f"OUTBOX#{entry.provider}",
            ":gsi1sk": f"{entry.customer_id}#{entry.invoice_id}",
            ":customer_id": entry.customer_id,
            ":currency": entry.currency,
            ":version": entry.invoice_version,
            ":invoice_status": entry.invoice_status,
            ":target": entry.target_amount,
            ":zero": Decimal(0),
        }
        try:
            self._client.update_item(
                TableName=self._table,
                Key=to_attributes(outbox_key(entry.invoice_id, entry.provider)),
                UpdateExpression=(
                    "SET entity = :entity, GSI1PK = :gsi1pk, GSI1SK = :gsi1sk, customer_id = :customer_id,"
                    " currency = :currency, invoice_version = :version, invoice_status = :invoice_status,"
                    " target_amount = :target, metered_amount = if_not_exists(metered_amount, :zero)"
                ),
                ConditionExpression="attribute_not_exists(PK) OR invoice_version < :version",
                ExpressionAttributeValues=to_attributes(values),
            )
        except ClientError as error:
            if not _is_condition_failure(error):
                raise

    # -- helpers ----------------------------------------------------------------------------
    def _get(self, key: Mapping[str, Any]) -> Item | None:
        response = self._client.get_item(TableName=self._table, Key=to_attributes(key), ConsistentRead=True)
        item = response.get("Item")
        return None if item is None else from_attributes(item)

    def _put_new(self, item: Mapping[str, Any]) -> None:
        try:
            self._client.put_item(
                TableName=self._table, Item=to_attributes(item), ConditionExpression="attribute_not_exists(PK)"
            )
        except ClientError as error:
            if _is_condition_failure(error):
                raise AlreadyExists(f"{item['PK']} {item['SK']}") from None
            raise
