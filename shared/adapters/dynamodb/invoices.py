"""Invoices: the highest version wins, lifetime billings follow in the same transaction; lists."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from shared.adapters.aws_errors import ConditionFailed, TransactionConflict
from shared.adapters.dynamodb.keys import customer_key, id_part, invoice_key
from shared.adapters.dynamodb.pages import PagedQueries
from shared.adapters.dynamodb.table import MAX_OPTIMISTIC_RETRIES, Item, to_attributes
from shared.domain.invoice import Invoice
from shared.domain.invoice_listing import InvoiceQuery
from shared.domain.paging import Page, PageRequest
from shared.domain.timestamps import format_timestamp
from shared.domain.types import STORAGE
from shared.ports.store import InvoiceWrite, InvoiceWriteOutcome

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef


class InvoiceTable(PagedQueries):
    def save_invoice(self, invoice: Invoice, received_at: datetime) -> InvoiceWrite:
        for _ in range(MAX_OPTIMISTIC_RETRIES):
            current = self._get(invoice_key(invoice.id))
            stored_version = None if current is None else int(current["version"])
            dispatched = None if current is None else current.get("dispatched_version")
            dispatched_version = None if dispatched is None else int(dispatched)
            if stored_version is not None and invoice.version <= stored_version:
                outcome = (
                    InvoiceWriteOutcome.DUPLICATE if invoice.version == stored_version else InvoiceWriteOutcome.STALE
                )
                return InvoiceWrite(outcome, stored_version, dispatched_version)
            previous = None if current is None else _invoice_from_item(current)
            try:
                self._client.transact_write_items(
                    TransactItems=self._invoice_write(
                        invoice, received_at, stored_version, dispatched_version, previous
                    )
                )
            except (ConditionFailed, TransactionConflict):
                continue  # someone wrote in between: read again and decide again
            outcome = InvoiceWriteOutcome.CREATED if current is None else InvoiceWriteOutcome.UPDATED
            return InvoiceWrite(outcome, invoice.version, dispatched_version)
        raise TransactionConflict(
            f"invoice {invoice.id}: gave up after {MAX_OPTIMISTIC_RETRIES} concurrent writes; it will be retried",
            code="conflict",
        )

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
            "GSI1SK": f"{format_timestamp(invoice.start_timestamp)}#{id_part(invoice.id)}",
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
        return None if item is None else _invoice_from_item(item)

    def mark_dispatched(self, invoice_id: str, version: int) -> None:
        # A failed condition: gone, or a later routing already finished: the marker only moves forward.
        with contextlib.suppress(ConditionFailed):
            self._client.update_item(
                TableName=self._table,
                Key=to_attributes(invoice_key(invoice_id)),
                UpdateExpression="SET dispatched_version = :v",
                ConditionExpression="attribute_exists(PK) AND"
                " (attribute_not_exists(dispatched_version) OR dispatched_version < :v)",
                ExpressionAttributeValues=to_attributes({":v": version}),
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
            read=_invoice_from_item,
            keep=query.matches,
        )


def _invoice_from_item(item: Item) -> Invoice:
    return Invoice.model_validate_json(item["data"])


def _billed(invoice: Invoice | None) -> tuple[str, Decimal] | None:
    """What an invoice contributes to lifetime billings: its total when FINALIZED."""
    if invoice is None or invoice.status != "FINALIZED":
        return None
    return invoice.currency, invoice.total


def _second_prefix(moment: datetime) -> str:
    """`YYYY-MM-DDTHH:MM:SS`: a prefix of every GSI1SK whose timestamp falls in that second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
