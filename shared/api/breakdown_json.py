"""A page of breakdowns written as JSON directly: the bytes Powertools wrote from the route's
pydantic response model (`BreakdownPage`, which still declares the answer in the OpenAPI
document), at a fraction of the cost. A page is up to 100 windows of many lines; building a model
per window and line and serializing it was most of a request once the entries were computed.

What the model wrote, and so what this writes: keys in the model's order, no spaces, strings as
`json.dumps` writes them (non-ASCII escaped), amounts as plain decimals (`total` and `subtotal` with
at least the currency's minor units, never rounded), window bounds as `YYYY-MM-DDTHH:MM:SSZ`.
tests/unit/test_breakdowns_bytes.py holds the digests of what the model answered.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii as _string  # what json.dumps writes for a str

from shared.api.schemas import at_least_minor_units
from shared.domain.breakdowns import Breakdown


def page_json(entries: Sequence[Breakdown], next_page: str | None) -> str:
    cursor = "null" if next_page is None else _string(next_page)
    heads: dict[tuple[str, str, str | None], str] = {}  # a line's id, name and product, written once a page
    return '{"data":[' + ",".join(entry_json(entry, heads) for entry in entries) + '],"next_page":' + cursor + "}"


def entry_json(entry: Breakdown, heads: dict[tuple[str, str, str | None], str] | None = None) -> str:
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
