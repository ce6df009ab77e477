"""Hostile inputs derived from a JSON schema: every field of a document, and values meant to break it.

`fields(schema, base)` walks a JSON schema (pydantic's, or an OpenAPI document's components)
alongside a valid `base` document and names every field it holds or could hold, with the kind the
schema gives it (timestamp, decimal, integer, enum, text, map, list, object…). `mutations(field)`
is a hypothesis strategy of ways to break that one field — a hostile value of its kind or of any
other, deep nesting, a removed or an added key — and `CATALOG` the fixed edge values every field
of a kind is tried with. `apply` makes the mutated document (deep nesting is materialized only
there, so a drawn example stays small enough to print).

`names_field` is the assertion every rejection must pass: the error names the mutated path, a
prefix of it, or a path inside the value that was put there.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

MISSING: Any = object()
DECIMAL_PATTERNS = {r"^-?[0-9]+(\.[0-9]+)?$", r"^[0-9]+(\.[0-9]+)?$"}

# Field paths each property test exercised, by model: printed in the terminal summary (conftest).
COVERED: dict[str, set[str]] = {}


@dataclass(frozen=True)
class Field:
    path: tuple[str, ...]
    kind: str  # timestamp decimal integer boolean enum text map list object any
    required: bool
    present: bool  # in the base document
    enum: tuple[Any, ...] = ()
    nullable: bool = False

    @property
    def dotted(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True)
class Deep:
    """`depth` nested arrays (or objects) around a string: built by `apply`, never by hypothesis."""

    depth: int
    objects: bool = False

    def build(self) -> Any:
        value: Any = "x"
        for _ in range(self.depth):
            value = {"k": value} if self.objects else [value]
        return value


@dataclass(frozen=True)
class Mutation:
    path: tuple[str, ...]
    value: Any = MISSING  # MISSING: the key is removed

    @property
    def dotted(self) -> str:
        return ".".join(self.path)

    @property
    def deep(self) -> bool:
        """Whether the document, once mutated, nests deeper than 64 levels (the root is level 1)."""
        return len(self.path) + _depth(self.value) > 64


def _depth(value: Any) -> int:
    if isinstance(value, Deep):
        return value.depth
    if isinstance(value, Mapping):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


# -- fields of a schema ---------------------------------------------------------------------------------
def _resolve(root: Mapping[str, Any], node: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in node:
        target: Any = root
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def _branch(root: Mapping[str, Any], node: Mapping[str, Any], value: Any) -> Mapping[str, Any]:
    """The alternative of an anyOf/oneOf that describes `value` (the non-null one when in doubt)."""
    options = [_resolve(root, option) for option in node.get("anyOf") or node.get("oneOf") or []]
    if not options:
        return node
    non_null = [option for option in options if option.get("type") != "null"]
    discriminator = (node.get("discriminator") or {}).get("propertyName")
    if discriminator and isinstance(value, Mapping):
        for option in non_null:
            const = option.get("properties", {}).get(discriminator, {}).get("const")
            if const == value.get(discriminator):
                return option
    return non_null[0] if non_null else options[0]


def _kind(node: Mapping[str, Any]) -> str:
    kind = node.get("type")
    described = str(node.get("description", ""))
    if kind == "string" and (node.get("format") == "date-time" or "RFC 3339" in described):
        return "timestamp"
    if kind == "string" and node.get("pattern") in DECIMAL_PATTERNS:
        return "decimal"
    if "enum" in node or "const" in node:
        return "enum"
    if kind == "string":
        return "text"
    if kind in {"integer", "number"}:
        return "integer"
    if kind == "boolean":
        return "boolean"
    if kind == "array":
        return "list"
    if kind == "object" or "properties" in node:
        return "map" if "properties" not in node else "object"
    return "any"


def fields(
    root: Mapping[str, Any],
    node: Mapping[str, Any] | None = None,
    base: Any = MISSING,
    path: tuple[str, ...] = (),
    required: bool = True,
) -> Iterator[Field]:
    """Every field of `base` under the schema `node` (default: the root), and the optional ones it lacks."""
    declared = _resolve(root, root if node is None else node)
    nullable = any(option.get("type") == "null" for option in declared.get("anyOf", []))
    node = _branch(root, declared, base)
    kind = _kind(node)
    enum = tuple(node.get("enum") or ([node["const"]] if "const" in node else []))
    if path:
        yield Field(path, kind, required, base is not MISSING, enum, nullable)
    if base is MISSING or base is None:
        return
    if kind == "object" and isinstance(base, Mapping):
        needed = set(node.get("required", []))
        for name, child in node.get("properties", {}).items():
            yield from fields(root, child, base.get(name, MISSING), (*path, name), name in needed)
    elif kind == "map" and isinstance(base, Mapping):
        values = node.get("additionalProperties")
        for key, item in base.items():
            yield from fields(root, values if isinstance(values, Mapping) else {}, item, (*path, str(key)), False)
    elif kind == "list" and isinstance(base, list):
        for index, item in enumerate(base[:2]):
            yield from fields(root, node.get("items") or {}, item, (*path, str(index)), True)


# -- hostile values -------------------------------------------------------------------------------------
EDGE_TIMESTAMPS = [
    "0001-01-01T00:00:00Z", "9999-12-31T23:59:59-05:00", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00+01:00",
    "9999-12-30T00:00:00.000001Z", "1969-12-31T23:59:59.999999Z", "1970-01-01T00:00:00+00:01",
    "1970-01-01T00:00:00Z", "9999-12-30T00:00:00Z", "9999-12-29T23:00:00-01:00", "2025-02-29T00:00:00Z",
    "2025-13-01T00:00:00Z", "2025-03-01T24:00:00Z", "2025-03-01T00:00:60Z", "2025-03-01T00:00:00",
    "2025-03-01", "2025-03-01 00:00:00Z", "2025-03-01T00:00:00+24:00", "2025-03-01T00:00:00Z\n",
    "\u0662\u0660\u0662\u0665-03-01T00:00:00Z", "2025-03-01T00:00:00.1234567890Z", "+2025-03-01T00:00:00Z",
    "20250301T000000Z", "2025-03-01T00:00:00z", "0000-01-01T00:00:00Z",
]  # fmt: skip
EDGE_DECIMALS = [
    "1_234.56", "1e5", "1E-5", "1.5e3", "NaN", "-Infinity", "Infinity", "sNaN", "+1", ".5", "5.", "-", "--1",
    " 1", "1 ", "\u0661\u0662\u0663", "\uff11\uff12\uff13", "1,234.56", "0x10", "1" * 31, "0." + "1" * 31,
    "9" * 30, "-" + "9" * 30, "9" * 28 + ".99", "-0.01", "-1", "0." + "0" * 40 + "1", "1" * 400,
]  # fmt: skip
EDGE_INTEGERS = [-1, 2**53, 2**53 - 1, 2**63, 10**40, -(10**40), 1.0, 7.5, "7", True, False, float("inf"), float("nan")]
EDGE_TEXT = [
    "", " ", "\t", "\u200b", "\u00ad\u200b ", "\x00", "a\x00b", "a\nb", "\x7f", "\x85", "\u2028", "\ud800",
    "a\udfffb", "\ufffe", "a" * 256, "a" * 257, "x" * 10_000, "\u0661\u0662\u0663", "\U0001f600", "cus_x",
    "\u202e\u202d", "null", "..",
]  # fmt: skip
GENERIC = [
    None,
    True,
    0,
    -1,
    1.5,
    2**53,
    10**40,
    "",
    [],
    {},
    {"unexpected": 1},
    [None],
    Deep(3),
    Deep(65),
    Deep(65, True),
]
CATALOG: dict[str, list[Any]] = {
    "timestamp": EDGE_TIMESTAMPS,
    "decimal": EDGE_DECIMALS,
    "integer": EDGE_INTEGERS,
    "boolean": ["true", 1, 0, "false", None],
    "enum": [],  # from the field's own values, see catalog()
    "text": EDGE_TEXT,
    "map": [{"": "x"}, {"a" * 257: "x"}, {"\ud800": "x"}, {"k": 1}, {"k": None}, {"k": Deep(70, True)}, ["k"]],
    "list": [[None], [1], ["x"], [[]], "[]", {"0": {}}],
    "object": [[], "{}", 1],
    "any": [[1], [{}], Deep(70)],
}


def catalog(field: Field) -> list[Mutation]:
    """The fixed hostile values for `field`: its kind's edges, every generic one, removal, an extra key."""
    values: list[Any] = list(CATALOG[field.kind]) + GENERIC + [Deep(10_000)]
    if field.kind == "enum":
        values += _enum_variants(field.enum)
    found = [Mutation(field.path, value) for value in values]
    found.append(Mutation(field.path))  # removed
    if field.kind == "object":
        found += [Mutation((*field.path, "unexpected_key"), "x"), Mutation((*field.path, "deep_key"), Deep(100))]
    return found


