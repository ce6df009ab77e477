"""An invoice version's breakdown entries, written beside its line chunks when it is stored.

An invoice whose lines are kept in chunk items (`invoice_lines`) and that has buckets gets, for
each window size, every entry of all time computed and written as the API answers it:

    INVOICE#<id> / WINDOWS#<version:016d>#<digest>#H#<n:04d>   every HOUR entry
    INVOICE#<id> / WINDOWS#<version:016d>#<digest>#D#<n:04d>   every DAY entry

Each stream is zlib-compressed text cut into chunks: a first line of JSON (the invoice's customer,
where the customer's invoice list goes on after it, each entry's window start in epoch seconds and
its weight), then each entry's JSON on a line of its own (JSON never holds a raw newline). The
chunks share the lines' key, so they share their lifetime: the head names them (`hour_chunks`,
`day_chunks`), they are written before it, and a day after a newer head replaces them they expire.
A breakdowns page whose range is aligned to its windows answers them without reading a bucket
(docs/breakdowns.md, "Windows stored with the invoice").

A stream whose entries would pass `WINDOW_TEXT_MAX_BYTES` is not written (the head says 0): those
pages are computed from the buckets, as for any invoice whose windows were not stored.
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass

from shared.domain.breakdown_json import written
from shared.domain.breakdowns import WINDOW_SIZES, InvoiceUsage, StoredWindows, WindowSize, every_window
from shared.domain.invoice import Invoice

WINDOW_STREAMS: dict[WindowSize, str] = {"HOUR": "H", "DAY": "D"}
WINDOW_TEXT_MAX_BYTES = 32_000_000  # of one stream's entries, before compression (≈ 3 MB in chunks)
_REF = re.compile(r"([0-9]{16}#[0-9a-f]{16})#([0-9]{1,4})#([0-9]{1,4})")


@dataclass(frozen=True)
class EncodedWindows:
    text: dict[str, bytes]  # stream → its text (empty: not written), what the chunks' digest covers
    compressed: dict[str, bytes]


def encode_windows(invoice: Invoice, after: str) -> EncodedWindows:
    usage = InvoiceUsage.of(invoice)
    text: dict[str, bytes] = {}
    for size in WINDOW_SIZES:
        windows = every_window(usage, size)
        entries, weights = written(windows)
        header = {
            "customer_id": invoice.customer_id,
            "after": after,
            "starts": [int(window.breakdown_start_timestamp.timestamp()) for window in windows],
            "weights": weights,
        }
        lines = [json.dumps(header, separators=(",", ":")), *entries]
        encoded = "\n".join(lines).encode()
        text[WINDOW_STREAMS[size]] = encoded if len(encoded) <= WINDOW_TEXT_MAX_BYTES else b""
    return EncodedWindows(text, {stream: zlib.compress(data) for stream, data in text.items() if data})


def windows_ref(lines_key: str, hour_chunks: int, day_chunks: int) -> str | None:
    """What a list item carries of the windows its head names (None: none were written)."""
    return f"{lines_key}#{hour_chunks}#{day_chunks}" if hour_chunks or day_chunks else None


def parse_ref(ref: str, size: WindowSize) -> tuple[str, int] | None:
    """The lines key and the chunk count of `size`'s stream in `ref` (None: not one of ours, or
    that stream was not written)."""
    found = _REF.fullmatch(ref)
    if found is None:
        return None
    count = int(found.group(2) if size == "HOUR" else found.group(3))
    return (found.group(1), count) if count else None


def stored_windows(data: bytes) -> StoredWindows | None:
    """The entries from a stream's decompressed text; None when it is not what this module writes."""
    try:
        head, *entries = data.decode().split("\n")
        header = json.loads(head)
        weights = header["weights"]
        if len(weights) != len(entries) or len(header["starts"]) != len(entries):
            return None
        return StoredWindows(str(header["customer_id"]), header["starts"], entries, weights, str(header["after"]))
    except (KeyError, TypeError, ValueError):
        return None
