"""The ExportBucket port (`shared.ports.exports`) on S3, with the tables as Parquet (pyarrow).

Only the data_export function imports this module: pyarrow is ~150 MB and ships in that
function's own artifact (functions/data_export/requirements.txt), not in the shared layer.

- Rows are buffered `rows_per_group` at a time and written as one Parquet row group to a local
  file (Lambda's /tmp); a file is stored (PutObject) and removed once it holds `rows_per_file`
  rows, so memory holds one row group and the disk one file, whatever the table's size.
- Money is `decimal128(38, 3)`: exact, and 3 is the most minor units any currency of
  `shared.domain.money` has (USD 170.00 is 170.000; JPY 12345 is 12345.000).
- A table's schema is stored beside its files (`_schema.json`) and is in every file's footer,
  each column with its description (`docs/export.md` shows both).
- The switch is one PutObject of the date's manifest; Athena's symlink manifests (one per table)
  are written just before it, from the same list of files.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from shared.adapters.aws_errors import with_mapped_errors
from shared.domain.data_export import (
    SUPERSEDED_TAG,
    TABLES,
    ExportedFile,
    ExportedTable,
    ExportManifest,
    ExportTableName,
    athena_manifest_key,
    data_key,
    date_prefix,
    manifest_key,
    schema_key,
)
from shared.domain.money import CURRENCY_MINOR_UNITS
from shared.ports.errors import PermanentError

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

MONEY_SCALE = max(CURRENCY_MINOR_UNITS.values())
MONEY = pa.decimal128(38, MONEY_SCALE)
MOMENT = pa.timestamp("us", tz="UTC")
ROWS_PER_GROUP = 10_000
ROWS_PER_FILE = 1_000_000
PARQUET_CONTENT_TYPE = "application/vnd.apache.parquet"


def _column(name: str, kind: pa.DataType, description: str, *, nullable: bool = False) -> pa.Field:
    return pa.field(name, kind, nullable=nullable, metadata={"description": description})


_SEGMENT = pa.struct(
    [
        _column("id", pa.string(), "the segment's id"),
        _column("amount", MONEY, "its grant"),
        _column("starting_at", MOMENT, "usable from (inclusive)"),
        _column("ending_before", MOMENT, "usable until (exclusive)"),
    ]
)
_BALANCE = "the balance at balance_as_of: Σ of the segments active then, each max(0, Σ of its entries), as customerBalances/list shows it"  # noqa: E501
_AS_OF = "the export's moment, at which balance and status are computed"
SCHEMAS: dict[ExportTableName, pa.Schema] = {
    "commits": pa.schema(
        [
            _column("customer_id", pa.string(), "the customer"),
            _column("id", pa.string(), "the commit's or credit's id"),
            _column("kind", pa.string(), "commit or credit"),
            _column("type", pa.string(), "PREPAID or POSTPAID (commits); null for credits", nullable=True),
            _column("name", pa.string(), "its name"),
            _column("contract_id", pa.string(), "its contract, if any", nullable=True),
            _column("priority", pa.int64(), "its priority, if any", nullable=True),
            _column("currency", pa.string(), "ISO 4217 code"),
            _column("status", pa.string(), "active, upcoming, expired, pending or voided at balance_as_of"),
            _column("balance", MONEY, _BALANCE),
            _column("balance_as_of", MOMENT, _AS_OF),
            _column("segments", pa.list_(pa.field("segment", _SEGMENT, nullable=False)), "its access schedule"),
            _column("applicable_product_ids", pa.list_(pa.field("id", pa.string(), nullable=False)), "product ids"),
            _column("custom_fields", pa.map_(pa.string(), pa.string()), "its custom fields"),
            _column("uniqueness_key", pa.string(), "its uniqueness key, if any", nullable=True),
            _column("invoice_id", pa.string(), "the downbeat invoice that bills it, if any", nullable=True),
            _column("recurring_commit_id", pa.string(), "the recurring item that generated it, if any", nullable=True),
            _column("created_at", MOMENT, "when it was created"),
        ]
    ),
    "balances": pa.schema(
        [
            _column("customer_id", pa.string(), "the customer"),
            _column("id", pa.string(), "the commit's or credit's id"),
            _column("type", pa.string(), "commit or credit"),
            _column("name", pa.string(), "its name"),
            _column("currency", pa.string(), "ISO 4217 code"),
            _column("contract_id", pa.string(), "its contract, if any", nullable=True),
            _column("status", pa.string(), "active, upcoming, expired, pending or voided at balance_as_of"),
            _column("balance", MONEY, _BALANCE),
            _column("balance_as_of", MOMENT, _AS_OF),
        ]
    ),
}


def schema_document(table: ExportTableName) -> dict[str, Any]:
    """The table's schema as JSON: each column's name, Arrow type, nullability and description."""
    return {
        "table": table,
        "format": "parquet",
        "columns": [
            {
                "name": field.name,
                "type": str(field.type),
                "nullable": field.nullable,
                "description": (field.metadata or {}).get(b"description", b"").decode(),
            }
            for field in SCHEMAS[table]
        ],
    }


class _Bucket:
    """The bucket's calls, with its owner checked on each (S3 refuses them if it changed hands)."""

    def __init__(self, client: S3Client, bucket: str, owner: str | None) -> None:
        self._client = with_mapped_errors(client, service="S3", resource=f"export bucket {bucket}")
        self.name = bucket
        self._owner: Any = {"ExpectedBucketOwner": owner} if owner else {}

    def put(self, key: str, body: Any, content_type: str) -> None:
        self._client.put_object(Bucket=self.name, Key=key, Body=body, ContentType=content_type, **self._owner)

    def get(self, key: str) -> bytes | None:
        try:
            response = self._client.get_object(Bucket=self.name, Key=key, **self._owner)
        except PermanentError as error:
            if error.code in {"NoSuchKey", "404"}:
                return None
            raise
        try:
            data: bytes = response["Body"].read()
        finally:
            response["Body"].close()
        return data

    def keys(self, prefix: str) -> Iterator[str]:
        request: dict[str, Any] = {"Bucket": self.name, "Prefix": prefix, **self._owner}
        while True:
            response = self._client.list_objects_v2(**request)
            for entry in response.get("Contents", []):
                yield entry["Key"]
            if not response.get("IsTruncated"):
                return
            request["ContinuationToken"] = response["NextContinuationToken"]

    def tag(self, key: str, tag: tuple[str, str]) -> None:
        tagging: Any = {"TagSet": [{"Key": tag[0], "Value": tag[1]}]}
        self._client.put_object_tagging(Bucket=self.name, Key=key, Tagging=tagging, **self._owner)


