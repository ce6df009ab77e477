from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.money import (
    CURRENCY_MINOR_UNITS,
    UnsupportedCurrencyError,
    format_amount,
    from_minor_units,
    minor_units,
    parse_decimal,
    round_to_currency,
    to_minor_units,
)

REQUIRED = "USD EUR GBP CAD AUD NZD JPY KRW INR BRL MXN CHF SEK NOK DKK SGD KWD BHD JOD OMR TND".split()  # noqa: SIM905


@pytest.mark.parametrize("currency", REQUIRED)
def test_required_currencies_are_in_the_table(currency: str) -> None:
    assert currency in CURRENCY_MINOR_UNITS


@pytest.mark.parametrize(
    ("currency", "digits"), [("USD", 2), ("EUR", 2), ("JPY", 0), ("KRW", 0), ("KWD", 3), ("BHD", 3), ("TND", 3)]
)
def test_minor_units_follow_iso_4217(currency: str, digits: int) -> None:
    assert minor_units(currency) == digits


def test_unknown_currency_is_named() -> None:
    with pytest.raises(UnsupportedCurrencyError, match="XYZ"):
        minor_units("XYZ")


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("12.345", "USD", 1235),  # half-up, not banker's
        ("12.344", "USD", 1234),
        ("-0.005", "USD", -1),
        ("1234.5", "JPY", 1235),
        ("1.2345", "KWD", 1235),
        ("0", "EUR", 0),
    ],
)
def test_to_minor_units_rounds_half_up(amount: str, currency: str, minor: int) -> None:
    assert to_minor_units(Decimal(amount), currency) == minor


@pytest.mark.parametrize("currency", sorted(CURRENCY_MINOR_UNITS))
def test_minor_units_round_trip_for_every_currency(currency: str) -> None:
    amount = round_to_currency(Decimal("1234.5678"), currency)
    assert from_minor_units(to_minor_units(amount, currency), currency) == amount
    assert format_amount(amount, currency).count(".") == (1 if minor_units(currency) else 0)


def test_format_amount_pads_to_precision() -> None:
    assert format_amount(Decimal("170"), "USD") == "170.00"
    assert format_amount(Decimal("12345.4"), "JPY") == "12345"


@pytest.mark.parametrize("text", ["", " 1", "abc", "NaN", "Infinity", "1e5", "1" * 31])
def test_parse_decimal_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_decimal(text)


@given(st.decimals(allow_nan=False, allow_infinity=False, places=6, min_value=-(10**12), max_value=10**12))
def test_parse_decimal_round_trips_plain_strings(value: Decimal) -> None:
    assert parse_decimal(format(value, "f")) == value
