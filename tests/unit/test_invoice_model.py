"""Every validation rule of the invoice event (DESIGN §2), each with a failing example."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.domain.invoice import InvoiceEvent
from shared.domain.validation import FieldError, first_field_error
from tests.builders import invoice_event


def rejection(event: dict[str, Any]) -> FieldError:
    with pytest.raises(ValidationError) as caught:
        InvoiceEvent.model_validate(event)
    return first_field_error(caught.value, event)


def test_sample_event_parses_to_decimals_and_utc() -> None:
    invoice = InvoiceEvent.model_validate(invoice_event()).detail
    assert invoice.subtotal == Decimal("1530.0045")
    assert invoice.total == Decimal("1234.56")
    assert invoice.line_items[0].quantity == Decimal("1530004.5")
    assert invoice.start_timestamp == datetime(2025, 2, 1, tzinfo=UTC)
    assert invoice.last_service_date == date(2025, 2, 28)
    assert invoice.expected_total == Decimal("1234.56")


def test_offsets_are_normalised_to_utc() -> None:
    event = invoice_event(start_timestamp="2025-02-01T01:00:00+01:00")
    assert InvoiceEvent.model_validate(event).detail.start_timestamp == datetime(2025, 2, 1, tzinfo=UTC)


def test_unknown_keys_in_detail_are_ignored() -> None:
    event = invoice_event(new_upstream_field={"x": 1})
    assert InvoiceEvent.model_validate(event).detail.id == "inv_1"


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(event: dict[str, Any]) -> None:
        node: Any = event
        parts = path.split(".")
        for part in parts[:-1]:
            node = node[int(part)] if isinstance(node, list) else node[part]
        last = parts[-1]
        if value is _DELETE:
            del node[last]
        elif isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


_DELETE = object()

CASES: list[tuple[str, Any, str, str]] = [
    # (path to change, new value, field expected in the error, words expected in the message)
    ("source", "someone.else", "source", "downbeat.billing"),
    ("detail-type", "invoice.paid", "detail-type", "invoice.finalized"),
    ("detail.id", "", "detail.id", "at least 1"),
    ("detail.id", _DELETE, "detail.id", "required"),
    ("detail.customer_id", _DELETE, "detail.customer_id", "required"),
    ("detail.contract_id", _DELETE, "detail.contract_id", "required"),
    ("detail.type", "ONE_OFF", "detail.type", "USAGE"),
    ("detail.status", "PAID", "detail.status", "DRAFT"),
    ("detail.status", "DRAFT", "detail.status", "does not match"),
    ("detail.currency", "XYZ", "detail.currency", "unsupported currency"),
    ("detail.currency", "usd", "detail.currency", "unsupported currency"),
    ("detail.start_timestamp", "2025-02-01", "detail.start_timestamp", "RFC 3339"),
    ("detail.start_timestamp", "2025-02-01T00:00:00", "detail.start_timestamp", "offset"),
    ("detail.start_timestamp", 1738368000, "detail.start_timestamp", "RFC 3339"),
    ("detail.end_timestamp", "2025-02-30T00:00:00Z", "detail.end_timestamp", "valid date"),
    ("detail.end_timestamp", "2025-02-01T00:00:00Z", "detail.end_timestamp", "after start_timestamp"),
    ("detail.issued_at", "yesterday", "detail.issued_at", "RFC 3339"),
    ("detail.subtotal", 1530.0045, "detail.subtotal", "not a JSON number"),
    ("detail.subtotal", "1,530.00", "detail.subtotal", "not a decimal"),
    ("detail.total", "1234.567", "detail.total", "more digits than USD"),
    ("detail.total", "-1.00", "detail.total", "negative"),
    ("detail.total", "NaN", "detail.total", "finite"),
    ("detail.total", "1E+3", "detail.total", "exponent"),
    ("detail.line_items", _DELETE, "detail.line_items", "required"),
    ("detail.line_items.0.id", _DELETE, "detail.line_items.0.id", "required"),
    ("detail.line_items.0.quantity", "-1", "detail.line_items.0.quantity", "negative"),
    ("detail.line_items.0.total", None, "detail.line_items.0.total", "decimal string"),
    ("detail.line_items.0.custom_fields", {"k": 1}, "detail.line_items.0.custom_fields.k", "string"),
    (
        "detail.line_items.0.buckets.0.ending_before",
        "2025-01-01T00:00:00Z",
        "detail.line_items.0.buckets.0.ending_before",
        "after starting_at",
    ),
    ("detail.applied_credits.0.amount", "-5", "detail.applied_credits.0.amount", "negative"),
    ("detail.version", "7", "detail.version", "integer"),
    ("detail.version", -1, "detail.version", "greater than or equal"),
    ("detail.version", True, "detail.version", "integer"),
    ("detail.custom_fields", [], "detail.custom_fields", "dictionary"),
]


@pytest.mark.parametrize(("path", "value", "field", "words"), CASES, ids=[f"{c[0]}={c[1]!r}" for c in CASES])
def test_invalid_event_names_the_field(path: str, value: Any, field: str, words: str) -> None:
    event = invoice_event()
    _set(path, value)(event)
    error = rejection(event)
    assert error.field == field
    assert words.lower() in error.message.lower()


def test_duplicate_line_ids_are_rejected_naming_the_second() -> None:
    event = invoice_event()
    event["detail"]["line_items"].append(copy.deepcopy(event["detail"]["line_items"][0]))
    error = rejection(event)
    assert error.field == "detail.line_items.1.id"
    assert "duplicate" in error.message


def test_zero_decimal_currency_total_must_be_whole() -> None:
    error = rejection(invoice_event(currency="JPY", total="12.5"))
    assert error.field == "detail.total"


def test_detail_not_an_object() -> None:
    event = invoice_event()
    event["detail"] = "not an invoice"
    assert rejection(event).field == "detail"


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=25,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(JSON)
def test_arbitrary_json_is_parsed_or_rejected_with_a_field(value: Any) -> None:
    _assert_handled({"source": "downbeat.billing", "detail-type": "invoice.finalized", "detail": value})


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(invoice_event()["detail"])), JSON)
def test_one_corrupted_field_is_parsed_or_rejected(key: str, value: Any) -> None:
    event = invoice_event()
    event["detail"][key] = value
    _assert_handled(event)


def _assert_handled(event: dict[str, Any]) -> None:
    event = json.loads(json.dumps(event))
    try:
        InvoiceEvent.model_validate(event)
    except ValidationError as error:
        rejected = first_field_error(error, event)
        assert rejected.message


def test_timestamps_serialize_as_whole_seconds_and_precisely_for_storage() -> None:
    from shared.domain.types import STORAGE

    invoice = InvoiceEvent.model_validate(invoice_event(issued_at="2025-03-01T00:04:10.123456789Z")).detail
    assert invoice.model_dump(mode="json")["issued_at"] == "2025-03-01T00:04:10Z"
    assert invoice.model_dump(mode="json", context=STORAGE)["issued_at"] == "2025-03-01T00:04:10.123456Z"
