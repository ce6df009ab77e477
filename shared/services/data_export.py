"""The data export: every customer's commits and credits as the `commits` and `balances` tables.

Rows and layout: shared.domain.data_export; the bucket: shared.ports.exports. The run:

1. page through the customers (oldest first) and each one's commits and credits with their
   ledgers, 100 at a time, with the statuses of the invoices they name (one BatchGetItem a page),
   exactly as `customerBalances/list` reads them;
2. add each one's row to both tables (the writers keep one row group in memory, one file on disk);
3. close both tables (their last files and schemas are stored), then switch the date's manifest
   to this run — the only step readers see (the manifest it replaces is read first, to say so);
4. mark the date's other runs' files for expiry.

A run that fails before step 3 leaves the date's previous manifest, and so its previous export,
as it was; its own files are never named by a manifest (step 4 of a later run retires them).
`functions/data_export` runs it daily; `downbeat export --date D` on demand.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from shared.clock import Clock
from shared.domain.commits import CommitQuery
from shared.domain.customers import Customer
from shared.domain.data_export import TABLES, ExportManifest, ExportTableName, rows_of, run_id
from shared.domain.ledger import CommitLedger
from shared.domain.paging import MAX_LIMIT, Page, PageRequest
from shared.ports.exports import ExportBucket, ExportTableWriter
from shared.ports.store import CommitReads


class DataExportStore(CommitReads, Protocol):
    """What the export reads: the customers, and each one's commits and credits with their ledgers."""

    def list_customers(self, page: PageRequest) -> Page[Customer]: ...


@dataclass(frozen=True)
class ExportProgress:
    customers: int  # customers exported so far
    rows: int  # commits and credits exported so far (each is one row of each table)


@dataclass(frozen=True)
class DataExportDependencies:
    store: DataExportStore
    bucket: ExportBucket
    clock: Clock
    new_nonce: Callable[[], str] = lambda: uuid.uuid4().hex


@dataclass(frozen=True)
class ExportResult:
    manifest: ExportManifest
    replaced_run_id: str | None  # the run the date's manifest named before (None: the date's first)
    retired: int  # objects of the date's other runs marked for expiry

    def summary(self) -> dict[str, object]:
        """What the handler and `downbeat export` print: the run, and each table's rows and files."""
        manifest = self.manifest
        return {
            "export_date": manifest.export_date.isoformat(),
            "run_id": manifest.run_id,
            "exported_at": manifest.exported_at.isoformat().replace("+00:00", "Z"),
            "tables": {name: {"rows": t.rows, "files": len(t.files)} for name, t in manifest.tables.items()},
            "replaced_run_id": self.replaced_run_id,
            "retired_objects": self.retired,
        }


class FutureExportDate(ValueError):
    """An export date after today (UTC): its balances could not be as of that day."""


def export_tables(
    deps: DataExportDependencies,
    export_date: date | None = None,
    *,
    progress: Callable[[ExportProgress], None] | None = None,
) -> ExportResult:
    """Export every commit and credit for `export_date` (default: today, UTC) and switch its manifest."""
    now = deps.clock()
    export_date = export_date or now.date()
    if export_date > now.date():
        raise FutureExportDate(f"export date {export_date} is after today ({now.date()}, UTC)")
    run = run_id(now, deps.new_nonce())
    writers: dict[ExportTableName, ExportTableWriter] = {}
    try:
        for table in TABLES:
            writers[table] = deps.bucket.open_table(table, export_date, run)
        rows = 0
        for customers, customer in enumerate(_customers(deps.store), start=1):
            for ledgers, statuses in _ledger_pages(deps.store, customer.id):
                for ledger in ledgers:
                    for table, row in rows_of(ledger, now, statuses).items():
                        writers[table].add(row)
                    rows += 1
            if progress is not None:
                progress(ExportProgress(customers, rows))
        tables = {table: writers[table].close() for table in TABLES}
    except BaseException:
        for writer in writers.values():
            writer.discard()
        raise
    manifest = ExportManifest(export_date=export_date, run_id=run, exported_at=now, tables=tables)
    previous = deps.bucket.read_manifest(export_date)
    deps.bucket.switch_manifest(manifest)
    return ExportResult(
        manifest,
        replaced_run_id=None if previous is None else previous.run_id,
        retired=deps.bucket.retire_other_runs(manifest),
    )


def count_customers(store: DataExportStore) -> int:
    """How many customers an export walks (for a progress bar: one more read of the customer list)."""
    return sum(1 for _ in _customers(store))


def _customers(store: DataExportStore) -> Iterator[Customer]:
    cursor: str | None = None
    while True:
        page = store.list_customers(PageRequest(MAX_LIMIT, cursor))
        yield from page.items
        if (cursor := page.next_page) is None:
            return


def _ledger_pages(store: DataExportStore, customer_id: str) -> Iterator[tuple[list[CommitLedger], dict[str, str]]]:
    """The customer's commits and credits a page at a time, with the statuses of the invoices they name."""
    cursor: str | None = None
    while True:
        page = store.list_commit_ledgers(customer_id, CommitQuery(), PageRequest(MAX_LIMIT, cursor))
        ledgers = list(page.items)
        wanted = {ledger.commit.invoice_id for ledger in ledgers if ledger.commit.invoice_id is not None}
        yield ledgers, (store.invoice_statuses(wanted) if wanted else {})
        if (cursor := page.next_page) is None:
            return
