"""Annotated field types shared by every model: strict decimals, RFC 3339 timestamps, ids."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer, SerializationInfo, StringConstraints

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
