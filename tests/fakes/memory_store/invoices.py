"""Invoices in memory (the fake of `shared/adapters/dynamodb/invoices.py`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from shared.domain.breakdowns import InvoiceUsage, StoredWindows, WindowSize
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
from shared.ports.store import InvoiceWrite, InvoiceWriteOutcome
from tests.fakes.memory_store.state import MemoryTables


class MemoryInvoices(MemoryTables):
    def save_invoice(self, invoice: Invoice, received_at: datetime) -> InvoiceWrite:
        with self._lock:
            previous = self.invoices.get(invoice.id)
            dispatched = self.dispatched.get(invoice.id)
            if previous is not None and invoice.version <= previous.version:
                same = invoice.version == previous.version
                outcome = InvoiceWriteOutcome.DUPLICATE if same else InvoiceWriteOutcome.STALE
                return InvoiceWrite(outcome, previous.version, dispatched)
            unapplied = self._replace_drawdowns(previous, invoice)
            self.invoices[invoice.id] = invoice
            self._adjust_lifetime(previous, -1)
            self._adjust_lifetime(invoice, 1)
            outcome = InvoiceWriteOutcome.CREATED if previous is None else InvoiceWriteOutcome.UPDATED
            return InvoiceWrite(outcome, invoice.version, dispatched, unapplied)

    def _replace_drawdowns(self, previous: Invoice | None, invoice: Invoice) -> tuple[str, ...]:
        customer_id = invoice.customer_id
        for commit_id in drawn_commit_ids(previous):
            self.drawdowns.get((customer_id, commit_id), {}).pop(invoice.id, None)
        ledgers: dict[str, CommitLedger] = {}
        for commit_id in drawn_commit_ids(invoice):
            commit = self.commits.get((customer_id, commit_id))
            if commit is not None:
                key = (customer_id, commit_id)
                manual = list(self.manual_entries.get(key, []))
                ledgers[commit_id] = CommitLedger(commit, manual, list(self.drawdowns.get(key, {}).values()))
        plan = plan_drawdowns(invoice, ledgers)
        for commit_id, drawdown in plan.drawdowns.items():
            self.drawdowns.setdefault((customer_id, commit_id), {})[invoice.id] = drawdown
        return plan.unapplied

    def _adjust_lifetime(self, invoice: Invoice | None, sign: int) -> None:
        if invoice is None or invoice.status != "FINALIZED":
            return
        customer = self.customers[invoice.customer_id]
        billings = dict(customer.lifetime_billings)
        billings[invoice.currency] = billings.get(invoice.currency, Decimal(0)) + sign * invoice.total
        self.customers[customer.id] = customer.model_copy(update={"lifetime_billings": billings})

    def get_invoice(self, invoice_id: str, *, buckets: bool = True) -> Invoice | None:
        invoice = self.invoices.get(invoice_id)
        return invoice if invoice is None or buckets else invoice_without_buckets(invoice)

    def get_invoice_usage(self, invoice_id: str) -> InvoiceUsage | None:
        invoice = self.invoices.get(invoice_id)
        return None if invoice is None else InvoiceUsage.of(invoice)

    def invoice_version(self, invoice_id: str) -> int | None:
        invoice = self.invoices.get(invoice_id)
        return None if invoice is None else invoice.version

    def get_invoice_windows(self, wanted: Sequence[tuple[str, str]], size: WindowSize) -> dict[str, StoredWindows]:
        return {}  # lists name no windows here: every page computes its entries from the buckets

    def mark_dispatched(self, invoice_id: str, version: int) -> None:
        with self._lock:
            if invoice_id in self.invoices and self.dispatched.get(invoice_id, -1) < version:
                self.dispatched[invoice_id] = version

    def invoice_list_cursor(self, invoice: Invoice) -> str:
        return encode_cursor({"list": f"invoices:{invoice.customer_id}", "after": _list_position(listing_of(invoice))})

    def list_invoices(self, customer_id: str, query: InvoiceQuery, page: PageRequest) -> Page[InvoiceListing]:
        with self._lock:
            matching = [i for i in self.invoices.values() if i.customer_id == customer_id and query.matches(i)]
        ordered = [listing_of(i) for i in sorted(matching, key=lambda i: (i.start_timestamp, i.id))]
        return self._page(
            f"invoices:{customer_id}",
            ordered,
            _list_position,
            page,
            weigh=(lambda listing: listing.size, LIST_PAGE_BYTES_MAX),
        )


def _list_position(listing: InvoiceListing) -> list[str]:
    return [listing.invoice.start_timestamp.isoformat(), listing.invoice.id]
