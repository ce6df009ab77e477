"""A claim check: an invoice event whose line items are in an S3 object (`detail.line_items_uri`).

The event carries `line_items: []` and `line_items_uri: "s3://bucket/key"`; the object is a JSON
array of line items, exactly what `line_items` would have held. The router reads the object and
validates its lines as it validates inline lines, so the stored invoice is the one the inline
event would have given (its `line_items_uri` is gone: the object expires, the invoice stays).

How a rejection names its field (docs/architecture.md, "Large invoices"):
- the object cannot be used at all (missing, unreadable, another bucket, not JSON, not an array,
  too large) → `detail.line_items_uri`;
- a line in it is invalid → the line's own path, as for an inline line
  (`detail.line_items.3.total`), the reason adding "in the claim check s3://…" — so the same
  mistake has the same field whichever way the lines came.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import TypeAdapter, ValidationError

from shared.domain.invoice import Invoice, InvoiceEvent, LineItem
from shared.domain.types import DEFERRED
from shared.domain.validation import FieldError, first_field_error

URI_FIELD = "detail.line_items_uri"
LINES_FIELD = "detail.line_items"
_LINES: TypeAdapter[list[LineItem]] = TypeAdapter(list[LineItem], config=DEFERRED)


def invoice_with_claimed_lines(event: Mapping[str, Any], document: bytes, uri: str) -> Invoice:
    """The event's invoice with the claim check's lines (`document`, the object's bytes) in place,
    validated as the inline event would be; a FieldError names what is wrong."""
    lines = claimed_lines(document, uri)
    detail = {**event["detail"], "line_items": lines, "line_items_uri": None}
    whole = {**event, "detail": detail}
    try:
        # The lines are models already (pydantic takes them as they are): this checks the invoice
        # rules that look across lines (unique ids, how many) without parsing them again.
        return InvoiceEvent.model_validate(whole).detail
    except ValidationError as error:
        raise _in_claim_check(first_field_error(error, whole), uri) from None


def claimed_lines(document: bytes, uri: str) -> list[LineItem]:
    try:
        # Straight from the bytes: no intermediate Python objects for a month of hourly buckets.
        return _LINES.validate_json(document)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        if first["type"] == "json_invalid":
            raise FieldError(URI_FIELD, f"{uri} is not JSON ({first['msg']})") from None
        if first["loc"] == ():
            raise FieldError(URI_FIELD, f"{uri} must hold a JSON array of line items, not {_kind(document)}") from None
        # Only now parse it as plain JSON: the path of the failing line is walked against it.
        rejection = first_field_error(error, json.loads(document), prefix=f"{LINES_FIELD}.")
        raise _in_claim_check(rejection, uri) from None


def _in_claim_check(rejection: FieldError, uri: str) -> FieldError:
    return FieldError(rejection.field, f"{rejection.message} (in the claim check {uri})")


def _kind(document: bytes) -> str:
    value = json.loads(document)
    if value is None:
        return "null"
    kinds = {dict: "an object", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return kinds.get(type(value), type(value).__name__)
