"""Customers and their contracts: creates (plain or audited), reads, configuration edits, lists."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from shared.adapters.aws_errors import ConditionFailed, TransactionConflict
from shared.adapters.dynamodb.audit import AuditTable
from shared.adapters.dynamodb.keys import (
    contract_from_item,
    contract_item,
    contract_key,
    customer_data,
    customer_from_item,
    customer_item,
    customer_key,
)
from shared.adapters.dynamodb.pages import PagedQueries
from shared.adapters.dynamodb.registrations import pointer_writes
from shared.adapters.dynamodb.table import MAX_OPTIMISTIC_RETRIES, to_attributes
from shared.domain.audit import AuditEntry
from shared.domain.customers import Contract, Customer
from shared.domain.paging import Page, PageRequest
from shared.ports.store import AlreadyExists, ConfigurationsChange

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef


class CustomerTable(AuditTable, PagedQueries):
    def create_customer(self, customer: Customer) -> None:
        pointers = pointer_writes(self._table, None, customer)
        if not pointers:
            self._put_new(customer_item(customer))
            return
        try:
            self._client.transact_write_items(TransactItems=[self._put_if_absent(customer_item(customer)), *pointers])
        except ConditionFailed:
            raise AlreadyExists(f"customer {customer.id}") from None

    def get_customer(self, customer_id: str) -> Customer | None:
        item = self._get(customer_key(customer_id))
        return None if item is None else customer_from_item(item)

    def get_customers(self, customer_ids: Collection[str]) -> dict[str, Customer]:
        keys = [customer_key(customer_id) for customer_id in sorted(set(customer_ids))]
        customers = (customer_from_item(item) for item in self._batch_get(keys))
        return {customer.id: customer for customer in customers}

    def create_contract(self, contract: Contract) -> None:
        self._put_new(contract_item(contract))

    def get_contract(self, customer_id: str, contract_id: str) -> Contract | None:
        item = self._get(contract_key(customer_id, contract_id))
        return None if item is None else contract_from_item(item)

    def create_customer_audited(self, customer: Customer, audit: AuditEntry) -> None:
        self._transact_new(customer_item(customer), audit, pointer_writes(self._table, None, customer))

    def create_contract_audited(self, contract: Contract, audit: AuditEntry) -> None:
        self._transact_new(contract_item(contract), audit)

    def update_provider_configurations(
        self, customer_id: str, change: ConfigurationsChange, audit: AuditEntry
    ) -> Customer | None:
        for _ in range(MAX_OPTIMISTIC_RETRIES):
            item = self._get(customer_key(customer_id))
            if item is None:
                return None
            current = customer_from_item(item)
            updated = current.model_copy(update={"billing_provider_configurations": change(current)})
            data_changed: TransactWriteItemTypeDef = {
                "Update": {
                    "TableName": self._table,
                    "Key": to_attributes(customer_key(customer_id)),
                    "UpdateExpression": "SET #data = :new",
                    "ConditionExpression": "#data = :old",  # optimistic: nobody wrote in between
                    "ExpressionAttributeNames": {"#data": "data"},
                    "ExpressionAttributeValues": to_attributes({":new": customer_data(updated), ":old": item["data"]}),
                }
            }
            try:
                self._client.transact_write_items(
                    TransactItems=[data_changed, *pointer_writes(self._table, current, updated), self._audit_put(audit)]
                )
            except (ConditionFailed, TransactionConflict):
                continue
            return updated
        raise TransactionConflict(
            f"customer {customer_id}: gave up after {MAX_OPTIMISTIC_RETRIES} concurrent writes; try again",
            code="conflict",
        )

    def list_customers(self, page: PageRequest) -> Page[Customer]:
        return self._query_page(
            index="GSI1",
            partition=("GSI1PK", "CUSTOMERS"),
            sort=("GSI1SK", None),
            key_names=("PK", "SK", "GSI1PK", "GSI1SK"),
            page=page,
            read=customer_from_item,
        )

    def list_contracts(self, customer_id: str, page: PageRequest) -> Page[Contract]:
        return self._query_page(
            index=None,
            partition=("PK", f"CUSTOMER#{customer_id}"),
            sort=("SK", ("CONTRACT#", "CONTRACT$")),  # '$' follows '#': every CONTRACT#… key
            key_names=("PK", "SK"),
            page=page,
            read=contract_from_item,
        )

    def _transact_new(
        self, item: Mapping[str, Any], audit: AuditEntry, also: Sequence[TransactWriteItemTypeDef] = ()
    ) -> None:
        """Put a new `item` (and `also`) together with its audit entry; AlreadyExists when the item exists."""
        try:
            self._client.transact_write_items(TransactItems=[self._put_if_absent(item), *also, self._audit_put(audit)])
        except ConditionFailed:
            raise AlreadyExists(f"{item['PK']} {item['SK']}") from None
