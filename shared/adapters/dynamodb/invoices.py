"""Invoices: the highest version wins, lifetime billings follow in the same transaction; lists.

An invoice too large for its one item keeps its lines in chunk items (`invoice_lines`), written
before the head item that names them; the head then holds the rest of the invoice and the first
lines a list shows, so lists never read chunks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from shared.adapters.aws_errors import ConditionFailed, TransactionConflict
from shared.adapters.dynamodb.alerts import spend_marker_writes
from shared.adapters.dynamodb.commit_items import drawdown_item
from shared.adapters.dynamodb.commits import CommitTable
from shared.adapters.dynamodb.contract_end_dates import finalized_usage_writes
from shared.adapters.dynamodb.invoice_lines import EncodedLines, InvoiceLineChunks, LineChunks, encode_lines
from shared.adapters.dynamodb.keys import customer_key, drawdown_key, invoice_key, invoice_list_position
from shared.adapters.dynamodb.pages import PagedQueries
from shared.adapters.dynamodb.table import MAX_OPTIMISTIC_RETRIES, Item, from_attributes, to_attributes
from shared.domain.breakdowns import InvoiceUsage
from shared.domain.invoice import Invoice
from shared.domain.invoice_listing import (
    LIST_PAGE_BYTES_MAX,
    InvoiceListing,
    InvoiceQuery,
    invoice_without_buckets,
    listing_of,
)
from shared.domain.ledger import CommitLedger, drawn_commit_ids, plan_drawdowns
from shared.domain.paging import Page, PageRequest, encode_cursor
from shared.domain.timestamps import format_timestamp
from shared.domain.types import STORAGE
from shared.ports.errors import RetryableError
from shared.ports.store import InvoiceWrite, InvoiceWriteOutcome

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef, UpdateTypeDef


READ_ATTEMPTS = 3
_Read = TypeVar("_Read")


@dataclass(frozen=True)
class _DrawdownWrites:
    """The ledger side of an invoice write: its drawdown items put, the previous version's others
    deleted, and the customer's ledger version it was planned against (None: nothing changes)."""

    writes: list[TransactWriteItemTypeDef]
    drawn: list[str]
    ledger_version: int | None
    unapplied: tuple[str, ...]


NO_DRAWDOWNS = _DrawdownWrites([], [], None, ())