def _enum_variants(options: tuple[Any, ...]) -> list[Any]:
    variants: list[Any] = []
    for option in options:
        if isinstance(option, str):
            variants += [option.lower(), option.upper() + " ", " " + option, option + "\x00", option[:-1]]
    return variants or ["UNKNOWN"]


_HOSTILE_CHARS = st.characters(categories=["Cc", "Cs", "Cf", "Zs", "Zl", "Zp", "Nd", "Lo", "So", "Co", "Cn"])


def hostile_text(max_size: int = 300) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(EDGE_TEXT),
        st.text(_HOSTILE_CHARS, max_size=max_size),
        st.text(max_size=max_size),
    )


@st.composite
def _timestamp_text(draw: st.DrawFn) -> str:
    year = draw(st.integers(0, 10_000))
    month, day = draw(st.integers(0, 13)), draw(st.integers(0, 32))
    hour, minute, second = draw(st.integers(0, 25)), draw(st.integers(0, 61)), draw(st.integers(0, 61))
    fraction = draw(st.sampled_from(["", ".5", ".000001", ".9999999"]))
    offset_minutes = draw(st.integers(-24 * 60, 24 * 60))
    sign = "-" if offset_minutes < 0 else "+"
    offset = draw(st.sampled_from(["Z", f"{sign}{abs(offset_minutes) // 60:02d}:{abs(offset_minutes) % 60:02d}"]))
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}{fraction}{offset}"


