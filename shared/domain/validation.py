"""Turn pydantic validation errors into one `FieldError`: a dotted field path and a message.

The path is what a user typed, `billing_provider_configurations.0.configuration.stripe_customer_id`:
list indices stay, pydantic's internal location parts (union tags, validator names) go.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError


@dataclass(frozen=True)
class FieldError(Exception):
    """A rejected input: `field` is a dotted path (None when the input is not an object at all)."""

    field: str | None
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


def field_path(error: ErrorDetails, data: object) -> str | None:
    """The user-facing dotted path of one pydantic error, walked against the input `data`."""
    parts: list[str] = []
    node: object = data
    loc = list(error["loc"])
    for position, part in enumerate(loc):
        last = position == len(loc) - 1
        if isinstance(node, Mapping) and isinstance(part, str) and part in node:
            parts.append(part)
            node = node[part]
        elif isinstance(node, Sequence) and not isinstance(node, str) and isinstance(part, int):
            parts.append(str(part))
            node = node[part] if 0 <= part < len(node) else None
        elif last and error["type"] == "missing":
            parts.append(str(part))
        # anything else is a location pydantic made up (a union tag, a validator): skip it
    context: Mapping[str, Any] = error.get("ctx") or {}
    if error["type"] in {"union_tag_invalid", "union_tag_not_found"}:
        parts.append(str(context.get("discriminator", "")).strip("'\""))
    elif isinstance(context.get("field"), str):
        parts.append(context["field"])
    return ".".join(parts) or None


def _message(error: ErrorDetails) -> str:
    message = error["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            message = message[len(prefix) :]
    if error["type"] == "extra_forbidden":
        return "unknown field (not supported)"
    return message


def first_field_error(exc: ValidationError, data: object, prefix: str = "") -> FieldError:
    """The first error of `exc`, as a FieldError whose path starts with `prefix` (e.g. "detail.")."""
    error = exc.errors(include_url=False)[0]
    path = field_path(error, data)
    if error["type"] == "json_invalid":
        return FieldError(None, f"malformed JSON: {error['msg']}")
    return FieldError(f"{prefix}{path}" if path else (prefix.rstrip(".") or None), _message(error))


def invalid_field(field: str, message: str) -> PydanticCustomError:
    """An error raised from a model validator that still names the field it is about."""
    return PydanticCustomError("invalid_field", message.replace("{", "(").replace("}", ")"), {"field": field})
