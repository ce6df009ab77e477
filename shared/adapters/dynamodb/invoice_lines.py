"""An invoice's line items in chunk items, when they are too large for the invoice's own item.

Two streams per stored version, each zlib-compressed JSON cut into chunks of `CHUNK_BYTES`:

    INVOICE#<id> / LINES#<version:016d>#<digest>#L#<n:04d>   the lines without their buckets
    INVOICE#<id> / LINES#<version:016d>#<digest>#B#<n:04d>   each line's buckets, line by line

so readers that need no buckets (the invoice API, the Stripe worker) read and parse a few
kilobytes instead of a month of hourly buckets. The invoice item (the head) names its chunks
(`lines_key` = `<version>#<digest>`, `line_chunks`, `bucket_chunks`) and is written after them,
in its transaction: a reader that sees a head finds its chunks, and a version's chunks never mix
with another's (the digest of the content is in the key, so even two different events with the
same version cannot overwrite each other's chunks). Chunks a newer head replaced are given an
`expires_at` (the table's TTL) a day later, so a reader that just read the old head still finds
them. docs/architecture.md, "Large invoices", has the whole picture. The same key names the
invoice's breakdown windows, written with the lines when it has buckets (`invoice_windows`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import TypeAdapter

from shared.adapters.aws_errors import ConditionFailed
from shared.adapters.dynamodb.invoice_windows import (
    WINDOW_STREAMS,
    encode_windows,
    parse_ref,
    stored_windows,
    windows_ref,
)
from shared.adapters.dynamodb.keys import invoice_lines_key, invoice_list_position, lines_sort_key, windows_sort_key
from shared.adapters.dynamodb.table import Item, TableAccess, from_attributes, to_attributes
from shared.domain.breakdowns import BucketUsage, InvoiceUsage, StoredWindows, WindowSize
from shared.domain.invoice import Invoice, LineItem, UsageBucket
from shared.domain.invoice_listing import without_buckets
from shared.domain.paging import encode_cursor
from shared.domain.types import DEFERRED, STORAGE

# Lines (and buckets) JSON up to this size stay in the invoice's own item, with the rest of it
# (at most MAX_HEAD_BYTES, shared/domain/invoice_storage.py): together well under DynamoDB's 400 KB.
INLINE_LINES_MAX_BYTES = 48_000
CHUNK_BYTES = 300_000  # compressed bytes per chunk item
CHUNKS_PER_BATCH_GET = 16_000_000 // CHUNK_BYTES - 1  # within a BatchGetItem response's 16 MB
WINDOWS_READ_CHUNKS = 16  # the most windows chunks one read takes beyond its first invoice's (~5 MB)
STALE_CHUNKS_TTL_SECONDS = 86_400
LINES, BUCKETS = "L", "B"
_LINES: TypeAdapter[list[LineItem]] = TypeAdapter(list[LineItem], config=DEFERRED)
_BUCKETS: TypeAdapter[list[list[UsageBucket]]] = TypeAdapter(list[list[UsageBucket]], config=DEFERRED)
_Bucket = TypeVar("_Bucket")


@dataclass(frozen=True)
class LineChunks:
    """Where a stored version's chunks are: what its head item records."""

    key: str  # `<version:016d>#<digest>`
    line_chunks: int
    bucket_chunks: int
    hour_chunks: int = 0  # the breakdown windows' streams (0: not written; heads before them have none)
    day_chunks: int = 0

    def attributes(self) -> Item:
        return {
            "lines_key": self.key,
            "line_chunks": self.line_chunks,
            "bucket_chunks": self.bucket_chunks,
            "hour_chunks": self.hour_chunks,
            "day_chunks": self.day_chunks,
        }

    @property
    def windows(self) -> str | None:
        return windows_ref(self.key, self.hour_chunks, self.day_chunks)

    def counts(self) -> dict[str, int]:
        return {
            LINES: self.line_chunks,
            BUCKETS: self.bucket_chunks,
            WINDOW_STREAMS["HOUR"]: self.hour_chunks,
            WINDOW_STREAMS["DAY"]: self.day_chunks,
        }

    def sort_keys(self) -> Iterator[str]:
        for stream, count in self.counts().items():
            for index in range(count):
                yield _sort_key(self.key, stream, index)

    @classmethod
    def of_head(cls, item: Item | None) -> LineChunks | None:
        if item is None or "lines_key" not in item:
            return None
        return cls(
            str(item["lines_key"]),
            int(item["line_chunks"]),
            int(item["bucket_chunks"]),
            int(item.get("hour_chunks", 0)),
            int(item.get("day_chunks", 0)),
        )