def _decimal_text() -> st.SearchStrategy[str]:
    numbers = st.decimals(allow_nan=True, allow_infinity=True)
    return st.one_of(
        st.sampled_from(EDGE_DECIMALS),
        numbers.map(str),  # may be exponent notation, NaN, Infinity
        numbers.filter(lambda d: d.is_finite()).map(lambda d: f"{d:f}"),
        st.integers(-(10**40), 10**40).map(lambda n: f"{n:_}"),
        st.text("0123456789.-+eE_ \u0663", min_size=1, max_size=40),
    )


def _values(field: Field) -> st.SearchStrategy[Any]:
    by_kind: dict[str, st.SearchStrategy[Any]] = {
        "timestamp": st.one_of(st.sampled_from(EDGE_TIMESTAMPS), _timestamp_text()),
        "decimal": _decimal_text(),
        "integer": st.one_of(st.sampled_from(EDGE_INTEGERS), st.integers(), st.floats()),
        "boolean": st.sampled_from(CATALOG["boolean"]),
        "enum": st.one_of(st.sampled_from(_enum_variants(field.enum)), hostile_text(40)),
        "text": hostile_text(),
        "map": st.one_of(
            st.sampled_from(CATALOG["map"]),
            st.dictionaries(hostile_text(300), st.one_of(hostile_text(40), st.integers(), st.none()), max_size=4),
        ),
        "list": st.one_of(st.sampled_from(CATALOG["list"]), st.lists(st.one_of(st.none(), st.integers()), max_size=3)),
        "object": st.sampled_from(CATALOG["object"]),
        "any": st.sampled_from(CATALOG["any"]),
    }
    deep = st.builds(Deep, st.integers(65, 400), st.booleans()) | st.just(Deep(10_000))
    return st.one_of(by_kind[field.kind], st.sampled_from(GENERIC), deep, hostile_text(20))


def mutations(field: Field) -> st.SearchStrategy[Mutation]:
    """Ways to break `field`: a hostile value, its removal, or (for an object) an unexpected key."""
    options = [st.builds(Mutation, st.just(field.path), _values(field)), st.just(Mutation(field.path))]
    if field.kind == "object":
        extra = st.tuples(
            hostile_text(30).filter(bool), st.one_of(hostile_text(30), st.builds(Deep, st.integers(1, 200)))
        )
        options.append(extra.map(lambda pair: Mutation((*field.path, pair[0]), pair[1])))
    return st.one_of(*options)


def any_mutation(all_fields: list[Field]) -> st.SearchStrategy[tuple[Field, Mutation]]:
    """A field of `all_fields` and a way to break it."""
    return st.sampled_from(all_fields).flatmap(lambda field: st.tuples(st.just(field), mutations(field)))


# -- what the bounds must refuse ------------------------------------------------------------------------
# Edge values a field of the kind refuses whatever else the document holds (the rest may be fine:
# "1970-01-01T00:00:00Z" is in range, a negative decimal is a line total's right).
_TIMESTAMPS_IN_RANGE = {"1970-01-01T00:00:00Z", "9999-12-30T00:00:00Z", "9999-12-29T23:00:00-01:00"}
REFUSED_TIMESTAMPS = set(EDGE_TIMESTAMPS) - _TIMESTAMPS_IN_RANGE - {"2025-03-01T00:00:00z", "2025-03-01"}
REFUSED_DECIMALS = set(EDGE_DECIMALS) - {
    "9" * 30,
    "-" + "9" * 30,
    "9" * 28 + ".99",
    "-0.01",
    "-1",
    "0." + "0" * 40 + "1",
}
REFUSED_IDS = {
    "",
    "\x00",
    "a\x00b",
    "a\nb",
    "\x7f",
    "\x85",
    "\u2028",
    "\ud800",
    "a\udfffb",
    "\ufffe",
    "a" * 257,
    "x" * 10_000,
}
REFUSED_NAMES = {
    "",
    " ",
    "\t",
    "\u200b",
    "\u00ad\u200b ",
    "\x00",
    "a\x00b",
    "a\nb",
    "\x7f",
    "\x85",
    "\ud800",
    "a\udfffb",
}


