"""The marketplace outbox: per invoice and provider, the total to meter (`INVOICE#<id>` / `METER#<provider>`).

The router raises the target (`target_amount`); the meter adds to `metered_cents` and `allocations`
(record hour → this invoice's cents in it) as it stores usage records (`usage_records.py`). While
the entry has work it is listed in GSI1 under `OUTBOX#<provider>` / `<customer>#<invoice>` (sparse:
the meter takes it out when nothing is left to do, and the router's next version puts it back).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

from shared.adapters.aws_errors import ConditionFailed
from shared.adapters.dynamodb.keys import id_part, outbox_key
from shared.adapters.dynamodb.sync_records import sync_update
from shared.adapters.dynamodb.table import Item, TableAccess, from_attributes, to_attributes
from shared.domain.timestamps import format_precise_timestamp, parse_rfc3339, parse_sortable_timestamp
from shared.ports.meter_store import MeterInvoice, MeterInvoiceDone, MeterWorkPage
from shared.ports.metering import MarketplaceProvider
from shared.ports.store import MeterOutboxEntry

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

_WAITING_PREFIX = "OUTBOX#"


class OutboxTable(TableAccess):
    def upsert_meter_outbox(self, entry: MeterOutboxEntry) -> None:
        values = {
            ":entity": "meter_outbox",
            ":gsi1pk": f"{_WAITING_PREFIX}{entry.provider}",
            ":gsi1sk": f"{id_part(entry.customer_id)}#{id_part(entry.invoice_id)}",
            ":customer_id": entry.customer_id,
            ":currency": entry.currency,
            ":version": entry.invoice_version,
            ":invoice_status": entry.invoice_status,
            ":target": entry.target_amount,
            ":target_at": "" if entry.received_at is None else format_precise_timestamp(entry.received_at),
            ":zero": 0,
            ":empty": {},
        }
        # A failed condition: a higher invoice version is already there: a lower one never lowers the target.
        with contextlib.suppress(ConditionFailed):
            self._client.update_item(
                TableName=self._table,
                Key=to_attributes(outbox_key(entry.invoice_id, entry.provider)),
                UpdateExpression=(
                    "SET entity = :entity, GSI1PK = :gsi1pk, GSI1SK = :gsi1sk, customer_id = :customer_id,"
                    " currency = :currency, invoice_version = :version, invoice_status = :invoice_status,"
                    " target_amount = :target, target_at = :target_at,"
                    " metered_cents = if_not_exists(metered_cents, :zero),"
                    " allocations = if_not_exists(allocations, :empty)"
                ),
                ConditionExpression="attribute_not_exists(PK) OR invoice_version < :version",
                ExpressionAttributeValues=to_attributes(values),
            )

    def meter_work(self, provider: MarketplaceProvider, cursor: str | None, limit: int) -> MeterWorkPage:
        start: dict[str, Any] | None = None if cursor is None else json.loads(cursor)
        entries: list[tuple[Item, MeterInvoice]] = []
        last_key: dict[str, Any] | None = None
        while True:
            query: dict[str, Any] = {
                "TableName": self._table,
                "IndexName": "GSI1",
                "KeyConditionExpression": "GSI1PK = :pk",
                "ExpressionAttributeValues": to_attributes({":pk": f"{_WAITING_PREFIX}{provider}"}),
                "Limit": limit,
            }
            if start is not None:
                query["ExclusiveStartKey"] = to_attributes(start)
            response = self._client.query(**query)
            for raw in response.get("Items") or []:
                item = from_attributes(raw)
                entries.append((item, meter_invoice_from_item(item)))
            last_key = response.get("LastEvaluatedKey")
            if last_key is None:
                return MeterWorkPage(_by_customer([entry for _, entry in entries]), None)
            start = from_attributes(last_key)
            customers = {entry.customer_id for _, entry in entries}
            if len(customers) > 1:
                break  # else one customer fills the page: read on, a customer is never split
        # The last customer may go on in the next page: it starts the next page whole.
        last_customer = entries[-1][1].customer_id
        kept = [(item, entry) for item, entry in entries if entry.customer_id != last_customer]
        item = kept[-1][0]
        next_start = {name: item[name] for name in ("PK", "SK", "GSI1PK", "GSI1SK")}
        return MeterWorkPage(_by_customer([entry for _, entry in kept]), json.dumps(next_start))

    def get_meter_invoice(self, invoice_id: str, provider: MarketplaceProvider) -> MeterInvoice | None:
        item = self._get(outbox_key(invoice_id, provider))
        return None if item is None else meter_invoice_from_item(item)

    def finish_meter_invoice(self, invoice: MeterInvoice) -> bool:
        try:
            self._client.update_item(**_finish_update(self._table, invoice))
        except ConditionFailed:
            return False
        return True

    def finish_meter_invoices(self, done: Sequence[MeterInvoiceDone]) -> set[str]:
        # The status and the entry of each invoice in one transaction with the others' (two items
        # an invoice); where the transaction is refused (an entry changed), invoice by invoice.
        groups: list[list[TransactWriteItemTypeDef]] = [
            [
                {"Update": _finish_update(self._table, finished.invoice)},
                {"Update": _sync_of(self._table, finished)},
            ]
            for finished in done
        ]
        written = self._transact_or_each(groups)
        changed: set[str] = set()
        for finished, whole in zip(done, written, strict=True):
            if whole:
                continue
            # Its entry changed: its status is recorded all the same, and it waits.
            self._client.update_item(**_sync_of(self._table, finished))
            if not self.finish_meter_invoice(finished.invoice):
                changed.add(finished.invoice.invoice_id)
        return changed


def _finish_update(table: str, invoice: MeterInvoice) -> Any:
    return {
        "TableName": table,
        "Key": to_attributes(outbox_key(invoice.invoice_id, invoice.provider)),
        "UpdateExpression": "REMOVE GSI1PK, GSI1SK",
        "ConditionExpression": "invoice_version = :version AND metered_cents = :metered",
        "ExpressionAttributeValues": to_attributes(
            {":version": invoice.invoice_version, ":metered": invoice.metered_cents}
        ),
    }


def _sync_of(table: str, finished: MeterInvoiceDone) -> Any:
    invoice = finished.invoice
    return sync_update(
        table, invoice.invoice_id, invoice.provider, finished.status, finished.reason, finished.attempt,
        finished.provider_ids,
    )  # fmt: skip


def _by_customer(entries: list[MeterInvoice]) -> list[tuple[str, list[MeterInvoice]]]:
    customers: dict[str, list[MeterInvoice]] = {}
    for entry in entries:
        customers.setdefault(entry.customer_id, []).append(entry)
    return list(customers.items())


def meter_invoice_from_item(item: Item) -> MeterInvoice:
    allocations = cast(Mapping[str, Decimal], item.get("allocations") or {})
    return MeterInvoice(
        invoice_id=str(item["PK"]).removeprefix("INVOICE#"),
        provider=cast(MarketplaceProvider, str(item["SK"]).removeprefix("METER#")),
        customer_id=str(item["customer_id"]),
        currency=str(item["currency"]),
        invoice_version=int(item["invoice_version"]),
        invoice_status=str(item["invoice_status"]),
        target_amount=Decimal(item["target_amount"]),
        metered_cents=int(item.get("metered_cents", 0)),
        allocations={parse_sortable_timestamp(hour): int(share) for hour, share in sorted(allocations.items())},
        target_at=parse_rfc3339(str(item["target_at"])) if item.get("target_at") else None,
    )
