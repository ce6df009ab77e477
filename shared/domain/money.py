"""Money: `Decimal` amounts with an explicit currency, and the one currency table.

Every conversion between major units (what events and the API carry, e.g. "12.34") and minor
units (what providers take, e.g. 1234) goes through this module. Floats never enter.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Context, Decimal, DivisionByZero, InvalidOperation, Overflow

from shared.domain.validation import shown

# ISO 4217 minor units (the number of digits after the decimal point).
# Sources: ISO 4217 list (SIX Group), cross-checked with Stripe's currency docs for the
# zero-decimal and three-decimal currencies it supports.
CURRENCY_MINOR_UNITS: dict[str, int] = {
    # two-decimal
    "USD": 2, "EUR": 2, "GBP": 2, "CAD": 2, "AUD": 2, "NZD": 2, "INR": 2, "BRL": 2, "MXN": 2,
    "CHF": 2, "SEK": 2, "NOK": 2, "DKK": 2, "SGD": 2, "HKD": 2, "CNY": 2, "ZAR": 2, "PLN": 2,
    "CZK": 2, "HUF": 2, "ILS": 2, "THB": 2, "MYR": 2, "PHP": 2, "IDR": 2, "TWD": 2, "TRY": 2,
    "AED": 2, "SAR": 2, "QAR": 2, "EGP": 2, "NGN": 2, "KES": 2, "COP": 2, "ARS": 2, "PEN": 2,
    "RON": 2, "BGN": 2, "UAH": 2, "MAD": 2, "PKR": 2, "BDT": 2, "LKR": 2,
    # zero-decimal
    "JPY": 0, "KRW": 0, "CLP": 0, "VND": 0, "ISK": 0, "PYG": 0, "UGX": 0, "XAF": 0, "XOF": 0,
    "XPF": 0, "BIF": 0, "DJF": 0, "GNF": 0, "KMF": 0, "RWF": 0, "VUV": 0, "MGA": 0,
    # three-decimal
    "KWD": 3, "BHD": 3, "JOD": 3, "OMR": 3, "TND": 3, "IQD": 3, "LYD": 3,
}  # fmt: skip

THREE_DECIMAL_CURRENCIES = frozenset(code for code, digits in CURRENCY_MINOR_UNITS.items() if digits == 3)

# Keep a stored/transported amount well inside DynamoDB's 38 significant digits.
MAX_SIGNIFICANT_DIGITS = 30
# Rounding and scaling run in this context, not the thread's default (28 digits): an accepted
# amount has up to 30 significant digits before the point, and quantizing it to a currency's minor
# units in 28 digits would raise InvalidOperation (or scaleb would silently round).
MONEY = Context(prec=64, rounding=ROUND_HALF_UP, traps=[InvalidOperation, DivisionByZero, Overflow])
# `-?digits[.digits]`, ASCII digits only: no exponent, no `_` separators, no sign but a minus.
_PLAIN_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")


class UnsupportedCurrencyError(ValueError):
    def __init__(self, currency: str) -> None:
        super().__init__(f"unsupported currency {currency!r} (not in the ISO 4217 table)")
        self.currency = currency


def is_supported_currency(currency: str) -> bool:
    return currency in CURRENCY_MINOR_UNITS


def check_currency(currency: str) -> str:
    """`currency` when the currency table has it, else a ValueError a person can act on."""
    if not is_supported_currency(currency):
        raise ValueError(f"unsupported currency {shown(currency)}: use an ISO 4217 code such as USD")
    return currency


def minor_units(currency: str) -> int:
    """Digits after the decimal point for `currency` (USD 2, JPY 0, KWD 3)."""
    try:
        return CURRENCY_MINOR_UNITS[currency]
    except KeyError:
        raise UnsupportedCurrencyError(currency) from None


def quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_units(currency), context=MONEY)


def round_to_currency(amount: Decimal, currency: str) -> Decimal:
    """Round half-up to the currency's precision: 1530.0045 USD -> 1530.00, 0.5 JPY -> 1."""
    return amount.quantize(quantum(currency), rounding=ROUND_HALF_UP, context=MONEY)


def is_at_currency_precision(amount: Decimal, currency: str) -> bool:
    return amount == round_to_currency(amount, currency)


def to_minor_units(amount: Decimal, currency: str) -> int:
    """Major -> minor units, rounded half-up: 12.345 USD -> 1235, 1234 JPY -> 1234."""
    return int(round_to_currency(amount, currency).scaleb(minor_units(currency), context=MONEY))


def from_minor_units(amount: int, currency: str) -> Decimal:
    return Decimal(amount).scaleb(-minor_units(currency), context=MONEY).quantize(quantum(currency), context=MONEY)


def format_amount(amount: Decimal, currency: str) -> str:
    """The API's amount format: a decimal string at the currency's minor units ("170.00", "12345")."""
    return str(round_to_currency(amount, currency))


def plain_text(value: Decimal) -> str:
    """`value` in the notation `parse_decimal` accepts: `str()` would write 0.0000001 as "1E-7"."""
    return format(value, "f")


def parse_decimal(text: str) -> Decimal:
    """Parse a decimal string strictly: plain notation (`-?digits[.digits]`), bounded precision.

    Raises ValueError with a message fit for an API or DLQ reason.
    """
    if not isinstance(text, str):
        raise ValueError('must be a decimal string such as "12.34", not a JSON number')
    if not text or text.strip() != text:
        raise ValueError("must be a decimal string without surrounding spaces")
    if not _PLAIN_DECIMAL.fullmatch(text):
        raise ValueError(f'{shown(text)} is not a decimal in plain digits such as "1234.56": {_why_not_plain(text)}')
    value = Decimal(text)
    if len(value.as_tuple().digits) > MAX_SIGNIFICANT_DIGITS:
        raise ValueError(f"{shown(text)} has more than {MAX_SIGNIFICANT_DIGITS} significant digits")
    return value


def _why_not_plain(text: str) -> str:
    lowered = text.lower()
    if lowered.lstrip("+-") in {"nan", "snan", "inf", "infinity"}:
        return "not a finite number"
    if "_" in text:
        return "no _ separators"
    if "e" in lowered:
        return "no exponent notation"
    return "only an optional minus, ASCII digits and one optional point with digits after it"


def at_least_minor_units(value: Decimal, currency: str) -> Decimal:
    """`value` written with at least the currency's minor units, never rounded: 7.5 → 7.50, 0.001 stays."""
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent > -minor_units(currency):
        return value.quantize(quantum(currency), context=MONEY)
    return value
