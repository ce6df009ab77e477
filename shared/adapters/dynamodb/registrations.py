"""Marketplace registrations, the buyer index and unmatched marketplace events.

| item                 | PK                 | SK                   | GSI1PK                 | GSI1SK            |
|----------------------|--------------------|----------------------|------------------------|-------------------|
| registration         | REGISTRATION#<id>  | #REGISTRATION        | REGISTRATIONS#<status> | <created_at>#<id> |
| its buyer claim      | BUYER#<partition>  | REGISTRATION#<claim> |                        |                   |
| a customer's pointer | BUYER#<partition>  | CUSTOMER#<customer>  |                        |                   |
| unmatched event      | UNMATCHED#<source> | <event id>           |                        |                   |
| handled operation    | OPERATION#<source> | <operation id>       |                        |                   |

A buyer partition is a marketplace identity (`shared.domain.registrations`): `aws#<account>`,
`aws-legacy#<product>#<customer identifier>`, `azure#<subscription>`. The claim is written with
the registration (put if absent), so the same buyer landing twice finds the first registration;
the customer pointers are written with every customer write (`customers.py`), so a lifecycle event
finds the customers of an identity with one Query.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from shared.adapters.aws_errors import ConditionFailed, TransactionConflict
from shared.adapters.dynamodb.audit import AuditTable
from shared.adapters.dynamodb.keys import customer_data, customer_from_item, customer_item, customer_key, id_part
from shared.adapters.dynamodb.pages import PagedQueries
from shared.adapters.dynamodb.table import MAX_OPTIMISTIC_RETRIES, Item, from_attributes, to_attributes
from shared.domain.audit import AuditEntry
from shared.domain.customers import Customer
from shared.domain.paging import Page, PageRequest
from shared.domain.registrations import (
    Registration,
    RegistrationStatus,
    buyer_claim,
    configuration_partitions,
    identifier_partitions,
)
from shared.domain.timestamps import format_timestamp
from shared.domain.types import STORAGE
from shared.ports.registration_store import (
    BuyerMatches,
    RegistrationChange,
    RegistrationNotPending,
    RegistrationUpdate,
)
from shared.ports.store import AlreadyExists, ConfigurationsChange

if TYPE_CHECKING:
    from datetime import datetime

    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

OPERATION_MEMORY_SECONDS = 90 * 86_400  # how long a handled marketplace message is remembered


def registration_key(registration_id: str) -> Item:
    return {"PK": f"REGISTRATION#{registration_id}", "SK": "#REGISTRATION"}


def registration_item(registration: Registration) -> Item:
    return {
        **registration_key(registration.id),
        "entity": "registration",
        "GSI1PK": f"REGISTRATIONS#{registration.status}",
        "GSI1SK": f"{format_timestamp(registration.created_at)}#{id_part(registration.id)}",
        "data": registration.model_dump_json(context=STORAGE),
    }


def registration_from_item(item: Item) -> Registration:
    return Registration.model_validate_json(item["data"])


def buyer_partition_key(partition: str) -> str:
    return f"BUYER#{partition}"


def customer_pointer_keys(customer: Customer | None) -> set[tuple[str, str]]:
    """The buyer index entries of a customer's marketplace configurations, as (PK, SK)."""
    if customer is None:
        return set()
    return {
        (buyer_partition_key(partition), f"CUSTOMER#{id_part(customer.id)}")
        for configuration in customer.billing_provider_configurations
        for partition in configuration_partitions(configuration)
    }


def pointer_writes(table: str, before: Customer | None, after: Customer) -> list[TransactWriteItemTypeDef]:
    """A customer write's buyer index puts: the pointers `after` has and `before` had not. A pointer
    the customer no longer needs stays (no function that writes customers may delete): `find_buyers`
    reads the customer and keeps it only while its configuration is still in that partition."""
    writes: list[TransactWriteItemTypeDef] = []
    for pk, sk in sorted(customer_pointer_keys(after) - customer_pointer_keys(before)):
        item = {"PK": pk, "SK": sk, "entity": "buyer_pointer", "customer_id": after.id}
        writes.append({"Put": {"TableName": table, "Item": to_attributes(item)}})
    return writes


