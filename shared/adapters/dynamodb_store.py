"""The Store port on one DynamoDB table (single-table design; see docs/architecture.md).

Keys (PK / SK, and GSI1PK / GSI1SK where an item is listed):

| item            | PK                    | SK                 | GSI1PK                      | GSI1SK                 |
|-----------------|-----------------------|--------------------|-----------------------------|------------------------|
| customer        | CUSTOMER#<id>         | #CUSTOMER          | CUSTOMERS                   | <created_at>#<id>      |
| contract        | CUSTOMER#<customer>   | CONTRACT#<id>      |                             |                        |
| invoice         | INVOICE#<id>          | #INVOICE           | CUSTOMER#<customer>#INVOICES| <start_timestamp>#<id> |
| sync status     | INVOICE#<id>          | SYNC               |                             |                        |
| meter outbox    | INVOICE#<id>          | METER#<provider>   | OUTBOX#<provider>           | <customer>#<id>        |
| audit entry     | AUDIT#<shard 0-3>     | <time µs>#<id>     | (GSI2) AUDIT#<type>#<resource id> / <time µs>#<id> |

Entities are stored as `data`, their JSON text (amounts as decimal strings, so nothing passes
through DynamoDB's number type on the way back); the few attributes that conditions and
arithmetic need (`version`, `lifetime_billings`, `target_amount`) are top-level.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from shared.domain.audit import AuditEntry, AuditQuery
from shared.domain.customers import Contract, Customer
from shared.domain.invoice import Invoice
from shared.domain.invoice_listing import InvoiceQuery
from shared.domain.paging import InvalidCursor, Page, PageRequest, decode_cursor, encode_cursor
from shared.domain.providers import BillingProvider
from shared.domain.stripe_state import (
    StripeSyncState,
    SyncLeaseLost,
    epoch_seconds,
    from_epoch_seconds,
)
from shared.domain.sync import SyncAttempt, SyncRecord, SyncStatus
from shared.domain.timestamps import format_timestamp, parse_sortable_timestamp, sortable_timestamp
from shared.domain.types import STORAGE
from shared.ports import AlreadyExists, ConfigurationsChange, InvoiceWrite, InvoiceWriteOutcome, MeterOutboxEntry

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

Item = dict[str, Any]
_T = TypeVar("_T")
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


def customer_item(customer: Customer) -> Item:
    """A customer's item; `lifetime_billings` is a top-level map so invoice writes can add to it."""
    return {
        **customer_key(customer.id),
        "entity": "customer",
        "GSI1PK": "CUSTOMERS",
        "GSI1SK": f"{format_timestamp(customer.created_at)}#{customer.id}",
        "data": customer.model_dump_json(exclude={"lifetime_billings"}, context=STORAGE),
        "lifetime_billings": dict(customer.lifetime_billings),
    }


def contract_item(contract: Contract) -> Item:
    return {
        **contract_key(contract.customer_id, contract.id),
        "entity": "contract",
        "data": contract.model_dump_json(context=STORAGE),
    }


def _is_condition_failure(error: ClientError) -> bool:
    code = error.response.get("Error", {}).get("Code", "")
    return code in {"ConditionalCheckFailedException", "TransactionCanceledException"}


def _billed(invoice: Invoice | None) -> tuple[str, Decimal] | None:
    """What an invoice contributes to lifetime billings: its total when FINALIZED."""
    if invoice is None or invoice.status != "FINALIZED":
        return None
    return invoice.currency, invoice.total


# ==== Stripe sync section: keys and mapping (owner: Stripe sync, issue #4) ========================
_STRIPE_UNSYNCED = "STRIPE_UNSYNCED"


def _stripe_sync_key(invoice_id: str) -> Item:
    return {"PK": f"INVOICE#{invoice_id}", "SK": "STRIPE"}


