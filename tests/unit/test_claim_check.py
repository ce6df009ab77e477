"""Claim checks in the domain: the uri, and the lines of the object validated as inline lines are."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.domain.claim_check import invoice_with_claimed_lines
from shared.domain.invoice import MAX_LINE_ITEMS, InvoiceEvent
from shared.domain.types import parse_claim_check_uri
from shared.domain.validation import FieldError, first_field_error
from tests.builders import invoice_event

URI = "s3://claims-bucket/claims/inv_1.json"


def claim_check_event(**overrides: Any) -> dict[str, Any]:
    return invoice_event(**{"line_items": [], "line_items_uri": URI, **overrides})


def rejection(event: dict[str, Any]) -> FieldError:
    with pytest.raises(ValidationError) as raised:
        InvoiceEvent.model_validate(event)
    return first_field_error(raised.value, event)


def claimed(lines: Any, event: dict[str, Any] | None = None) -> FieldError:
    document = lines if isinstance(lines, bytes) else json.dumps(lines).encode()
    with pytest.raises(FieldError) as raised:
        invoice_with_claimed_lines(event or claim_check_event(), document, URI)
    return raised.value


def test_the_uri_names_a_bucket_and_a_key() -> None:
    location = parse_claim_check_uri("s3://my.bucket-1/a/b/c d ü.json")
    assert (location.bucket, location.key) == ("my.bucket-1", "a/b/c d ü.json")
    assert str(location) == "s3://my.bucket-1/a/b/c d ü.json"


@pytest.mark.parametrize(
    "uri",
    [
        "https://bucket/key",
        "s3://",
        "s3://bucket",
        "s3://bucket/",
        "s3://Bucket/key",
        "s3://b/key",
        "s3://-bucket/key",
        "s3://" + "b" * 64 + "/key",
        "s3://bucket/k\x00ey",
        "s3://bucket/k\ud800ey",
        "s3://bucket/" + "k" * 1025,
        "S3://bucket/key",
    ],
)
def test_a_malformed_uri_is_a_rejection_naming_line_items_uri(uri: str) -> None:
    error = rejection(claim_check_event(line_items_uri=uri))
    assert error.field == "detail.line_items_uri"


@pytest.mark.parametrize("value", [7, True, ["s3://b/k"], {"uri": URI}])
def test_a_uri_that_is_not_a_string_is_a_rejection_naming_it(value: Any) -> None:
    assert rejection(claim_check_event(line_items_uri=value)).field == "detail.line_items_uri"


def test_a_claim_check_with_inline_lines_too_is_a_rejection() -> None:
    event = invoice_event(line_items_uri=URI)  # the builder's one inline line stays
    error = rejection(event)
    assert error.field == "detail.line_items_uri"
    assert "line_items: []" in error.message


def test_the_claimed_lines_give_the_invoice_the_inline_event_gives() -> None:
    inline = invoice_event()
    lines = inline["detail"]["line_items"]
    from_claim = invoice_with_claimed_lines(claim_check_event(), json.dumps(lines).encode(), URI)
    assert from_claim == InvoiceEvent.model_validate(inline).detail
    assert from_claim.line_items_uri is None  # the object expires; the stored invoice does not need it


@pytest.mark.parametrize(
    ("document", "said"),
    [
        (b"{not json", "is not JSON"),
        (b"\xff\xfe[]", "is not JSON"),
        (b"", "is not JSON"),
        (b'{"line_items": []}', "not an object"),
        (b"null", "not null"),
        (b'"lines"', "not a string"),
        (b"12", "not a number"),
    ],
)
def test_an_object_that_is_not_an_array_of_lines_names_line_items_uri(document: bytes, said: str) -> None:
    error = claimed(document)
    assert error.field == "detail.line_items_uri"
    assert URI in error.message
    assert said in error.message


# What an upstream gets wrong in a line, and where: the same field whichever way the lines came.
HOSTILE = st.sampled_from(
    [
        ("total", "12,5"),
        ("total", 12.5),
        ("total", "1e3"),
        ("quantity", "-1"),
        ("id", ""),
        ("id", None),
        ("name", ""),
        ("name", "x" * 501),
        ("custom_fields", {"k": 1}),
        ("buckets", [{"starting_at": "2025-02-01T01:00:00Z", "ending_before": "2025-02-01T00:00:00Z"}]),
        ("buckets", "hourly"),
    ]
)


@given(index=st.integers(min_value=0, max_value=4), mistake=HOSTILE)
def test_a_bad_line_is_named_as_it_would_be_inline(index: int, mistake: tuple[str, Any]) -> None:
    lines = [{**invoice_event()["detail"]["line_items"][0], "id": f"li_{n}"} for n in range(5)]
    field, value = mistake
    lines[index] = {**lines[index], field: copy.deepcopy(value)}
    inline = rejection(invoice_event(line_items=lines))
    error = claimed(lines)
    assert error.field == inline.field
    assert error.field is not None
    assert error.field.startswith(f"detail.line_items.{index}")
    assert error.message.endswith(f"(in the claim check {URI})")


def test_a_line_that_is_not_an_object_and_a_missing_field_are_named_like_inline_ones() -> None:
    line = invoice_event()["detail"]["line_items"][0]
    assert claimed([line, "li_2"]).field == "detail.line_items.1"
    missing = {key: value for key, value in line.items() if key != "total"}
    assert claimed([missing]).field == "detail.line_items.0.total"


def test_rules_across_lines_still_hold() -> None:
    line = invoice_event()["detail"]["line_items"][0]
    assert claimed([line, line]).field == "detail.line_items.1.id"  # duplicate id
    too_many = [{**line, "id": f"li_{n}", "buckets": []} for n in range(MAX_LINE_ITEMS + 1)]
    error = claimed(too_many)
    assert error.field == "detail.line_items"
    assert "claim check" in error.message


def test_a_large_claim_check_is_read_straight_from_its_bytes() -> None:
    line = invoice_event()["detail"]["line_items"][0]
    lines = [{**line, "id": f"li_{n}"} for n in range(3000)]
    invoice = invoice_with_claimed_lines(claim_check_event(), json.dumps(lines).encode(), URI)
    assert [line.id for line in invoice.line_items] == [f"li_{n}" for n in range(3000)]


def test_a_claim_check_may_leave_line_items_out() -> None:
    event = claim_check_event()
    del event["detail"]["line_items"]
    assert InvoiceEvent.model_validate(event).detail.line_items == []
    inline = invoice_event()
    del inline["detail"]["line_items"]
    assert rejection(inline).field == "detail.line_items"  # without a claim check they are required
