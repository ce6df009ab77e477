"""A contract's end date and the invoices that guard it.

Each FINALIZED USAGE invoice of a contract has a marker item in its customer's partition,
`CUSTOMER#<customer>` / `FINALIZED_USAGE#<contract digest>#<end µs>#<invoice>`, kept in the
invoice's own write transaction: put when a version is FINALIZED and USAGE, deleted when a later
version is not (voided, back to DRAFT) or moves its end or contract. So the latest finalized end of
a contract is one consistent Query, descending, `Limit: 1` — one small item whatever the number of
the customer's invoices — and it is exact: a voided invoice no longer counts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.adapters.aws_errors import ConditionFailed, TransactionConflict
from shared.adapters.dynamodb.audit import AuditTable
from shared.adapters.dynamodb.keys import (
    contract_from_item,
    contract_key,
    finalized_usage_key,
    finalized_usage_prefix,
)
from shared.adapters.dynamodb.table import MAX_OPTIMISTIC_RETRIES, Item, from_attributes, to_attributes
from shared.domain.audit import AuditEntry
from shared.domain.contract_end_date import FinalizedUsageEnd
from shared.domain.customers import Contract
from shared.domain.invoice import Invoice
from shared.domain.timestamps import format_precise_timestamp, parse_rfc3339
from shared.domain.types import STORAGE
from shared.ports.store import ContractChange

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef


def finalized_usage_marker(invoice: Invoice | None) -> Item | None:
    """The marker `invoice` (a stored version) has, or None when it is not a FINALIZED USAGE invoice of a contract."""
    if invoice is None or invoice.contract_id is None or invoice.status != "FINALIZED" or invoice.type != "USAGE":
        return None
    return {
        **finalized_usage_key(invoice.customer_id, invoice.contract_id, invoice.end_timestamp, invoice.id),
        "entity": "finalized_usage",
        "invoice_id": invoice.id,
        "end_timestamp": format_precise_timestamp(invoice.end_timestamp),
    }


def finalized_usage_writes(table: str, previous: Invoice | None, invoice: Invoice) -> list[TransactWriteItemTypeDef]:
    """What replacing `previous` by `invoice` does to the markers, for the invoice's transaction."""
    old, new = finalized_usage_marker(previous), finalized_usage_marker(invoice)
    keys = ("PK", "SK")
    writes: list[TransactWriteItemTypeDef] = []
    if old is not None and (new is None or {k: old[k] for k in keys} != {k: new[k] for k in keys}):
        writes.append({"Delete": {"TableName": table, "Key": to_attributes({k: old[k] for k in keys})}})
    if new is not None and new != old:
        writes.append({"Put": {"TableName": table, "Item": to_attributes(new)}})
    return writes


class ContractEndDateTable(AuditTable):
    def latest_finalized_usage_invoice(self, customer_id: str, contract_id: str) -> FinalizedUsageEnd | None:
        response = self._client.query(
            TableName=self._table,
            KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
            ExpressionAttributeValues=to_attributes(
                {":pk": f"CUSTOMER#{customer_id}", ":prefix": finalized_usage_prefix(contract_id)}
            ),
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=True,
        )
        items = response.get("Items", [])
        if not items:
            return None
        item = from_attributes(items[0])
        return FinalizedUsageEnd(str(item["invoice_id"]), parse_rfc3339(item["end_timestamp"]))

    def update_contract(
        self, customer_id: str, contract_id: str, change: ContractChange, audit: AuditEntry
    ) -> Contract | None:
        for _ in range(MAX_OPTIMISTIC_RETRIES):
            item = self._get(contract_key(customer_id, contract_id))
            if item is None:
                return None
            updated = change(contract_from_item(item))
            data_changed: TransactWriteItemTypeDef = {
                "Update": {
                    "TableName": self._table,
                    "Key": to_attributes(contract_key(customer_id, contract_id)),
                    "UpdateExpression": "SET #data = :new",
                    "ConditionExpression": "#data = :old",  # optimistic: nobody wrote in between
                    "ExpressionAttributeNames": {"#data": "data"},
                    "ExpressionAttributeValues": to_attributes(
                        {":new": updated.model_dump_json(context=STORAGE), ":old": item["data"]}
                    ),
                }
            }
            try:
                self._client.transact_write_items(TransactItems=[data_changed, self._audit_put(audit)])
            except (ConditionFailed, TransactionConflict):
                continue
            return updated
        raise TransactionConflict(
            f"contract {contract_id}: gave up after {MAX_OPTIMISTIC_RETRIES} concurrent writes; try again",
            code="conflict",
        )