def _stripe_state_from_item(item: Item) -> StripeSyncState:
    def moment(name: str) -> datetime | None:
        value = item.get(name)
        return None if value is None else parse_sortable_timestamp(value)

    lease_until = item.get("lease_until")
    version = item.get("version")
    return StripeSyncState(
        invoice_id=item["invoice_id"],
        step=item.get("step", "new"),
        version=None if version is None else int(version),
        stripe_invoice_id=item.get("stripe_invoice_id"),
        attempt=int(item.get("attempt", 0)),
        calls=int(item.get("calls", 0)),
        pending_since=moment("pending_since"),
        lease_token=item.get("lease_token"),
        lease_until=None if lease_until is None else from_epoch_seconds(lease_until),
        updated_at=moment("updated_at"),
    )


# ==== end Stripe sync section ======================================================================


class DynamoDBStore:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    # -- customers and contracts ---------------------------------------------------------
    def create_customer(self, customer: Customer) -> None:
        self._put_new(customer_item(customer))

    def get_customer(self, customer_id: str) -> Customer | None:
        item = self._get(customer_key(customer_id))
        return None if item is None else _customer_from_item(item)

    def create_contract(self, contract: Contract) -> None:
        self._put_new(contract_item(contract))

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
            "data": invoice.model_dump_json(context=STORAGE),
        }
        if dispatched_version is not None:  # the router moves this marker forward itself
            item["dispatched_version"] = dispatched_version
        put: TransactWriteItemTypeDef
        if stored_version is None:
            put = self._put_if_absent(item)
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
            ":attempt": [attempt.model_dump(mode="json", context=STORAGE)],
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

    # ==== API (issue #10): audited writes, list pages, the audit log ==========================
    # Keys: docs/api.md "API access patterns". Audit entries: PK AUDIT#<shard> / SK <time>#<id>,
    # GSI2PK AUDIT#<resource_type>#<resource_id> / GSI2SK <time>#<id>.
    def create_customer_audited(self, customer: Customer, audit: AuditEntry) -> None:
        self._transact_new(customer_item(customer), audit)

    def update_provider_configurations(
        self, customer_id: str, change: ConfigurationsChange, audit: AuditEntry
    ) -> Customer | None:
        for _ in range(_MAX_OPTIMISTIC_RETRIES):
            item = self._get(customer_key(customer_id))
            if item is None:
                return None
            current = _customer_from_item(item)
            updated = current.model_copy(update={"billing_provider_configurations": change(current)})
            try:
                self._client.transact_write_items(
                    TransactItems=[
                        {
                            "Update": {
                                "TableName": self._table,
                                "Key": to_attributes(customer_key(customer_id)),
                                "UpdateExpression": "SET #data = :new",
                                "ConditionExpression": "#data = :old",  # optimistic: nobody wrote in between
                                "ExpressionAttributeNames": {"#data": "data"},
                                "ExpressionAttributeValues": to_attributes(
                                    {
                                        ":new": updated.model_dump_json(exclude={"lifetime_billings"}, context=STORAGE),
                                        ":old": item["data"],
                                    }
                                ),
                            }
                        },
                        self._audit_put(audit),
                    ]
                )
            except ClientError as error:
                if _is_condition_failure(error):
                    continue
                raise
            return updated
        raise RuntimeError(f"customer {customer_id}: gave up after {_MAX_OPTIMISTIC_RETRIES} concurrent writes")

    def create_contract_audited(self, contract: Contract, audit: AuditEntry) -> None:
        self._transact_new(contract_item(contract), audit)

    def record_audit(self, entry: AuditEntry) -> None:
        self._client.transact_write_items(TransactItems=[self._audit_put(entry)])

    def list_customers(self, page: PageRequest) -> Page[Customer]:
        return self._query_page(
            index="GSI1",
            partition=("GSI1PK", "CUSTOMERS"),
            sort=("GSI1SK", None),
            key_names=("PK", "SK", "GSI1PK", "GSI1SK"),
            page=page,
            read=_customer_from_item,
        )

    def list_contracts(self, customer_id: str, page: PageRequest) -> Page[Contract]:
        return self._query_page(
            index=None,
            partition=("PK", f"CUSTOMER#{customer_id}"),
            sort=("SK", ("CONTRACT#", "CONTRACT$")),  # '$' follows '#': every CONTRACT#… key
            key_names=("PK", "SK"),
            page=page,
            read=lambda item: Contract.model_validate_json(item["data"]),
        )

    def list_invoices(self, customer_id: str, query: InvoiceQuery, page: PageRequest) -> Page[Invoice]:
        # GSI1SK is `<start_timestamp>#<id>`; a start with a fraction ("…:00.5Z") sorts before "…:00Z",
        # so the key range is widened to whole seconds and the exact bounds are checked per invoice.
        low = _second_prefix(query.starting_on) if query.starting_on else "0"
        high = _second_prefix(query.ending_before) + "~" if query.ending_before else "~"
        return self._query_page(
            index="GSI1",
            partition=("GSI1PK", f"CUSTOMER#{customer_id}#INVOICES"),
            sort=("GSI1SK", (low, high)),
            key_names=("PK", "SK", "GSI1PK", "GSI1SK"),
            page=page,
            read=lambda item: Invoice.model_validate_json(item["data"]),
            keep=query.matches,
        )

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
                entry = AuditEntry.model_validate_json(item["data"])
                if query.matches(entry):
                    found.append((item["SK"], entry))
                    if len(found) > page.limit:
                        return found
            last = response.get("LastEvaluatedKey")
            if not last:
                return found
            kwargs["ExclusiveStartKey"] = last

    def _audit_put(self, entry: AuditEntry) -> TransactWriteItemTypeDef:
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
        return self._put_if_absent(item)

    def _transact_new(self, item: Mapping[str, Any], audit: AuditEntry) -> None:
        """Put a new `item` together with its audit entry; AlreadyExists when the item exists."""
        try:
            self._client.transact_write_items(TransactItems=[self._put_if_absent(item), self._audit_put(audit)])
        except ClientError as error:
            if _is_condition_failure(error):
                raise AlreadyExists(f"{item['PK']} {item['SK']}") from None
            raise

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
    ) -> Page[_T]:
        """One page in key order: `limit` items that `keep` accepts (each item `read` once, and only
        as far as needed) and a cursor to the next, or None when none is left.

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
            position = _key_position(page.cursor, key_names, partition)
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
        while True:
            response = self._client.query(**kwargs)
            for raw in response.get("Items", []):
                item = from_attributes(raw)
                if keep is None and len(kept) == page.limit:  # one more exists: nothing to read
                    return Page(kept, encode_cursor(last_position))
                value = read(item)
                if keep is not None and not keep(value):
                    continue
                if len(kept) == page.limit:  # one more exists: this page is full and not the last
                    return Page(kept, encode_cursor(last_position))
                kept.append(value)
                last_position = {name: item[name] for name in key_names}
            last = response.get("LastEvaluatedKey")
            if not last:
                return Page(kept, None)
            kwargs["ExclusiveStartKey"] = last

    # ==== end API section =====================================================================

    # ==== Stripe sync section (owner: Stripe sync, issue #4) ===================================
    # Item `INVOICE#<id>` / `STRIPE` (shared.domain.stripe_state). While unsettled it is listed in
    # GSI1 under `STRIPE_UNSYNCED` / `<pending_since>#<id>`, so the oldest is one Query away.
    def claim_stripe_sync(
        self, invoice_id: str, *, now: datetime, lease_until: datetime, token: str
    ) -> StripeSyncState | None:
        moment = sortable_timestamp(now)
        values = {
            ":entity": "stripe_sync",
            ":invoice_id": invoice_id,
            ":zero": 0,
            ":one": 1,
            ":new": "new",
            ":token": token,
            ":until": epoch_seconds(lease_until),
            ":now_epoch": epoch_seconds(now),
            ":now": moment,
            ":gsi1pk": _STRIPE_UNSYNCED,
            ":gsi1sk": f"{moment}#{invoice_id}",
        }
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key=to_attributes(_stripe_sync_key(invoice_id)),
                UpdateExpression=(
                    "SET entity = :entity, invoice_id = :invoice_id, attempt = if_not_exists(attempt, :zero) + :one,"
                    " lease_token = :token, lease_until = :until, updated_at = :now,"
                    " step = if_not_exists(step, :new), calls = if_not_exists(calls, :zero),"
                    " pending_since = if_not_exists(pending_since, :now),"
                    " GSI1PK = :gsi1pk, GSI1SK = if_not_exists(GSI1SK, :gsi1sk)"
                ),
                ConditionExpression="attribute_not_exists(lease_until) OR lease_until < :now_epoch",
                ExpressionAttributeValues=to_attributes(values),
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if _is_condition_failure(error):
                return None
            raise
        return _stripe_state_from_item(from_attributes(response["Attributes"]))

    def save_stripe_sync(self, state: StripeSyncState, *, token: str) -> None:
        item: Item = {
            **_stripe_sync_key(state.invoice_id),
            "entity": "stripe_sync",
            "invoice_id": state.invoice_id,
            "step": state.step,
            "attempt": state.attempt,
            "calls": state.calls,
        }
        optional: dict[str, Any] = {
            "version": state.version,
            "stripe_invoice_id": state.stripe_invoice_id,
            "lease_token": state.lease_token,
            "lease_until": None if state.lease_until is None else epoch_seconds(state.lease_until),
            "updated_at": None if state.updated_at is None else sortable_timestamp(state.updated_at),
        }
        item.update({name: value for name, value in optional.items() if value is not None})
        if not state.settled and state.pending_since is not None:
            item["pending_since"] = sortable_timestamp(state.pending_since)
            item["GSI1PK"] = _STRIPE_UNSYNCED
            item["GSI1SK"] = f"{item['pending_since']}#{state.invoice_id}"
        try:
            self._client.put_item(
                TableName=self._table,
                Item=to_attributes(item),
                ConditionExpression="lease_token = :token",
                ExpressionAttributeValues=to_attributes({":token": token}),
            )
        except ClientError as error:
            if _is_condition_failure(error):
                raise SyncLeaseLost(f"invoice {state.invoice_id}: the Stripe sync lease was taken over") from None
            raise

    def get_stripe_sync(self, invoice_id: str) -> StripeSyncState | None:
        item = self._get(_stripe_sync_key(invoice_id))
        return None if item is None else _stripe_state_from_item(item)

    def oldest_unsynced_stripe(self) -> datetime | None:
        response = self._client.query(
            TableName=self._table,
            IndexName="GSI1",
            KeyConditionExpression="GSI1PK = :pk",
            ExpressionAttributeValues=to_attributes({":pk": _STRIPE_UNSYNCED}),
            Limit=1,
        )
        items = response.get("Items") or []
        if not items:
            return None
        pending = from_attributes(items[0]).get("pending_since")
        return None if pending is None else parse_sortable_timestamp(pending)

    # ==== end Stripe sync section ===============================================================

    # -- helpers ----------------------------------------------------------------------------
    def _put_if_absent(self, item: Mapping[str, Any]) -> TransactWriteItemTypeDef:
        """A transaction's Put of a new item: it fails the transaction when the key exists."""
        return {
            "Put": {
                "TableName": self._table,
                "Item": to_attributes(item),
                "ConditionExpression": "attribute_not_exists(PK)",
            }
        }

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


