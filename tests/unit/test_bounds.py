"""The bounds of every field type (docs/bounds.md), one regression test per class of bad input."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from shared.domain.money import parse_decimal, round_to_currency, to_minor_units
from shared.domain.paging import InvalidCursor, decode_cursor, encode_cursor
from shared.domain.providers import AwsMarketplaceConfiguration, StripeConfiguration
from shared.domain.stripe_amounts import stripe_amount
from shared.domain.timestamps import format_timestamp, parse_rfc3339, parse_timestamp_or_date
from shared.domain.types import BoundedInt, DecimalString, Identifier, Name, NonNegativeDecimal, Timestamp
from shared.domain.validation import clipped, first_unknown, lone_surrogate, too_deep


def _nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


# -- timestamps -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("1970-01-01T00:00:00Z", datetime(1970, 1, 1, tzinfo=UTC)),
        ("1970-01-01T01:00:00+01:00", datetime(1970, 1, 1, tzinfo=UTC)),
        ("9999-12-30T00:00:00Z", datetime(9999, 12, 30, tzinfo=UTC)),
        ("9999-12-29T19:00:00-05:00", datetime(9999, 12, 30, tzinfo=UTC)),
        ("2025-03-01t00:00:00z", datetime(2025, 3, 1, tzinfo=UTC)),
    ],
)
def test_timestamps_at_the_edges_of_the_range_are_accepted(text: str, utc: datetime) -> None:
    assert parse_rfc3339(text) == utc


@pytest.mark.parametrize(
    "text",
    [
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59-05:00",  # year 10000 once in UTC: overflowed before
        "0001-01-01T00:00:00+01:00",  # year 0 once in UTC
        "1969-12-31T23:59:59.999999Z",
        "1970-01-01T00:30:00+01:00",
        "9999-12-30T00:00:00.000001Z",
        "9999-12-31T00:00:00Z",
        "\u0662\u0660\u0662\u0665-03-01T00:00:00Z",  # Arabic-Indic digits
        "2025-03-01T00:00:00Z\n",
        "2025-03-01T00:00:00",
        "2025-03-01T00:00:00+24:00",
    ],
)
def test_timestamps_outside_the_range_or_the_format_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"1970-01-01T00:00:00Z and 9999-12-30|RFC 3339|valid date-time"):
        parse_rfc3339(text)


@pytest.mark.parametrize("text", ["0001-01-01", "1969-12-31", "9999-12-31", "0001-01-01T00:00:00Z", "2025-02-30"])
def test_date_filters_have_the_same_range(text: str) -> None:
    with pytest.raises(ValueError, match=r"1970-01-01T00:00:00Z and 9999-12-30|valid date"):
        parse_timestamp_or_date(text)
    assert parse_timestamp_or_date("9999-12-30") == datetime(9999, 12, 30, tzinfo=UTC)


def test_the_timestamp_type_bounds_datetimes_too_and_formats_four_digit_years() -> None:
    adapter: TypeAdapter[datetime] = TypeAdapter(Timestamp)
    with pytest.raises(ValidationError):
        adapter.validate_python(datetime(1969, 12, 31, tzinfo=UTC))
    earliest = adapter.validate_python("1970-01-01T00:00:00Z")
    assert format_timestamp(earliest) == "1970-01-01T00:00:00Z"
    latest = adapter.validate_python("9999-12-30T00:00:00Z")
    assert latest + timedelta(days=1) > latest  # a day of room: window arithmetic cannot overflow


# -- integers -------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [-1, 2**53, 10**40, True, 1.0, "7", None])
def test_integers_are_json_integers_from_0_below_2_to_the_53(value: object) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(BoundedInt).validate_python(value)
    assert TypeAdapter(BoundedInt).validate_json(str(2**53 - 1)) == 2**53 - 1


# -- decimals -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("1_234.56", "no _ separators"),
        ("1e5", "no exponent"),
        ("1.5E-3", "no exponent"),
        ("NaN", "not a finite number"),
        ("Infinity", "not a finite number"),
        ("\u0661\u0662\u0663", "ASCII digits"),
        ("+1", "only an optional minus"),
        (".5", "only an optional minus"),
        ("5.", "only an optional minus"),
        (" 1", "surrounding spaces"),
        ("1" * 31, "more than 30 significant digits"),
        ("0." + "1" * 31, "more than 30 significant digits"),
    ],
)
def test_decimals_are_plain_with_at_most_30_significant_digits(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_decimal(text)


def test_an_accepted_decimal_is_written_back_as_it_can_be_read() -> None:
    adapter: TypeAdapter[Decimal] = TypeAdapter(DecimalString)
    for text in ["0.0000001", "0." + "0" * 40 + "1", "-0.00", "1530.0045", "9" * 30]:
        written = json.loads(adapter.dump_json(adapter.validate_python(text)))
        assert written == text  # str(Decimal("0.0000001")) is "1E-7", which no reader accepts
        assert adapter.validate_python(written) == Decimal(text)


def test_totals_are_not_negative() -> None:
    with pytest.raises(ValidationError, match="must not be negative"):
        TypeAdapter(NonNegativeDecimal).validate_python("-0.01")
    assert TypeAdapter(NonNegativeDecimal).validate_python("0") == 0


def test_thirty_digit_amounts_round_and_convert_exactly() -> None:
    amount = parse_decimal("9" * 28 + ".99")  # 30 digits: 28 in the thread's default context
    assert round_to_currency(amount, "KWD") == amount
    assert to_minor_units(amount, "USD") == int("9" * 30)
    assert stripe_amount(parse_decimal("9" * 30), "USD") == int("9" * 30 + "00")


# -- ids and names --------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["inv_1", "a" * 256, "facture n° 7", "請求書", "\U0001f9fe receipt", "a b", "\u00ad"])
def test_ids_are_1_to_256_printable_characters(text: str) -> None:
    assert TypeAdapter(Identifier).validate_python(text) == text


@pytest.mark.parametrize("text", ["", "a" * 257, "inv\x00", "inv\n1", "\x7f", "\x85", "inv\u2028", "\ud800", "\ufffe"])
def test_ids_with_control_characters_or_out_of_length_are_refused(text: str) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(Identifier).validate_python(text)


@pytest.mark.parametrize("text", ["", " ", "\u3000 \u00a0", "\u200b", "\u00ad\u200b\u3000", "\ufeff"])
def test_blank_names_are_refused(text: str) -> None:
    with pytest.raises(ValidationError, match=r"must not be blank|at least 1 character"):
        TypeAdapter(Name).validate_python(text)


@pytest.mark.parametrize("text", ["a\x00b", "line\nbreak", "bell\x07", "\x9b"])
def test_names_with_control_characters_are_refused(text: str) -> None:
    with pytest.raises(ValidationError, match="control characters"):
        TypeAdapter(Name).validate_python(text)
    assert TypeAdapter(Name).validate_python(" Ünïcødé 名前 \u200d") == " Ünïcødé 名前 \u200d"


# -- provider identifiers -------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["nope", "cus_", "cus_ab-c", "cus_ab\n", "CUS_abc", "cus_\u0661"])
def test_stripe_customer_ids_have_stripes_shape(value: str) -> None:
    with pytest.raises(ValidationError):
        StripeConfiguration(stripe_customer_id=value)
    assert StripeConfiguration(stripe_customer_id="cus_N1a_2").stripe_customer_id == "cus_N1a_2"


@pytest.mark.parametrize(
    "value", ["\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669\u0660\u0661\u0662", "12345678901", "12345678901a"]
)
def test_aws_account_ids_are_12_ascii_digits(value: str) -> None:
    with pytest.raises(ValidationError):
        AwsMarketplaceConfiguration.model_validate(
            {
                "aws_product_code": "p",
                "aws_region": "us-east-1",
                "aws_customer_account_id": value,
                "aws_license_arn": "a",
            }
        )


@pytest.mark.parametrize("zone", ["a" * 300, "America", "../etc", "UTC\n"])
def test_time_zone_keys_that_are_no_zone_are_refused_by_field(zone: str) -> None:
    with pytest.raises(ValidationError, match="is not an IANA time zone"):
        StripeConfiguration(stripe_customer_id="cus_1", invoice_date_timezone=zone)  # "a" * 300 raised OSError


def test_days_until_due_is_bounded() -> None:
    with pytest.raises(ValidationError):
        StripeConfiguration.model_validate({"stripe_customer_id": "cus_1", "days_until_due": 10**40})


# -- JSON shape -----------------------------------------------------------------------------------
def test_depth_is_measured_without_recursion_on_any_input() -> None:
    assert too_deep({"a": [{"b": _nested(61)}]}) is None  # 64 levels: an object, an array, an object, 61 arrays
    assert too_deep({"a": [{"b": _nested(62)}]}) == ("a", "0", "b", *["0"] * 61)
    assert too_deep({"a": _nested(200_000)}) is not None
    assert lone_surrogate({"a": _nested(200_000)}) is None
    assert lone_surrogate({"a": [{"b": "\udc00"}]}) == ("a", "0", "b")


def test_clipped_values_serialize_whatever_their_depth() -> None:
    text = json.dumps(clipped({"detail": {"x": _nested(100_000)}}))
    assert "nested deeper than 64 levels" in text
    assert clipped({"a": [1, {"b": "c"}]}) == {"a": [1, {"b": "c"}]}


def test_first_unknown_names_the_ignored_key_that_holds_the_depth() -> None:
    known = {"detail": {"id": "inv_1", "line_items": [{"id": "li_1"}]}}
    assert first_unknown(("detail", "meta", "0", "0"), known) == ("detail", "meta")
    assert first_unknown(("detail", "line_items", "0", "extra", "0"), known) == ("detail", "line_items", "0", "extra")


def test_a_cursor_of_nested_brackets_is_an_invalid_cursor() -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor("W1tb" * 500)  # base64 of 1500 "[": the JSON parser's recursion limit
    assert decode_cursor(encode_cursor({"a": 1})) == {"a": 1}