class RegistrationTable(AuditTable, PagedQueries):
    def create_registration(self, registration: Registration, audit: AuditEntry) -> Registration:
        partition, claim = buyer_claim(registration.identifiers)
        claim_key = {"PK": buyer_partition_key(partition), "SK": f"REGISTRATION#{claim}"}
        claim_item = {**claim_key, "entity": "buyer_claim", "registration_id": registration.id}
        for _ in range(MAX_OPTIMISTIC_RETRIES):
            try:
                self._client.transact_write_items(
                    TransactItems=[
                        self._put_if_absent(registration_item(registration)),
                        self._put_if_absent(claim_item),
                        self._audit_put(audit),
                    ]
                )
                return registration
            except ConditionFailed:
                found = self._get(claim_key)
                existing = None if found is None else self.get_registration(str(found["registration_id"]))
                if existing is not None:
                    return existing
                if found is None:  # our own id was taken, not the buyer: a new id is the caller's to pick
                    raise AlreadyExists(f"registration {registration.id}") from None
        raise TransactionConflict(f"registration {registration.id}: gave up; try again", code="conflict")

    def get_registration(self, registration_id: str) -> Registration | None:
        item = self._get(registration_key(registration_id))
        return None if item is None else registration_from_item(item)

    def list_registrations(self, status: RegistrationStatus, page: PageRequest) -> Page[Registration]:
        return self._query_page(
            index="GSI1",
            partition=("GSI1PK", f"REGISTRATIONS#{status}"),
            sort=("GSI1SK", None),
            key_names=("PK", "SK", "GSI1PK", "GSI1SK"),
            page=page,
            read=registration_from_item,
        )

    def _registration_update(self, item: Item, updated: Registration) -> TransactWriteItemTypeDef:
        new = registration_item(updated)
        return {
            "Update": {
                "TableName": self._table,
                "Key": to_attributes(registration_key(updated.id)),
                "UpdateExpression": "SET #data = :new, GSI1PK = :gsi1pk",
                "ConditionExpression": "#data = :old",
                "ExpressionAttributeNames": {"#data": "data"},
                "ExpressionAttributeValues": to_attributes(
                    {":new": new["data"], ":gsi1pk": new["GSI1PK"], ":old": item["data"]}
                ),
            }
        }

    def update_registration(
        self, registration_id: str, change: RegistrationChange, audit: AuditEntry
    ) -> RegistrationUpdate | None:
        for _ in range(MAX_OPTIMISTIC_RETRIES):
            item = self._get(registration_key(registration_id))
            if item is None:
                return None
            current = registration_from_item(item)
            updated = change(current)
            if updated is None or updated == current:
                return RegistrationUpdate(current, changed=False)
            try:
                self._client.transact_write_items(
                    TransactItems=[self._registration_update(item, updated), self._audit_put(audit)]
                )
            except (ConditionFailed, TransactionConflict):
                continue
            return RegistrationUpdate(updated, changed=True)
        raise TransactionConflict(f"registration {registration_id}: gave up; try again", code="conflict")

    def complete_registration(
        self,
        registration: Registration,
        customer_id: str,
        change: ConfigurationsChange,
        audit: AuditEntry,
        new_customer: Customer | None = None,
    ) -> Customer | None:
        for _ in range(MAX_OPTIMISTIC_RETRIES):
            stored = self._get(registration_key(registration.id))
            if stored is None or registration_from_item(stored).status != "pending":
                raise RegistrationNotPending(registration.id)
            customer_writes: list[TransactWriteItemTypeDef]
            if new_customer is not None:
                current: Customer | None = None
                updated = new_customer.model_copy(update={"billing_provider_configurations": change(new_customer)})
                customer_writes = [self._put_if_absent(customer_item(updated))]
            else:
                item = self._get(customer_key(customer_id))
                if item is None:
                    return None
                current = customer_from_item(item)
                updated = current.model_copy(update={"billing_provider_configurations": change(current)})
                customer_writes = [
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": to_attributes(customer_key(customer_id)),
                            "UpdateExpression": "SET #data = :new",
                            "ConditionExpression": "#data = :old",
                            "ExpressionAttributeNames": {"#data": "data"},
                            "ExpressionAttributeValues": to_attributes(
                                {":new": customer_data(updated), ":old": item["data"]}
                            ),
                        }
                    }
                ]
            writes = [
                self._registration_update(stored, registration),
                *customer_writes,
                *pointer_writes(self._table, current, updated),
                self._audit_put(audit),
            ]
            try:
                self._client.transact_write_items(TransactItems=writes)
            except (ConditionFailed, TransactionConflict):
                if new_customer is not None and self._get(customer_key(new_customer.id)) is not None:
                    raise AlreadyExists(f"customer {new_customer.id}") from None
                continue
            return updated
        raise TransactionConflict(f"registration {registration.id}: gave up; try again", code="conflict")

    def find_buyers(self, partition: str) -> BuyerMatches:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk",
            "ExpressionAttributeValues": to_attributes({":pk": buyer_partition_key(partition)}),
            "ConsistentRead": True,
        }
        registration_ids: list[str] = []
        customer_ids: list[str] = []
        while True:
            response = self._client.query(**kwargs)
            for raw in response.get("Items") or []:
                item = from_attributes(raw)
                if "registration_id" in item:
                    registration_ids.append(str(item["registration_id"]))
                elif "customer_id" in item:
                    customer_ids.append(str(item["customer_id"]))
            last = response.get("LastEvaluatedKey")
            if not last:
                break
            kwargs["ExclusiveStartKey"] = last
        registrations = [
            registration_from_item(item) for item in self._batch_get([registration_key(i) for i in registration_ids])
        ]
        customers = [customer_from_item(item) for item in self._batch_get([customer_key(i) for i in customer_ids])]
        return BuyerMatches(
            sorted((r for r in registrations if partition in identifier_partitions(r.identifiers)), key=_by_id),
            sorted((c for c in customers if partition in _customer_partitions(c)), key=lambda c: c.id),
        )

    def record_unmatched(self, source: str, event_id: str, at: datetime, body: str) -> None:
        item = {"PK": f"UNMATCHED#{source}", "SK": event_id, "entity": "unmatched_event", "at": format_timestamp(at)}
        with contextlib.suppress(AlreadyExists):  # the same event delivered again: kept once
            self._put_new({**item, "data": body})

    def marketplace_operation_done(self, source: str, operation_id: str) -> bool:
        return self._get({"PK": f"OPERATION#{source}", "SK": operation_id}) is not None

    def remember_marketplace_operation(self, source: str, operation_id: str, at: datetime, outcome: str) -> None:
        # Kept past any redelivery (the table's TTL deletes it after): SQS keeps a message 14 days at
        # most, EventBridge retries for 24 hours, and Microsoft retries a webhook for hours.
        item = {"PK": f"OPERATION#{source}", "SK": operation_id, "entity": "marketplace_operation",
                "at": format_timestamp(at), "outcome": outcome,
                "expires_at": int(at.timestamp()) + OPERATION_MEMORY_SECONDS}  # fmt: skip
        with contextlib.suppress(AlreadyExists):
            self._put_new(item)


def _customer_partitions(customer: Customer) -> set[str]:
    return {
        p for configuration in customer.billing_provider_configurations for p in configuration_partitions(configuration)
    }


def _by_id(registration: Registration) -> str:
    return registration.id
