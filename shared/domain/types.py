"""Annotated field types shared by every model, each carrying its bound (docs/bounds.md).

Every model — events, request bodies, what the store reads back — uses these, so a value outside a
bound is a validation error naming its field, never something stored and failing later:

- `Timestamp`: RFC 3339 with an offset, 1970-01-01T00:00:00Z to 9999-12-30T00:00:00Z in UTC;
- `DecimalString`: plain `-?digits[.digits]`, at most 30 significant digits; `NonNegativeDecimal` ≥ 0;
- `BoundedInt`: a JSON integer 0 ≤ n < 2^53 (what every JSON parser holds exactly);
- `Identifier`: 1 to 256 characters of printable Unicode;
- `Name`: not blank, no control characters.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SerializationInfo,
    StrictInt,
    WithJsonSchema,
)

from shared.domain.money import check_currency, parse_decimal, plain_text
from shared.domain.timestamps import format_precise_timestamp, format_timestamp, in_range, parse_rfc3339

# Serialization context for storage: timestamps keep their fractions (the API shows whole seconds).
STORAGE: dict[str, bool] = {"precise_timestamps": True}

# For module-level TypeAdapters: their validators are built on first use, not at import, so a
# Lambda's cold start pays only for the types its first request touches (models do the same
# with `defer_build=True` in their model_config).
DEFERRED = ConfigDict(defer_build=True)

MAX_SAFE_INTEGER = 2**53  # exclusive: the integers a double (JavaScript, many JSON parsers) holds exactly
MAX_ID_LENGTH = 256


def _decimal_from_string(value: object) -> Decimal:
    if isinstance(value, Decimal):  # already parsed (a model rebuilt from a stored one)
        return value
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError('must be a decimal string such as "12.34", not a JSON number')
    return parse_decimal(value)


def _not_negative(value: Decimal) -> Decimal:
    if value < 0:
        raise ValueError("must not be negative")
    return value


def _timestamp(value: object) -> datetime:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return in_range(value)
    return parse_rfc3339(value)


def _timestamp_text(value: datetime, info: SerializationInfo) -> str:
    context = info.context if isinstance(info.context, dict) else {}
    return format_precise_timestamp(value) if context.get("precise_timestamps") else format_timestamp(value)


# Not printable whatever the font: controls (C0, DEL, C1), surrogates (half of a UTF-16 pair,
# which UTF-8 cannot carry), line and paragraph separators. Unassigned code points are allowed:
# they may be characters of a newer Unicode than this Python knows.
_UNPRINTABLE_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})


def _is_noncharacter(char: str) -> bool:
    code = ord(char)
    return 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE


def _printable_id(value: str) -> str:
    if value.isascii() and value.isprintable():  # the common case, checked in C: no Cc in it
        return value
    for position, char in enumerate(value):
        if unicodedata.category(char) in _UNPRINTABLE_CATEGORIES or _is_noncharacter(char):
            raise ValueError(f"must be printable text: character {position + 1} is U+{ord(char):04X}")
    return value


def visible_name(value: str) -> str:
    """Not blank once whitespace and format characters (Cf) are removed; no control character (Cc)."""
    if value.isascii() and value.isprintable() and value.strip(" "):  # ASCII has no Cf, and no Cc here
        return value
    for position, char in enumerate(value):
        category = unicodedata.category(char)
        if category in {"Cc", "Cs"}:
            raise ValueError(f"must not hold control characters: character {position + 1} is U+{ord(char):04X}")
    if all(char.isspace() or unicodedata.category(char) == "Cf" for char in value):
        raise ValueError("must not be blank")
    return value


DecimalString = Annotated[
    Decimal,
    BeforeValidator(_decimal_from_string),
    PlainSerializer(plain_text, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^-?[0-9]+(\.[0-9]+)?$",
            "description": "plain decimal, at most 30 significant digits",
        }
    ),
]
NonNegativeDecimal = Annotated[
    DecimalString,
    AfterValidator(_not_negative),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^[0-9]+(\.[0-9]+)?$",
            "description": "plain decimal ≥ 0, at most 30 significant digits",
        }
    ),
]
Timestamp = Annotated[
    datetime,
    BeforeValidator(_timestamp),
    PlainSerializer(_timestamp_text, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "description": "RFC 3339 with an offset, 1970-01-01T00:00:00Z to 9999-12-30T00:00:00Z once in UTC",
        }
    ),
]
BoundedInt = Annotated[StrictInt, Field(ge=0, lt=MAX_SAFE_INTEGER)]
# A currency of the one currency table (shared/domain/money.py).
CurrencyCode = Annotated[str, AfterValidator(check_currency)]
# The same in a request body, with the bounds its OpenAPI schema shows.
RequestCurrency = Annotated[CurrencyCode, Field(min_length=1, max_length=16)]
Identifier = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH), AfterValidator(_printable_id)]
Name = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH), AfterValidator(visible_name)]
CustomFields = dict[Annotated[str, Field(min_length=1, max_length=256)], str]


@dataclass(frozen=True)
class ClaimCheckLocation:
    bucket: str
    key: str

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


# S3's bucket naming rules (3-63 characters: lowercase letters, digits, dots, hyphens; a letter or
# digit at each end); keys are 1-1024 bytes of UTF-8, and ours hold no control characters (nor
# lone surrogates, which have no UTF-8 form).
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_CONTROL = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")
MAX_KEY_BYTES = 1024


def parse_claim_check_uri(value: str) -> ClaimCheckLocation:
    """`s3://bucket/key` → its bucket and key; ValueError saying what is wrong otherwise."""
    if not value.startswith("s3://"):
        raise ValueError("must be an S3 URI, s3://bucket/key")
    bucket, _, key = value[len("s3://") :].partition("/")
    if not _BUCKET.fullmatch(bucket):
        raise ValueError(f"{bucket[:70]!r} is not an S3 bucket name (s3://bucket/key)")
    if not key:
        raise ValueError("names no object: s3://bucket/key")
    if _CONTROL.search(key) or len(key.encode()) > MAX_KEY_BYTES:
        raise ValueError(f"the object key must be 1-{MAX_KEY_BYTES} bytes of UTF-8 without control characters")
    return ClaimCheckLocation(bucket, key)


def _claim_check_uri(value: str) -> str:
    parse_claim_check_uri(value)
    return value


# Where an invoice's line items are when they are too large for the event (a claim check).
ClaimCheckUri = Annotated[str, AfterValidator(_claim_check_uri)]
