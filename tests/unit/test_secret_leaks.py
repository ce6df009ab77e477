"""The secret detector the e2e leak test relies on: what it finds, what it masks, what it ignores."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.secret_leaks import AS_IS, BASE64, BEARER, assert_no_secret_leaks, find_leaks

TOKEN = "dbtok-unit-5f0c2a9e41b7d3c8"
KEY = "sk_test_unit_8b1d6e0f2c4a9735"
SECRETS = {"DOWNBEAT_API_TOKEN": TOKEN, "STRIPE_API_KEY": KEY}


def forms(text: str) -> list[tuple[str, str]]:
    return [(leak.secret, leak.form) for leak in find_leaks(SECRETS, {"log": text})]


def test_clean_text_has_no_leak() -> None:
    text = json.dumps({"message": "request refused", "reason": "invalid bearer token", "actor": "tok_0123abcd"})
    assert forms(text) == []
    assert_no_secret_leaks(SECRETS, {"log": text})


def test_a_value_as_is_and_as_a_bearer_header() -> None:
    assert forms(f"key={KEY}") == [("STRIPE_API_KEY", AS_IS)]
    assert forms(json.dumps({"authorization": f"Bearer {TOKEN}"})) == [("DOWNBEAT_API_TOKEN", BEARER)]
    assert forms(f"authorization: bearer   {TOKEN}") == [("DOWNBEAT_API_TOKEN", BEARER)]


@pytest.mark.parametrize("prefix", ["", "x", "xy", "user:"])
def test_base64_is_found_inside_longer_base64_at_any_alignment(prefix: str) -> None:
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        blob = encode(f"{prefix}{KEY}:".encode()).decode()
        assert forms(f"Authorization: Basic {blob}") == [("STRIPE_API_KEY", BASE64)]


@given(st.binary(max_size=8), st.binary(max_size=8))
def test_base64_of_any_bytes_around_the_value_is_found(before: bytes, after: bytes) -> None:
    blob = base64.b64encode(before + TOKEN.encode() + after).decode()
    assert ("DOWNBEAT_API_TOKEN", BASE64) in forms(blob)


def test_the_report_names_secret_form_source_and_line_and_masks_the_values() -> None:
    captured = {
        "stack stderr": "ready\n" + json.dumps({"level": "DEBUG", "authorization": f"Bearer {TOKEN}"}),
        "dlq list": json.dumps({"reason": f"rejected (key {KEY})"}) + "\n" + json.dumps({"reason": KEY}),
    }
    with pytest.raises(AssertionError) as failure:
        assert_no_secret_leaks(SECRETS, captured)
    report = str(failure.value)
    assert report.splitlines() == [
        "secret leaked: 3 finding(s) in what was captured (values masked as «NAME»):",
        "  DOWNBEAT_API_TOKEN as a Bearer header in stack stderr: 1 line(s), first line 2:",
        '    {"level": "DEBUG", "authorization": "Bearer «DOWNBEAT_API_TOKEN»"}',
        "  STRIPE_API_KEY as is in dlq list: 2 line(s), first line 1:",
        '    {"reason": "rejected (key «STRIPE_API_KEY»)"}',
    ]
    assert TOKEN not in report
    assert KEY not in report


def test_a_long_line_is_cut_around_the_first_finding() -> None:
    line = "a" * 1000 + KEY + "b" * 1000
    [leak] = find_leaks(SECRETS, {"log": line})
    assert "«STRIPE_API_KEY»" in leak.excerpt
    assert len(leak.excerpt) < 300


def test_a_short_value_is_refused_it_would_match_by_chance() -> None:
    with pytest.raises(ValueError, match="at least 16 characters"):
        find_leaks({"X": "abc"}, {"log": "abc"})
