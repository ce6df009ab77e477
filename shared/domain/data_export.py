"""The data export (docs/export.md): the `commits` and `balances` tables, their rows and the bucket's layout.

- One row per commit or credit in each table, with its `balance` as of the export's moment:
  `CommitLedger.balance`, the rule `customerBalances/list` applies, rounded to the currency's
  minor units as the API shows it (`round_to_currency`, the rounding of `format_amount`).
- An export is one **run** for one **export date**: its files go under a prefix of their own
  (`<table>/export_date=<D>/run=<run id>/`), and only the date's **manifest** says which run
  readers read. Writing a new manifest is the switch: one PutObject, so a reader sees the old set
  or the new one, never a mixture, and a run that stops before it leaves the old one in place.

Pure: no SDK, no pyarrow (the Parquet writer is `shared.adapters.parquet_export`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.ledger import CommitLedger
from shared.domain.money import round_to_currency

ExportTableName = Literal["commits", "balances"]
TABLES: tuple[ExportTableName, ...] = ("commits", "balances")
MANIFEST_FORMAT: Literal[1] = 1
# Tagged on the files of every run of a date but the one its manifest names; the bucket's
# lifecycle rule expires them a week later (a reader that read the previous manifest still finds them).
SUPERSEDED_TAG = ("downbeat-export", "superseded")
_RUN_ID = re.compile(r"[0-9]{8}T[0-9]{12}Z-[0-9a-f]{8}")


def run_id(started_at: datetime, nonce: str) -> str:
    """A run's id: its start to the microsecond (runs of a date sort by it) and a nonce (two runs
    started in the same microsecond still write apart)."""
    text = f"{started_at:%Y%m%dT%H%M%S%f}Z-{nonce[:8]}"
    if not _RUN_ID.fullmatch(text):
        raise ValueError(f"run id {text!r} is not <yyyymmddThhmmssffffff>Z-<8 hex digits>")
    return text


def date_prefix(table: ExportTableName, export_date: date) -> str:
    """Every run's files of `table` for `export_date` (Hive-style partition `export_date=`)."""
    return f"{table}/export_date={export_date.isoformat()}/"


def run_prefix(table: ExportTableName, export_date: date, run: str) -> str:
    return f"{date_prefix(table, export_date)}run={run}/"


def data_key(table: ExportTableName, export_date: date, run: str, part: int) -> str:
    return f"{run_prefix(table, export_date, run)}part-{part:05d}.parquet"


def schema_key(table: ExportTableName, export_date: date, run: str) -> str:
    # `_`-prefixed: pyarrow datasets, Spark and Hive skip such files when they read a prefix.
    return f"{run_prefix(table, export_date, run)}_schema.json"


def manifest_key(export_date: date) -> str:
    return f"manifests/export_date={export_date.isoformat()}/manifest.json"


def athena_manifest_key(table: ExportTableName, export_date: date) -> str:
    """The date's symlink manifest for Athena (SymlinkTextInputFormat): the data files' URIs, one a line."""
    return f"athena/{table}/export_date={export_date.isoformat()}/manifest"


class ExportedFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    key: str
    rows: int = Field(ge=0)
    bytes: int = Field(ge=0)


class ExportedTable(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    rows: int = Field(ge=0)
    schema_key: str
    files: list[ExportedFile]


class ExportManifest(BaseModel):
    """What readers read first: which run of the date holds the tables, and its files."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    format_version: Literal[1] = MANIFEST_FORMAT
    export_date: date
    run_id: str
    # The moment every row's `balance` is computed at (its `balance_as_of`).
    exported_at: datetime
    tables: dict[ExportTableName, ExportedTable]

    def object_keys(self) -> set[str]:
        """Every object of this run: the data files and the schema files."""
        return {key for table in self.tables.values() for key in (table.schema_key, *(f.key for f in table.files))}


def exported_balance(ledger: CommitLedger, now: datetime, invoice_status: str | None) -> Decimal:
    """The commit's or credit's balance at `now` exactly as `customerBalances/list` shows it."""
    return round_to_currency(ledger.balance(now, invoice_status), ledger.commit.currency)


def balance_row(ledger: CommitLedger, now: datetime, invoice_status: str | None) -> dict[str, Any]:
    """A row of `balances`: the fields of a `customerBalances/list` entry, with its customer."""
    commit = ledger.commit
    return {
        "customer_id": commit.customer_id,
        "id": commit.id,
        "type": commit.kind,
        "name": commit.name,
        "currency": commit.currency,
        "contract_id": commit.contract_id,
        "status": commit.status(now, invoice_status),
        "balance": exported_balance(ledger, now, invoice_status),
        "balance_as_of": now,
    }


def commit_row(ledger: CommitLedger, now: datetime, invoice_status: str | None) -> dict[str, Any]:
    """A row of `commits`: the commit or credit as stored, its status and its balance at `now`."""
    commit = ledger.commit
    return {
        "customer_id": commit.customer_id,
        "id": commit.id,
        "kind": commit.kind,
        "type": commit.type,
        "name": commit.name,
        "contract_id": commit.contract_id,
        "priority": commit.priority,
        "currency": commit.currency,
        "status": commit.status(now, invoice_status),
        "balance": exported_balance(ledger, now, invoice_status),
        "balance_as_of": now,
        "segments": [
            {
                "id": segment.id,
                "amount": segment.amount,
                "starting_at": segment.starting_at,
                "ending_before": segment.ending_before,
            }
            for segment in commit.segments
        ],
        "applicable_product_ids": list(commit.applicable_product_ids),
        "custom_fields": sorted(commit.custom_fields.items()),
        "uniqueness_key": commit.uniqueness_key,
        "invoice_id": commit.invoice_id,
        "recurring_commit_id": commit.recurring_commit_id,
        "created_at": commit.created_at,
    }


def rows_of(ledger: CommitLedger, now: datetime, statuses: Mapping[str, str]) -> dict[ExportTableName, dict[str, Any]]:
    """The ledger's row in each table; `statuses` holds the stored status of invoices commits name."""
    invoice_id = ledger.commit.invoice_id
    status = None if invoice_id is None else statuses.get(invoice_id)
    return {"commits": commit_row(ledger, now, status), "balances": balance_row(ledger, now, status)}
