"""Breakdown entries written as JSON directly: the bytes Powertools wrote from the API route's
pydantic response model (`BreakdownPage`, which still declares the answer in the OpenAPI
document), at a fraction of the cost. A page is up to 100 windows of many lines; building a model
per window and line and serializing it was most of a request once the entries were computed. An
invoice version's entries are also written out when the version is stored (`StoredWindows`), with
this writer, so a page of them is their JSON joined.

What the model wrote, and so what this writes: keys in the model's order, no spaces, strings as
`json.dumps` writes them (non-ASCII escaped), amounts as plain decimals (`total` and `subtotal` with
at least the currency's minor units, never rounded), window bounds as `YYYY-MM-DDTHH:MM:SSZ`.
tests/unit/test_breakdowns_bytes.py holds the digests of what the model answered.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from json.encoder import encode_basestring_ascii as _string  # what json.dumps writes for a str

from shared.domain.breakdowns import Breakdown, BreakdownEntry, BreakdownLine
from shared.domain.money import at_least_minor_units

Heads = dict[tuple[str, str, str | None], str]  # a line's id, name and product, written once


def page_json(entries: Sequence[BreakdownEntry], next_page: str | None) -> str:
    cursor = "null" if next_page is None else _string(next_page)
    heads: Heads = {}
    return (
        '{"data":['
        + ",".join(entry if isinstance(entry, str) else entry_json(entry, heads) for entry in entries)
        + '],"next_page":'
        + cursor
        + "}"
    )


def written(entries: Sequence[Breakdown]) -> tuple[list[str], list[int]]:
    """The entries as `StoredWindows` keeps them: their JSON, and their weights."""
    heads: Heads = {}
    return [entry_json(entry, heads) for entry in entries], [weight(entry) for entry in entries]


def weight(entry: Breakdown) -> int:
    """About what an entry weighs in the answer's JSON, bytes (generous: ids and names at full length)."""
    return 300 + sum(200 + len(line.id) * 6 + len(line.name) * 6 for line in entry.line_items)


def as_breakdown(entry: BreakdownEntry) -> Breakdown:
    """The entry as values (a written one read back from its JSON: amounts as written, equal in value)."""
    if not isinstance(entry, str):
        return entry
    fields = json.loads(entry)
    return Breakdown(
        fields["invoice_id"],
        fields["status"],
        fields["currency"],
        datetime.fromisoformat(fields["breakdown_start_timestamp"]),
        datetime.fromisoformat(fields["breakdown_end_timestamp"]),
        tuple(
            BreakdownLine(
                line["id"], line["name"], line["product_id"], Decimal(line["quantity"]), Decimal(line["total"])
            )
            for line in fields["line_items"]
        ),
    )


def entry_json(entry: Breakdown, heads: Heads | None = None) -> str:
    heads = {} if heads is None else heads
    currency = entry.currency
    lines = []
    for line in entry.line_items:
        names = (line.id, line.name, line.product_id)
        head = heads.get(names)
        if head is None:
            product = "null" if line.product_id is None else _string(line.product_id)
            head = heads[names] = (
                '{"id":' + _string(line.id) + ',"name":' + _string(line.name) + ',"product_id":' + product
            )
        total = format(at_least_minor_units(line.total, currency), "f")
        lines.append(head + ',"quantity":"' + format(line.quantity, "f") + '","total":"' + total + '"}')
    return (
        '{"invoice_id":' + _string(entry.invoice_id)
        + ',"status":' + _string(entry.status)
        + ',"currency":' + _string(currency)
        + ',"breakdown_start_timestamp":"' + _utc_text(entry.breakdown_start_timestamp)
        + '","breakdown_end_timestamp":"' + _utc_text(entry.breakdown_end_timestamp)
        + '","line_items":[' + ",".join(lines)
        + '],"subtotal":"' + format(at_least_minor_units(entry.subtotal, currency), "f") + '"}'
    )  # fmt: skip


def _utc_text(moment: datetime) -> str:
    """`format_timestamp(moment)` (`YYYY-MM-DDTHH:MM:SSZ`, a fraction of a second dropped), through
    `isoformat`, which is several times cheaper than `strftime` (the years are 4 digits either way:
    timestamps are bounded to 1970-9999)."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")[:19] + "Z"


def _line(fields: dict[str, str]) -> BreakdownLine:
    quantity, total = Decimal(fields["quantity"]), Decimal(fields["total"])
    return BreakdownLine(fields["id"], fields["name"], fields["product_id"], quantity, total)