class ParquetTableWriter:
    """One table of one run: row groups to a local file, each full file stored and removed."""

    def __init__(
        self,
        bucket: _Bucket,
        table: ExportTableName,
        export_date: date,
        run_id: str,
        *,
        scratch: Path,
        rows_per_group: int = ROWS_PER_GROUP,
        rows_per_file: int = ROWS_PER_FILE,
    ) -> None:
        self._bucket = bucket
        self._table, self._date, self._run = table, export_date, run_id
        self._schema = SCHEMAS[table]
        self._scratch = scratch
        self._rows_per_group, self._rows_per_file = rows_per_group, rows_per_file
        self._rows: list[Mapping[str, Any]] = []
        self._files: list[ExportedFile] = []
        self._writer: pq.ParquetWriter | None = None
        self._path: Path | None = None
        self._file_rows = 0

    def add(self, row: Mapping[str, Any]) -> None:
        self._rows.append(row)
        if len(self._rows) >= self._rows_per_group:
            self._write_group()

    def close(self) -> ExportedTable:
        self._write_group()
        if self._writer is not None or not self._files:  # an empty table still has a file (and its schema)
            self._store_file()
        key = schema_key(self._table, self._date, self._run)
        self._bucket.put(key, json.dumps(schema_document(self._table), indent=2).encode(), "application/json")
        return ExportedTable(rows=sum(f.rows for f in self._files), schema_key=key, files=list(self._files))

    def discard(self) -> None:
        self._rows.clear()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._path is not None:
            self._path.unlink(missing_ok=True)
            self._path = None

    def _open(self) -> pq.ParquetWriter:
        if self._writer is None:
            handle, name = tempfile.mkstemp(prefix=f"{self._table}-", suffix=".parquet", dir=self._scratch)
            os.close(handle)
            self._path = Path(name)
            self._writer = pq.ParquetWriter(str(self._path), self._schema, compression="snappy")
            self._file_rows = 0
        return self._writer

    def _write_group(self) -> None:
        if not self._rows:
            return
        writer = self._open()
        writer.write_batch(pa.RecordBatch.from_pylist(self._rows, schema=self._schema))
        self._file_rows += len(self._rows)
        self._rows.clear()
        if self._file_rows >= self._rows_per_file:
            self._store_file()

    def _store_file(self) -> None:
        self._open().close()
        path = self._path
        assert path is not None
        key = data_key(self._table, self._date, self._run, len(self._files))
        try:
            with path.open("rb") as body:
                self._bucket.put(key, body, PARQUET_CONTENT_TYPE)
            self._files.append(ExportedFile(key=key, rows=self._file_rows, bytes=path.stat().st_size))
        finally:
            path.unlink(missing_ok=True)
            self._writer, self._path, self._file_rows = None, None, 0


class S3ExportBucket:
    def __init__(
        self,
        client: S3Client,
        bucket: str,
        *,
        expected_owner: str | None = None,
        scratch: Path | None = None,
        rows_per_group: int = ROWS_PER_GROUP,
        rows_per_file: int = ROWS_PER_FILE,
    ) -> None:
        self._bucket = _Bucket(client, bucket, expected_owner)
        self._scratch = scratch or Path(tempfile.gettempdir())
        self._rows_per_group, self._rows_per_file = rows_per_group, rows_per_file

    @property
    def name(self) -> str:
        return self._bucket.name

    def open_table(self, table: ExportTableName, export_date: date, run_id: str) -> ParquetTableWriter:
        return ParquetTableWriter(
            self._bucket,
            table,
            export_date,
            run_id,
            scratch=self._scratch,
            rows_per_group=self._rows_per_group,
            rows_per_file=self._rows_per_file,
        )

    def read_manifest(self, export_date: date) -> ExportManifest | None:
        data = self._bucket.get(manifest_key(export_date))
        return None if data is None else ExportManifest.model_validate_json(data)

    def switch_manifest(self, manifest: ExportManifest) -> None:
        for name, table in manifest.tables.items():
            listing = "".join(f"s3://{self._bucket.name}/{file.key}\n" for file in table.files)
            self._bucket.put(athena_manifest_key(name, manifest.export_date), listing.encode(), "text/plain")
        self._bucket.put(
            manifest_key(manifest.export_date), manifest.model_dump_json(indent=2).encode(), "application/json"
        )

    def retire_other_runs(self, manifest: ExportManifest) -> int:
        keep = manifest.object_keys()
        retired = 0
        for table in TABLES:
            for key in self._bucket.keys(date_prefix(table, manifest.export_date)):
                if key not in keep:
                    self._bucket.tag(key, SUPERSEDED_TAG)
                    retired += 1
        return retired
