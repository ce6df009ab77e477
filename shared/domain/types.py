"""Annotated field types shared by every model: strict decimals, RFC 3339 timestamps, ids."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, PlainSerializer, SerializationInfo, StringConstraints

from shared.domain.money import parse_decimal
from shared.domain.timestamps import format_precise_timestamp, format_timestamp, parse_rfc3339

# Serialization context for storage: timestamps keep their fractions (the API shows whole seconds).
STORAGE: dict[str, bool] = {"precise_timestamps": True}


def _decimal_from_string(value: object) -> Decimal:
    if isinstance(value, Decimal):  # already parsed (a model rebuilt from a stored one)
        return value
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError('must be a decimal string such as "12.34", not a JSON number')
    return parse_decimal(value)


def _timestamp(value: object) -> datetime:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value
    return parse_rfc3339(value)


DecimalString = Annotated[Decimal, BeforeValidator(_decimal_from_string), PlainSerializer(str, return_type=str)]


def _timestamp_text(value: datetime, info: SerializationInfo) -> str:
    context = info.context if isinstance(info.context, dict) else {}
    return format_precise_timestamp(value) if context.get("precise_timestamps") else format_timestamp(value)


Timestamp = Annotated[datetime, BeforeValidator(_timestamp), PlainSerializer(_timestamp_text, return_type=str)]
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=256)]
CustomFields = dict[Annotated[str, StringConstraints(min_length=1, max_length=256)], str]


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