# ==== API (issue #10): module-level helpers ======================================================
AUDIT_SHARDS = 4  # audit writes spread over this many partitions; a page reads them all and merges


def audit_shard(entry_id: str) -> int:
    return int(hashlib.sha256(entry_id.encode("utf-8")).hexdigest()[:8], 16) % AUDIT_SHARDS


def _customer_from_item(item: Item) -> Customer:
    customer = Customer.model_validate_json(item["data"])
    billings = {currency: Decimal(amount) for currency, amount in item.get("lifetime_billings", {}).items()}
    return customer.model_copy(update={"lifetime_billings": billings})


def _second_prefix(moment: datetime) -> str:
    """`YYYY-MM-DDTHH:MM:SS`: a prefix of every GSI1SK whose timestamp falls in that second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _key_position(cursor: str, key_names: tuple[str, ...], partition: tuple[str, str]) -> Item:
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


_AUDIT_SORT_KEY = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z#[^#]{1,256}$")


def _audit_position(cursor: str) -> str:
    position = decode_cursor(cursor)
    before = position.get("before") if isinstance(position, dict) and len(position) == 1 else None
    if not isinstance(before, str) or not _AUDIT_SORT_KEY.match(before):
        raise InvalidCursor("next_page belongs to another list")
    return before


# ==== end API section ============================================================================
