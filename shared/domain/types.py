"""Annotated field types shared by every model: strict decimals, RFC 3339 timestamps, ids."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer, StringConstraints

from shared.domain.money import parse_decimal
from shared.domain.timestamps import format_timestamp, parse_rfc3339


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
Timestamp = Annotated[datetime, BeforeValidator(_timestamp), PlainSerializer(format_timestamp, return_type=str)]
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=256)]
CustomFields = dict[Annotated[str, StringConstraints(min_length=1, max_length=256)], str]
