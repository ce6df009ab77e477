"""Where the data export writes: a bucket of Parquet files and one manifest per export date.

The use case (`shared.services.data_export`) opens one writer per table, adds rows in bounded
batches, closes them (their files are then stored), and only then switches the date's manifest.
Adapters raise `RetryableError` / `PermanentError` (`shared.ports.errors`), never an SDK's error.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, Protocol

from shared.domain.data_export import ExportedTable, ExportManifest, ExportTableName


class ExportTableWriter(Protocol):
    def add(self, row: Mapping[str, Any]) -> None:
        """One row (`shared.domain.data_export`'s shape); buffered, written a row group at a time."""
        ...

    def close(self) -> ExportedTable:
        """Write what is buffered and store the table's last file and its schema file; what it stored."""
        ...

    def discard(self) -> None:
        """Stop without storing more (a failed run); its local files are removed."""
        ...


class ExportBucket(Protocol):
    def open_table(self, table: ExportTableName, export_date: date, run_id: str) -> ExportTableWriter: ...

    def read_manifest(self, export_date: date) -> ExportManifest | None:
        """The date's current manifest, or None before its first complete export."""
        ...

    def switch_manifest(self, manifest: ExportManifest) -> None:
        """Make `manifest` the date's: after this call every reader of the date reads its run."""
        ...

    def retire_other_runs(self, manifest: ExportManifest) -> int:
        """Mark every other object under the date's table prefixes (earlier runs, runs that stopped
        before their switch) for expiry; how many were marked."""
        ...