def _sort_key(lines_key: str, stream: str, index: int) -> str:
    if stream in (LINES, BUCKETS):
        return lines_sort_key(lines_key, stream, index)
    return windows_sort_key(lines_key, stream, index)


@dataclass(frozen=True)
class EncodedLines:
    chunks: LineChunks
    streams: dict[str, list[bytes]]


def encode_lines(invoice: Invoice) -> EncodedLines | None:
    """The invoice's lines as chunks, or None when they are small enough to stay in its item."""
    lines = _LINES.dump_json(without_buckets(invoice.line_items), context=STORAGE)
    has_buckets = any(line.buckets for line in invoice.line_items)
    buckets = _BUCKETS.dump_json([line.buckets for line in invoice.line_items], context=STORAGE) if has_buckets else b""
    if len(lines) + len(buckets) <= INLINE_LINES_MAX_BYTES:
        return None
    streams = {LINES: _cut(zlib.compress(lines)), BUCKETS: _cut(zlib.compress(buckets)) if has_buckets else []}
    texts = [lines, buckets]
    if has_buckets:
        windows = encode_windows(invoice, encode_cursor(invoice_list_position(invoice)))
        texts += windows.text.values()  # the entries name the invoice's id, status and currency too
        streams |= {stream: _cut(data) for stream, data in windows.compressed.items()}
    digest = hashlib.sha256(b"\n".join(texts)).hexdigest()[:16]
    hour, day = (len(streams.get(WINDOW_STREAMS[size], [])) for size in ("HOUR", "DAY"))
    chunks = LineChunks(f"{invoice.version:016d}#{digest}", len(streams[LINES]), len(streams[BUCKETS]), hour, day)
    return EncodedLines(chunks, streams)


def stored_buckets(data: bytes) -> list[list[UsageBucket]]:
    """Each line's buckets from the bytes `encode_lines` wrote. They were validated when their event
    arrived and are stored under the digest of their content, so they are rebuilt without being
    validated again: a month of hourly buckets is 100k timestamps and amounts, and validating them
    field by field costs several times the read itself."""
    construct, moment = UsageBucket.model_construct, datetime.fromisoformat
    return _stored(
        data,
        lambda bucket: construct(
            starting_at=moment(bucket["starting_at"]),
            ending_before=moment(bucket["ending_before"]),
            quantity=Decimal(bucket["quantity"]),
            total=Decimal(bucket["total"]),
        ),
        lambda bucket: bucket,
    )


def stored_usage(data: bytes) -> list[list[BucketUsage]]:
    """Each line's buckets as (starting_at, quantity, total), from the same bytes: what breakdowns
    need, without a model per bucket (building one costs more than parsing its fields)."""
    moment = datetime.fromisoformat
    return _stored(
        data,
        lambda bucket: (moment(bucket["starting_at"]), Decimal(bucket["quantity"]), Decimal(bucket["total"])),
        lambda bucket: (bucket.starting_at, bucket.quantity, bucket.total),
    )


def _stored(
    data: bytes, trusted: Callable[[dict[str, str]], _Bucket], validated: Callable[[UsageBucket], _Bucket]
) -> list[list[_Bucket]]:
    try:
        return [[trusted(bucket) for bucket in line] for line in json.loads(data)]
    except (KeyError, TypeError, ValueError, ArithmeticError):
        # Not what this module writes (an item edited by hand): the validating path names the field.
        return [[validated(bucket) for bucket in line] for line in _BUCKETS.validate_json(data)]


def _cut(data: bytes) -> list[bytes]:
    return [data[start : start + CHUNK_BYTES] for start in range(0, len(data), CHUNK_BYTES)]


