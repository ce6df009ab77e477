"""Amounts as Stripe takes them: integer minor units from the one currency table, rounded once.

Three-decimal currencies go in steps of 10 (Stripe requires a trailing 0); ISK and UGX, zero-decimal
for us, are two-decimal on Stripe's wire (amount x 100). Also Stripe's minimum charge per currency.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from shared.domain.money import MONEY, THREE_DECIMAL_CURRENCIES, minor_units

# Stripe's minimum charge per currency, in Stripe minor units
# (https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts). Other currencies:
# "the equivalent of 0.50 USD", which needs an exchange rate we do not have; for them only a zero
# total is below the minimum.
STRIPE_MINIMUM_CHARGE: dict[str, int] = {
    "USD": 50, "AED": 200, "AUD": 50, "BGN": 100, "BRL": 50, "CAD": 50, "CHF": 50, "CZK": 1500,
    "DKK": 250, "EUR": 50, "GBP": 30, "HKD": 400, "HUF": 17500, "INR": 50, "JPY": 50, "MXN": 1000,
    "MYR": 200, "NOK": 300, "NZD": 50, "PLN": 200, "RON": 200, "SEK": 300, "SGD": 50,
}  # fmt: skip

# Zero-decimal currencies that Stripe's API nevertheless takes as two-decimal amounts whose
# decimal part is 00 (https://docs.stripe.com/currencies#special-cases).
STRIPE_TWO_DECIMAL_ON_THE_WIRE = frozenset({"ISK", "UGX"})


def stripe_step(currency: str) -> int:
    """The granularity of a Stripe amount in minor units: 10 for three-decimal currencies, else 1."""
    if currency in THREE_DECIMAL_CURRENCIES:
        return 10
    if currency in STRIPE_TWO_DECIMAL_ON_THE_WIRE:
        return 100
    return 1


def stripe_amount(amount: Decimal, currency: str) -> int:
    """Major units → Stripe's integer amount, rounded half-up once, at Stripe's granularity.

    1530.0045 USD → 153000; 1234 JPY → 1234; 1.2345 KWD → 1230 (multiple of 10); 5 ISK → 500.
    """
    digits = minor_units(currency)
    if currency in STRIPE_TWO_DECIMAL_ON_THE_WIRE:
        digits = 2
    significant = digits - 1 if currency in THREE_DECIMAL_CURRENCIES else digits
    rounded = amount.quantize(Decimal(1).scaleb(-significant), rounding=ROUND_HALF_UP, context=MONEY)
    return int(rounded.scaleb(digits, context=MONEY))


def stripe_amount_to_major(amount: int, currency: str) -> Decimal:
    digits = 2 if currency in STRIPE_TWO_DECIMAL_ON_THE_WIRE else minor_units(currency)
    return Decimal(amount).scaleb(-digits, context=MONEY)


def format_stripe_amount(amount: int, currency: str) -> str:
    """A human amount for reasons and descriptions: 123456 USD → "1234.56 USD"."""
    digits = 2 if currency in STRIPE_TWO_DECIMAL_ON_THE_WIRE else minor_units(currency)
    return f"{stripe_amount_to_major(amount, currency):.{digits}f} {currency}"


def minimum_charge(currency: str) -> int | None:
    """Stripe's published minimum charge in Stripe units, or None when Stripe publishes none."""
    return STRIPE_MINIMUM_CHARGE.get(currency)
