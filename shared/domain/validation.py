"""Turn pydantic validation errors into one `FieldError`: a dotted field path and a message.

The path is what a user typed, `billing_provider_configurations.0.configuration.stripe_customer_id`:
list indices stay, pydantic's internal location parts (union tags, validator names) go.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
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


# -- bounds on the shape of JSON (docs/bounds.md) ---------------------------------------------------
MAX_JSON_DEPTH = 64


# A path while walking, as links to the parent (built out only when reported): copying a tuple at
# every level would make a walk of deep input quadratic.
_Link = tuple["_Link", object] | None
# What JSON parses to, told apart by exact type (an ABC isinstance per value would be most of the
# cost of walking a month of hourly buckets); anything else falls back to isinstance.
_JSON_CONTAINERS = frozenset({dict, list})
_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})


def _path_of(link: _Link) -> tuple[str, ...]:
    parts: list[str] = []
    while link is not None:
        link, part = link
        parts.append(str(part))
    return tuple(reversed(parts))


def _is_container(value: object) -> bool:
    kind = type(value)
    if kind in _JSON_CONTAINERS:
        return True
    return kind not in _JSON_SCALARS and isinstance(value, Mapping | list | tuple)


def _children(node: Any) -> Iterable[tuple[object, Any]]:
    return node.items() if isinstance(node, Mapping) else enumerate(node)


def too_deep(value: object, max_depth: int = MAX_JSON_DEPTH) -> tuple[str, ...] | None:
    """The path of the first object or array nested deeper than `max_depth` levels, or None.

    `{}` is one level, `{"a": []}` two. Iterative, so a value of any depth is measured safely; only
    containers are stacked, so a month of hourly buckets is walked in a fraction of a second.
    """
    if not _is_container(value):
        return None
    stack: list[tuple[object, int, _Link]] = [(value, 1, None)]
    while stack:
        node, depth, link = stack.pop()
        if depth > max_depth:
            return _path_of(link)
        for key, child in _children(node):
            if type(child) in _JSON_CONTAINERS or (type(child) not in _JSON_SCALARS and _is_container(child)):
                stack.append((child, depth + 1, (link, key)))
    return None


def clipped(value: Any, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """`value` with every object or array deeper than `max_depth` replaced by a short note, so it
    can be serialized and shown (a dead letter) however deep it arrived."""
    if not isinstance(value, Mapping | list | tuple):
        return value
    if max_depth <= 0:
        return f"(nested deeper than {MAX_JSON_DEPTH} levels: left out)"
    if isinstance(value, Mapping):
        return {key: clipped(item, max_depth - 1) for key, item in value.items()}
    return [clipped(item, max_depth - 1) for item in value]


def lone_surrogate(value: object) -> tuple[str, ...] | None:
    """The path of the first string (value, or key: then the path of its map) holding a lone
    surrogate, which JSON can carry but UTF-8, the store and the logs cannot; None when none does."""
    if isinstance(value, str):
        return None if _is_utf8(value) else ()
    if not _is_container(value):
        return None
    stack: list[tuple[object, _Link]] = [(value, None)]
    while stack:
        node, link = stack.pop()
        for key, child in _children(node):
            if type(key) is str and not key.isascii() and not _is_utf8(key):
                return _path_of(link)  # the key itself cannot be named: its map is
            kind = type(child)
            if kind is str:
                if not child.isascii() and not _is_utf8(child):
                    return _path_of((link, key))
            elif kind in _JSON_CONTAINERS or (kind not in _JSON_SCALARS and _is_container(child)):
                stack.append((child, (link, key)))
    return None


def _is_utf8(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def text_is_unicode(value: Any) -> Any:
    """A model's before-validator: refuse strings that cannot be stored as UTF-8, naming where they are."""
    found = lone_surrogate(value)
    if found:
        raise invalid_field(".".join(found), "is not valid Unicode text (lone surrogate)")
    if found is not None:
        raise PydanticCustomError("invalid_text", "is not valid Unicode text (lone surrogate)")
    return value


def first_unknown(path: tuple[str, ...], known: object) -> tuple[str, ...]:
    """`path` cut after its first part that `known` (what a model kept of the input) lacks: where an
    ignored key holds something the model never read, e.g. a value nested too deep."""
    node = known
    for position, part in enumerate(path):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return path[: position + 1]
    return path


def shown(value: object, limit: int = 64) -> str:
    """`value` as an error message quotes it: text cut to `limit` characters, anything else by its
    JSON type (its repr could be huge, or nested too deep to compute)."""
    if isinstance(value, str):
        return repr(value[:limit]) + ("…" if len(value) > limit else "")
    names = {bool: "a boolean", int: "a number", float: "a number", list: "an array", dict: "an object"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
