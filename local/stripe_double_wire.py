"""Stripe's v1 wire format for the Stripe double: errors, bracket-notation forms, typed params.

Used by :mod:`local.stripe_double_api` (the objects) and :mod:`local.stripe_double` (HTTP).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

JSON = dict[str, Any]

THREE_DECIMAL_CURRENCIES = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})
METADATA_MAX_KEYS, METADATA_MAX_KEY_LEN, METADATA_MAX_VALUE_LEN = 50, 40, 500


class StripeError(Exception):
    """A Stripe v1 error reply: ``{"error": {type, code, message, param, doc_url}}``.

    ``saved`` follows Stripe's idempotency rule: a result is saved under its key only once the
    endpoint has begun executing, so parameter-validation failures are not saved.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        saved: bool = True,
        should_retry: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code
        self.param = param
        self.saved = saved
        self.should_retry = should_retry

    def body(self) -> JSON:
        error: JSON = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = "https://stripe.com/docs/error-codes/" + self.code.replace("_", "-")
        if self.param:
            error["param"] = self.param
        return {"error": error}


def invalid_param(message: str, param: str, code: str | None = None) -> StripeError:
    return StripeError(400, message, code=code, param=param, saved=False)


def no_such(kind: str, object_id: str, param: str | None = None) -> StripeError:
    """A missing object: 404 when it is the URL's object, 400 naming the parameter otherwise."""
    status = 400 if param else 404
    return StripeError(status, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)


# ---- form decoding (Stripe's bracket notation) -----------------------------------------------

_KEY_PART = re.compile(r"\[([^\]]*)\]")


def parse_form(pairs: Iterable[tuple[str, str]]) -> JSON:
    """``lines[0][amount]=1`` → ``{"lines": [{"amount": "1"}]}``; values stay strings."""
    root: JSON = {}
    for key, value in pairs:
        head, _, rest = key.partition("[")
        parts = [head, *_KEY_PART.findall("[" + rest)] if rest else [head]
        node = root
        for depth, part in enumerate(parts):
            name = part if part else str(len(node))  # "expand[]" appends
            if depth == len(parts) - 1:
                node[name] = value
                break
            child = node.setdefault(name, {})
            if not isinstance(child, dict):
                raise invalid_param(f"Invalid value for {key}.", key)
            node = child
    return _listify(root)


def _listify(node: JSON) -> JSON:
    out: JSON = {}
    for key, value in node.items():
        if not isinstance(value, dict):
            out[key] = value
            continue
        child = _listify(value)
        indexed = bool(child) and all(k.isdigit() for k in child)
        out[key] = [child[k] for k in sorted(child, key=int)] if indexed else child
    return out


# ---- typed parameter access -------------------------------------------------------------------


@dataclass
class Form:
    """Typed view of decoded parameters; errors name the parameter as Stripe does."""

    values: JSON
    prefix: str = ""

    def name(self, key: str) -> str:
        return f"{self.prefix}[{key}]" if self.prefix else key

    def has(self, key: str) -> bool:
        return key in self.values

    def reject_unknown(self, allowed: Iterable[str]) -> None:
        unknown = sorted(set(self.values) - set(allowed))
        if unknown:
            bad = self.name(unknown[0])
            raise invalid_param(f"Received unknown parameter: {bad}", bad, "parameter_unknown")

    def text(self, key: str, *, required: bool = False) -> str | None:
        value = self.values.get(key)
        if value is None:
            if required:
                raise invalid_param(f"Missing required param: {self.name(key)}.", self.name(key), "parameter_missing")
            return None
        if not isinstance(value, str):
            raise invalid_param(f"Invalid string: {self.name(key)}", self.name(key))
        return value

    def integer(self, key: str, *, required: bool = False) -> int | None:
        value = self.text(key, required=required)
        if value is None:
            return None
        if not re.fullmatch(r"-?\d+", value):
            raise invalid_param(f"Invalid integer: {value}", self.name(key), "parameter_invalid_integer")
        return int(value)

    def decimal(self, key: str) -> Decimal | None:
        value = self.text(key)
        if value is None:
            return None
        try:
            number = Decimal(value)
        except InvalidOperation:
            number = Decimal("NaN")
        if not number.is_finite():
            raise invalid_param(f"Invalid decimal: {value}", self.name(key))
        return number

    def boolean(self, key: str) -> bool | None:
        value = self.text(key)
        if value is None:
            return None
        if value not in ("true", "false"):
            raise invalid_param(f"Invalid boolean: {value}", self.name(key))
        return value == "true"

    def choice(self, key: str, options: Iterable[str]) -> str | None:
        value = self.text(key)
        allowed = tuple(options)
        if value is not None and value not in allowed:
            raise invalid_param(f"Invalid {self.name(key)}: must be one of {', '.join(allowed)}", self.name(key))
        return value

    def sub(self, key: str) -> Form | None:
        value = self.values.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise invalid_param(f"Invalid object: {self.name(key)}", self.name(key))
        return Form(value, self.name(key))

    def forms(self, key: str) -> list[Form]:
        value = self.values.get(key)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise invalid_param(f"Invalid array: {self.name(key)}", self.name(key))
        return [Form(v, f"{self.name(key)}[{i}]") for i, v in enumerate(value)]

    def metadata(self, key: str = "metadata") -> dict[str, str] | None:
        """The new metadata entries; ``""`` values unset a key, ``metadata=""`` unsets all."""
        value = self.values.get(key)
        if value is None:
            return None
        if value == "":
            return {}
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise invalid_param(f"Invalid metadata: {self.name(key)}", self.name(key))
        if len(value) > METADATA_MAX_KEYS:
            raise invalid_param("Metadata can have at most 50 keys.", self.name(key))
        for meta_key, meta_value in value.items():
            if len(meta_key) > METADATA_MAX_KEY_LEN or len(meta_value) > METADATA_MAX_VALUE_LEN:
                raise invalid_param(
                    "Metadata keys are limited to 40 characters and values to 500.",
                    f"{self.name(key)}[{meta_key}]",
                )
        return dict(value)


def merge_metadata(current: dict[str, str], update: dict[str, str] | None) -> dict[str, str]:
    if update is None:
        return current
    if not update:
        return {}
    merged = {**current, **update}
    return {k: v for k, v in merged.items() if v != ""}


def currency_of(form: Form, key: str = "currency") -> str | None:
    value = form.text(key)
    if value is None:
        return None
    if not re.fullmatch(r"[A-Za-z]{3}", value):
        raise invalid_param(f"Invalid currency: {value}.", form.name(key))
    return value.lower()


def check_minor_units(currency: str, amount: int, param: str) -> None:
    """Three-decimal currencies take only amounts whose last digit is 0 (stripe.com/docs/currencies)."""
    if currency in THREE_DECIMAL_CURRENCIES and amount % 10 != 0:
        raise StripeError(
            400,
            f"Invalid amount {amount} for currency {currency.upper()}: amounts in three-decimal "
            "currencies must be a multiple of 10 (the last digit must be 0).",
            param=param,
        )


def round_half_up(value: Decimal, step: int = 1) -> int:
    return int((value / step).quantize(Decimal(1), rounding=ROUND_HALF_UP)) * step