@dataclass(frozen=True)
class Bounds:
    """Which paths of a model are ids, names, or provider identifiers of a fixed shape (regexes)."""

    ids: str = "$^"
    names: str = "$^"
    shapes: Mapping[str, frozenset[str]] = dataclasses.field(default_factory=dict)  # path → the edge texts it takes

    def refuses(self, field: Field, mutation: Mutation, *, as_text: bool = False) -> bool:
        """Whether `mutation` of `field` must be refused: out of its kind's bounds, or nested too deep."""
        value, dotted = mutation.value, mutation.dotted
        if mutation.deep and not as_text:  # in a query string, nesting is only text
            return True
        if mutation.path != field.path or value is MISSING or isinstance(value, Deep):
            return False
        if field.kind == "timestamp":
            return isinstance(value, str) and value in REFUSED_TIMESTAMPS
        if field.kind == "decimal":
            return isinstance(value, str) and value in REFUSED_DECIMALS
        if field.kind == "integer":
            if as_text:  # a query parameter: whatever was drawn is sent as its JSON text
                text = value if isinstance(value, str) else to_json(value).decode("utf-8", "surrogatepass")
                return value is not None and not re.fullmatch("[0-9]+", text)
            if value is None:
                return not field.nullable
            return type(value) is not int or not 0 <= value < 2**53
        if field.kind == "text" and isinstance(value, str):
            for pattern, accepted in self.shapes.items():
                if re.fullmatch(pattern, dotted):
                    return value in EDGE_TEXT and value not in accepted
            if re.fullmatch(self.ids, dotted):
                return value in REFUSED_IDS
            if re.fullmatch(self.names, dotted):
                return value in REFUSED_NAMES
        return False


# -- applying and judging -------------------------------------------------------------------------------
def _materialize(value: Any) -> Any:
    if isinstance(value, Deep):
        return value.build()
    if isinstance(value, Mapping):
        return {key: _materialize(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_materialize(item) for item in value]
    return value


def apply(document: Any, mutation: Mutation) -> Any:
    """A copy of `document` with `mutation` made (the parents on its path exist in the base)."""
    changed = copy.deepcopy(document)
    node: Any = changed
    for part in mutation.path[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    last = mutation.path[-1]
    if isinstance(node, list):
        if mutation.value is MISSING:
            del node[int(last)]
        else:
            node[int(last)] = _materialize(mutation.value)
    elif mutation.value is MISSING:
        node.pop(last, None)
    else:
        node[last] = _materialize(mutation.value)
    return changed


def to_json(document: Any) -> bytes:
    """JSON text of a document that may nest deeper than `json.dumps` can go (built iteratively)."""
    out: list[str] = []
    stack: list[Any] = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, _Text):
            out.append(item.text)
        elif isinstance(item, Mapping):
            out.append("{")
            stack.append(_Text("}"))
            entries = list(item.items())
            for index in range(len(entries) - 1, -1, -1):
                key, value = entries[index]
                stack.append(value)
                stack.append(_Text(("," if index else "") + json.dumps(str(key)) + ":"))
        elif isinstance(item, list):
            out.append("[")
            stack.append(_Text("]"))
            for index in range(len(item) - 1, -1, -1):
                stack.append(item[index])
                if index:
                    stack.append(_Text(","))
        else:
            out.append(json.dumps(item))
    return "".join(out).encode("utf-8", "surrogatepass")


@dataclass(frozen=True)
class _Text:
    text: str


def names_field(reported: str | None, mutation: Mutation, related: Sequence[tuple[str, str]] = ()) -> bool:
    """The error names the mutated field: the same path, the object holding it (a key it cannot
    name, e.g. one that is not Unicode), or a path inside the value put there; or a field a model
    rule ties to it (`related`: pairs of regexes, mutated path → reported path, e.g. a period's
    start and its end)."""
    if reported is None:
        return False
    # Compared as text: a key may itself hold a dot, which a dotted path cannot tell from a separator.
    mutated, parent = mutation.dotted, ".".join(mutation.path[:-1])
    if reported in {mutated, parent} or reported.startswith(mutated + "."):
        return True
    return any(re.fullmatch(source, mutation.dotted) and re.fullmatch(target, reported) for source, target in related)