class InvoiceLineChunks(TableAccess):
    def _put_line_chunks(self, invoice_id: str, encoded: EncodedLines) -> None:
        """Write every chunk (before the head that names them). Rewriting the same version and
        content writes the same keys and bytes, so a retry leaves nothing behind."""
        for stream, parts in encoded.streams.items():
            for index, part in enumerate(parts):
                item = {
                    **invoice_lines_key(invoice_id, _sort_key(encoded.chunks.key, stream, index)),
                    "entity": "invoice_lines",
                    "data": part,
                }
                self._client.put_item(TableName=self._table, Item=to_attributes(item))

    def _read_lines(self, invoice_id: str, chunks: LineChunks, *, buckets: bool) -> list[LineItem] | None:
        """The lines the head names (with their buckets, or without), or None if a chunk is
        missing — a head replaced and its chunks expired while this read ran: read the head again."""
        streams = self._read_streams(invoice_id, chunks, buckets=buckets)
        if streams is None:
            return None
        lines = _LINES.validate_json(streams[LINES])
        if not buckets or not chunks.bucket_chunks:
            return lines
        per_line = stored_buckets(streams[BUCKETS])
        return [
            line.model_copy(update={"buckets": line_buckets})
            for line, line_buckets in zip(lines, per_line, strict=True)
        ]

    def _read_usage(self, invoice_id: str, invoice: Invoice, chunks: LineChunks) -> InvoiceUsage | None:
        """`invoice` (its head) with the lines the head names, their buckets as `stored_usage`
        reads them; None if a chunk is missing (as `_read_lines`)."""
        streams = self._read_streams(invoice_id, chunks, buckets=True)
        if streams is None:
            return None
        lines = _LINES.validate_json(streams[LINES])
        buckets = stored_usage(streams[BUCKETS]) if chunks.bucket_chunks else [[] for _ in lines]
        return InvoiceUsage(invoice.model_copy(update={"line_items": lines}), buckets)

    def _read_streams(self, invoice_id: str, chunks: LineChunks, *, buckets: bool) -> dict[str, bytes] | None:
        """The head's streams decompressed (the buckets' only with `buckets`), or None if a chunk is missing."""
        prefix = invoice_lines_key(invoice_id, lines_sort_key(chunks.key, "" if buckets else LINES))
        found: dict[str, list[bytes]] = {LINES: [], BUCKETS: []}
        for item in self._query_prefix(prefix["PK"], prefix["SK"]):
            found[str(item["SK"]).rsplit("#", 2)[-2]].append(bytes(item["data"]))
        if len(found[LINES]) != chunks.line_chunks or (buckets and len(found[BUCKETS]) != chunks.bucket_chunks):
            return None
        return {stream: zlib.decompress(b"".join(parts)) if parts else b"" for stream, parts in found.items()}

    def get_invoice_windows(self, wanted: Sequence[tuple[str, str]], size: WindowSize) -> dict[str, StoredWindows]:
        """The entries of `size` written with each (invoice id, windows) of `wanted`, by invoice id, in
        a batch read of their chunks: the first always, the others while the read stays within
        WINDOWS_READ_CHUNKS chunks. An invoice is left out when its windows were not written, the
        name is not one of ours, or they expired since (a day after a newer version)."""
        parts: dict[str, list[Item]] = {}  # invoice id → its chunks' keys, in order
        chunks_read = 0
        for invoice_id, ref in wanted:
            parsed = parse_ref(ref, size)
            if parsed is not None:
                key, count = parsed
                if parts and chunks_read + count > WINDOWS_READ_CHUNKS:
                    break
                chunks_read += count
                stream = WINDOW_STREAMS[size]
                parts[invoice_id] = [
                    invoice_lines_key(invoice_id, windows_sort_key(key, stream, index)) for index in range(count)
                ]
        read = self._batch_get([key for keys in parts.values() for key in keys], per_request=CHUNKS_PER_BATCH_GET)
        data = {(item["PK"], item["SK"]): bytes(item["data"]) for item in read}
        found: dict[str, StoredWindows] = {}
        for invoice_id, keys in parts.items():
            chunks = [data[key["PK"], key["SK"]] for key in keys if (key["PK"], key["SK"]) in data]
            windows = stored_windows(zlib.decompress(b"".join(chunks))) if len(chunks) == len(keys) else None
            if windows is not None:
                found[invoice_id] = windows
        return found

    def _query_prefix(self, partition: str, sort_prefix: str) -> Iterator[Item]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
            "ExpressionAttributeValues": to_attributes({":pk": partition, ":prefix": sort_prefix}),
            "ConsistentRead": True,
        }
        while True:
            response = self._client.query(**kwargs)
            for raw in response.get("Items", []):
                yield from_attributes(raw)
            last = response.get("LastEvaluatedKey")
            if not last:
                return
            kwargs["ExclusiveStartKey"] = last

    def _expire_line_chunks(self, invoice_id: str, chunks: LineChunks, now: datetime) -> None:
        """Let the table's TTL delete chunks no head names any more, a day from now."""
        expires_at = int(now.timestamp()) + STALE_CHUNKS_TTL_SECONDS
        for sort_key in chunks.sort_keys():
            with contextlib.suppress(ConditionFailed):  # never written (a crash before it): nothing to do
                self._client.update_item(
                    TableName=self._table,
                    Key=to_attributes(invoice_lines_key(invoice_id, sort_key)),
                    UpdateExpression="SET expires_at = :at",
                    ConditionExpression="attribute_exists(PK)",
                    ExpressionAttributeValues=to_attributes({":at": expires_at}),
                )
