"""AWS's billing units (bench/_aws_units.py), checked against the examples and rules AWS publishes."""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any

import pytest

from bench._aws_units import (
    billed_milliseconds,
    chunks,
    gb_seconds,
    index_entry,
    index_write_units,
    item_size,
    number_size,
    put_events_entry_bytes,
    read_units,
    sqs_message_bytes,
    write_units,
)


@pytest.mark.parametrize(
    ("text", "size"),
    [("1", 2), ("12", 2), ("123", 3), ("-123.45", 4), ("0.0100", 2), ("1000", 2), ("1E+3", 2), ("0", 1)],
)
def test_a_number_is_a_byte_per_two_significant_digits_plus_one(text: str, size: int) -> None:
    assert number_size(text) == size


def test_an_item_is_its_names_plus_its_values() -> None:
    item: dict[str, dict[str, Any]] = {"PK": {"S": "é"}, "n": {"N": "12"}, "ok": {"BOOL": True}, "gone": {"NULL": True}}
    assert item_size(item) == (2 + 2) + (1 + 2) + (2 + 1) + (4 + 1)


def test_lists_and_maps_add_3_bytes_and_1_per_element() -> None:
    assert item_size({"m": {"M": {}}}) == 1 + 3
    assert item_size({"m": {"M": {"ab": {"S": "xyz"}}}}) == 1 + 3 + 1 + 2 + 3
    assert item_size({"l": {"L": [{"S": "a"}, {"N": "7"}]}}) == 1 + 3 + (1 + 1) + (1 + 2)


def test_binary_counts_its_raw_bytes_whether_sent_as_bytes_or_base64() -> None:
    raw = b"\x00\x01\x02\x03"
    assert item_size({"b": {"B": raw}}) == item_size({"b": {"B": base64.b64encode(raw).decode()}}) == 1 + 4
    assert item_size({"s": {"SS": ["a", "bc"]}, "ns": {"NS": ["1", "22"]}}) == (1 + 3) + (2 + 2 + 2)


def test_no_item_has_no_size() -> None:
    assert item_size(None) == 0


@pytest.mark.parametrize(
    ("size", "consistent", "units"),
    [(0, True, "1"), (4096, True, "1"), (4097, True, "2"), (8192, False, "1"), (0, False, "0.5"), (4097, False, "1")],
)
def test_read_units_are_per_4_kb_halved_when_eventually_consistent(size: int, consistent: bool, units: str) -> None:
    # AWS's example: an 8 KB item is 2 RRU strongly consistent, 1 eventually consistent.
    assert read_units(size, consistent=consistent) == Decimal(units)


@pytest.mark.parametrize(
    ("size", "transactional", "units"), [(0, False, 1), (1024, False, 1), (1025, False, 2), (3072, True, 6)]
)
def test_write_units_are_per_kb_doubled_in_a_transaction(size: int, transactional: bool, units: int) -> None:
    # AWS's example: a standard write of a 3 KB item is 3 WRU, a transactional one 6.
    assert write_units(size, transactional=transactional) == units


KEYS = ("GSI1PK", "GSI1SK")
BASE = {"PK": {"S": "INVOICE#1"}, "SK": {"S": "STRIPE"}, "step": {"S": "new"}}
IN_INDEX = {**BASE, "GSI1PK": {"S": "UNSYNCED"}, "GSI1SK": {"S": "2025#1"}}


def test_an_item_enters_or_leaves_a_sparse_index_with_one_write() -> None:
    assert index_write_units(None, IN_INDEX, KEYS) == 1
    assert index_write_units(IN_INDEX, None, KEYS) == 1
    assert index_write_units(None, None, KEYS) == 0


def test_a_changed_index_key_is_a_delete_and_a_put() -> None:
    moved = {**IN_INDEX, "GSI1SK": {"S": "2026#1"}}
    assert index_write_units(IN_INDEX, moved, KEYS) == 2


def test_a_changed_projected_attribute_is_one_write_and_no_change_is_none() -> None:
    assert index_write_units(IN_INDEX, {**IN_INDEX, "step": {"S": "finalized"}}, KEYS) == 1
    assert index_write_units(IN_INDEX, dict(IN_INDEX), KEYS) == 0


def test_an_index_write_is_sized_by_its_entry() -> None:
    big = {**IN_INDEX, "data": {"S": "x" * 1500}}
    assert index_write_units(None, big, KEYS) == 2


def test_the_index_entry_follows_the_projection() -> None:
    table_keys = ("PK", "SK")
    assert index_entry(BASE, index_keys=KEYS, table_keys=table_keys, projection={"ProjectionType": "ALL"}) is None
    keys_only = index_entry(
        IN_INDEX, index_keys=KEYS, table_keys=table_keys, projection={"ProjectionType": "KEYS_ONLY"}
    )
    assert keys_only is not None
    assert set(keys_only) == {"PK", "SK", "GSI1PK", "GSI1SK"}
    include = {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["step"]}
    included = index_entry(IN_INDEX, index_keys=KEYS, table_keys=table_keys, projection=include)
    assert included == IN_INDEX


@pytest.mark.parametrize(("size", "billed"), [(0, 1), (65536, 1), (65537, 2), (262144, 4)])
def test_sqs_and_eventbridge_bill_each_64_kb_chunk(size: int, billed: int) -> None:
    # AWS's example: a 256 KB payload is billed as 4.
    assert chunks(size) == billed


def test_an_sqs_payload_includes_its_attributes() -> None:
    attributes: dict[str, dict[str, Any]] = {
        "invoice_id": {"DataType": "String", "StringValue": "inv_1"},
        "b": {"DataType": "Binary", "BinaryValue": b"12"},
    }
    assert sqs_message_bytes("{}", attributes) == 2 + (10 + 6 + 5) + (1 + 6 + 2)


def test_a_put_events_entry_is_sized_as_eventbridge_documents() -> None:
    entry = {"Time": "2025-03-01T00:00:00Z", "Source": "downbeat.billing", "DetailType": "invoice.finalized",
             "Detail": '{"id":"é"}', "Resources": ["arn:a", "arn:b"]}  # fmt: skip
    assert put_events_entry_bytes(entry) == 14 + 16 + 17 + 11 + 5 + 5
    assert put_events_entry_bytes({"Source": "s", "DetailType": "d"}) == 2


@pytest.mark.parametrize(("seconds", "billed"), [(0.0, 1), (0.0004, 1), (0.062, 62), (0.0621, 63), (2.007, 2007)])
def test_lambda_bills_duration_rounded_up_to_the_millisecond(seconds: float, billed: int) -> None:
    assert billed_milliseconds(seconds) == billed


def test_gb_seconds_are_memory_times_billed_duration() -> None:
    assert gb_seconds(100, 512) == Decimal("0.05")
    assert gb_seconds(1, 128) == Decimal("0.000125")
