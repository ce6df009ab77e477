"""The local bus's PutEvents size limit, computed as AWS documents the entry size."""

from __future__ import annotations

from datetime import UTC, datetime

from local.event_limits import PUT_EVENTS_MAX_BYTES, entry_size, over_the_limit


def test_the_entry_size_counts_utf8_bytes_and_fourteen_for_a_time() -> None:
    entry = {"Source": "downbeat.billing", "DetailType": "invoice.finalized", "Detail": '{"n":"ü"}'}
    assert entry_size(entry) == 16 + 17 + 10
    assert entry_size({**entry, "Time": datetime(2025, 3, 1, tzinfo=UTC)}) == 16 + 17 + 10 + 14
    assert entry_size({**entry, "Resources": ["arn:a", "ü"]}) == 16 + 17 + 10 + 5 + 2


def test_entries_must_total_less_than_one_mebibyte() -> None:
    base = {"Source": "s", "DetailType": "d"}
    just_under = {**base, "Detail": "x" * (PUT_EVENTS_MAX_BYTES - 3)}
    assert over_the_limit([just_under]) is None
    at_the_limit = {**base, "Detail": "x" * (PUT_EVENTS_MAX_BYTES - 2)}
    refusal = over_the_limit([at_the_limit])
    assert refusal is not None
    assert refusal.startswith("ValidationException: Total size of the entries in the request is over the limit.")
    assert over_the_limit([just_under, {**base, "Detail": "{}"}]) is not None  # the request's total counts