class InvoiceTable(InvoiceLineChunks, CommitTable, PagedQueries):
    def save_invoice(self, invoice: Invoice, received_at: datetime) -> InvoiceWrite:
        encoded = encode_lines(invoice)
        chunks_written = False
        for _ in range(MAX_OPTIMISTIC_RETRIES):
            current = self._get(invoice_key(invoice.id))
            stored_version = None if current is None else int(current["version"])
            dispatched = None if current is None else current.get("dispatched_version")
            dispatched_version = None if dispatched is None else int(dispatched)
            if stored_version is not None and invoice.version <= stored_version:
                outcome = (
                    InvoiceWriteOutcome.DUPLICATE if invoice.version == stored_version else InvoiceWriteOutcome.STALE
                )
                if encoded is not None and chunks_written and LineChunks.of_head(current) != encoded.chunks:
                    # Lost to a write that got there first: no head will ever name these chunks.
                    self._expire_line_chunks(invoice.id, encoded.chunks, received_at)
                return InvoiceWrite(outcome, stored_version, dispatched_version)
            if encoded is not None and not chunks_written:
                self._put_line_chunks(invoice.id, encoded)
                chunks_written = True
            previous = None if current is None else _invoice_from_item(current)
            drawdowns = self._drawdown_writes(invoice, current)
            try:
                self._client.transact_write_items(
                    TransactItems=self._invoice_write(
                        invoice, encoded, received_at, stored_version, dispatched_version, previous, drawdowns
                    )
                )
            except (ConditionFailed, TransactionConflict):
                continue  # someone wrote in between: read again and decide again
            replaced = LineChunks.of_head(current)
            if replaced is not None:
                self._expire_line_chunks(invoice.id, replaced, received_at)
            outcome = InvoiceWriteOutcome.CREATED if current is None else InvoiceWriteOutcome.UPDATED
            return InvoiceWrite(outcome, invoice.version, dispatched_version, drawdowns.unapplied)
        # The chunks stay unexpired: the retry of this event writes the same keys and commits them.
        raise TransactionConflict(
            f"invoice {invoice.id}: gave up after {MAX_OPTIMISTIC_RETRIES} concurrent writes; it will be retried",
            code="conflict",
        )

    def _invoice_write(
        self,
        invoice: Invoice,
        encoded: EncodedLines | None,
        received_at: datetime,
        stored_version: int | None,
        dispatched_version: int | None,
        previous: Invoice | None,
        drawdowns: _DrawdownWrites = NO_DRAWDOWNS,
    ) -> list[TransactWriteItemTypeDef]:
        item: Item = {
            **invoice_list_position(invoice),
            "entity": "invoice",
            "customer_id": invoice.customer_id,
            "status": invoice.status,
            "version": invoice.version,
            "received_at": format_timestamp(received_at),
            "line_items_count": len(invoice.line_items),
        }
        if encoded is None:
            item["data"] = invoice.model_dump_json(context=STORAGE)
        else:  # the head: the invoice with the first lines a list shows; the chunks have them all
            item["data"] = listing_of(invoice).invoice.model_dump_json(context=STORAGE)
            item |= encoded.chunks.attributes()
        if dispatched_version is not None:  # the router moves this marker forward itself
            item["dispatched_version"] = dispatched_version
        if drawdowns.drawn:  # what the next version's write replaces
            item["drawdown_commits"] = drawdowns.drawn
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
        if deltas or drawdowns.ledger_version is not None:
            writes.append(self._customer_update(invoice.customer_id, deltas, drawdowns.ledger_version))
        writes.extend(finalized_usage_writes(self._table, previous, invoice))
        writes.extend(spend_marker_writes(self._table, previous, invoice))  # what spend alerts read
        return writes + drawdowns.writes

    def _drawdown_writes(self, invoice: Invoice, current: Item | None) -> _DrawdownWrites:
        """Plan this version's drawdowns against the ledgers as stored now (docs/ledger.md)."""
        before = [str(commit_id) for commit_id in (current or {}).get("drawdown_commits", [])]
        wanted = drawn_commit_ids(invoice)
        if not before and not wanted:
            return NO_DRAWDOWNS
        version = self.customer_ledger_version(invoice.customer_id)
        ledgers: dict[str, CommitLedger] = {}
        for commit_id in wanted:
            ledger = self.get_commit_ledger(invoice.customer_id, commit_id)
            if ledger is not None:
                ledgers[commit_id] = ledger
        plan = plan_drawdowns(invoice, ledgers)
        writes: list[TransactWriteItemTypeDef] = [
            {"Put": {"TableName": self._table, "Item": to_attributes(drawdown_item(invoice.customer_id, drawdown))}}
            for drawdown in plan.drawdowns.values()
        ]
        writes += [
            {
                "Delete": {
                    "TableName": self._table,
                    "Key": to_attributes(drawdown_key(invoice.customer_id, commit_id, invoice.id)),
                }
            }
            for commit_id in before
            if commit_id not in plan.drawdowns
        ]
        if not writes:
            return _DrawdownWrites([], [], None, plan.unapplied)
        return _DrawdownWrites(writes, list(plan.drawdowns), version or 0, plan.unapplied)

    def _customer_update(
        self, customer_id: str, deltas: Mapping[str, Decimal], ledger_version: int | None
    ) -> TransactWriteItemTypeDef:
        """Lifetime billings moved by `deltas`; with `ledger_version`, the ledger version moved on from
        it (a concurrent drawdown of this customer planned against the same ledgers then fails)."""
        names: dict[str, str] = {}
        values: dict[str, Any] = {":zero": Decimal(0)} if deltas else {}
        clauses = []
        condition = "attribute_exists(PK)"
        if ledger_version is not None:
            clauses.append("ledger_version = :next_ledger")
            values[":next_ledger"] = ledger_version + 1
            if ledger_version:
                condition += " AND ledger_version = :ledger"
                values[":ledger"] = ledger_version
            else:
                condition += " AND attribute_not_exists(ledger_version)"
        for index, (currency, delta) in enumerate(sorted(deltas.items())):
            names[f"#c{index}"] = currency
            values[f":d{index}"] = delta
            clauses.append(
                f"lifetime_billings.#c{index} = if_not_exists(lifetime_billings.#c{index}, :zero) + :d{index}"
            )
        update: UpdateTypeDef = {
            "TableName": self._table,
            "Key": to_attributes(customer_key(customer_id)),
            "UpdateExpression": "SET " + ", ".join(clauses),
            "ConditionExpression": condition,
            "ExpressionAttributeValues": to_attributes(values),
        }
        if names:  # DynamoDB refuses names the expressions do not use
            update["ExpressionAttributeNames"] = names
        return {"Update": update}

    def get_invoice(self, invoice_id: str, *, buckets: bool = True) -> Invoice | None:
        def read(invoice: Invoice, chunks: LineChunks | None) -> Invoice | None:
            if chunks is None:
                return invoice if buckets else invoice_without_buckets(invoice)
            lines = self._read_lines(invoice_id, chunks, buckets=buckets)
            return None if lines is None else invoice.model_copy(update={"line_items": lines})

        return self._read_invoice(invoice_id, read)

    def get_invoice_usage(self, invoice_id: str) -> InvoiceUsage | None:
        def read(invoice: Invoice, chunks: LineChunks | None) -> InvoiceUsage | None:
            return InvoiceUsage.of(invoice) if chunks is None else self._read_usage(invoice_id, invoice, chunks)

        return self._read_invoice(invoice_id, read)

    def _read_invoice(
        self, invoice_id: str, read: Callable[[Invoice, LineChunks | None], _Read | None]
    ) -> _Read | None:
        """The head, then `read` of it and the chunks it names (None from `read`: a chunk went
        missing under the read, the head was replaced: read it again); None if never stored."""
        for _ in range(READ_ATTEMPTS):
            item = self._get(invoice_key(invoice_id))
            if item is None:
                return None
            found = read(_invoice_from_item(item), LineChunks.of_head(item))
            if found is not None:
                return found
        raise RetryableError(
            f"invoice {invoice_id}: its line items changed under {READ_ATTEMPTS} reads in a row; it will be retried",
            code="lines_changing",
        )

    def invoice_version(self, invoice_id: str) -> int | None:
        response = self._client.get_item(
            TableName=self._table,
            Key=to_attributes(invoice_key(invoice_id)),
            ConsistentRead=True,
            ProjectionExpression="version",
        )
        item = response.get("Item")
        return None if item is None or "version" not in item else int(from_attributes(item)["version"])

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

    def invoice_list_cursor(self, invoice: Invoice) -> str:
        # What `_query_page` hands out: the keys of the last item of the page.
        return encode_cursor(invoice_list_position(invoice))

    def list_invoices(self, customer_id: str, query: InvoiceQuery, page: PageRequest) -> Page[InvoiceListing]:
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
            read=_listing_from_item,
            keep=lambda listing: query.matches(listing.invoice),
            weigh=(lambda listing: listing.size, LIST_PAGE_BYTES_MAX),
        )


def _invoice_from_item(item: Item) -> Invoice:
    return Invoice.model_validate_json(item["data"])


def _listing_from_item(item: Item) -> InvoiceListing:
    """A list item from the head alone: a chunked invoice's head already holds its first lines."""
    invoice = _invoice_from_item(item)
    chunks = LineChunks.of_head(item)
    if chunks is None:
        return listing_of(invoice)
    return InvoiceListing(invoice, int(item["line_items_count"]), chunks.windows)


def _billed(invoice: Invoice | None) -> tuple[str, Decimal] | None:
    """What an invoice contributes to lifetime billings: its total when FINALIZED."""
    if invoice is None or invoice.status != "FINALIZED":
        return None
    return invoice.currency, invoice.total


def _second_prefix(moment: datetime) -> str:
    """`YYYY-MM-DDTHH:MM:SS`: a prefix of every GSI1SK whose timestamp falls in that second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
