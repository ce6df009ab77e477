"""AWS's published billing units as pure functions: what one request is billed as.

bench/cost_per_invoice.py counts the requests a run makes and turns each into these units. The
rules are AWS's own (pages below); nothing here is a measured number.

- DynamoDB item size: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html
- DynamoDB on-demand read/write request units: https://aws.amazon.com/dynamodb/pricing/on-demand/
- GSI writes: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.html#GSI.Writes
- SQS and EventBridge bill each 64 KB chunk of a payload as one request / event:
  https://aws.amazon.com/sqs/pricing/, https://aws.amazon.com/eventbridge/pricing/ and
  https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html
- Lambda bills duration rounded up to the millisecond: https://aws.amazon.com/lambda/pricing/
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

KB = 1024
CHUNK_BYTES = 64 * KB
READ_UNIT_BYTES = 4 * KB
WRITE_UNIT_BYTES = KB

AttributeValue = Mapping[str, Any]  # DynamoDB's wire format: {"S": "x"}, {"N": "1"}, {"M": {...}}, …
Item = Mapping[str, AttributeValue]


# -- DynamoDB -----------------------------------------------------------------------------------


def number_size(text: str) -> int:
    """About 1 byte per two significant digits, plus 1 (leading and trailing zeroes do not count)."""
    mantissa = text.lstrip("+-").lower().split("e")[0].replace(".", "")
    digits = len(mantissa.strip("0"))
    return (digits + 1) // 2 + 1


def value_size(value: AttributeValue) -> int:
    """The size of one attribute value, its name not included."""
    ((kind, data),) = value.items()
    if kind == "S":
        return len(str(data).encode())
    if kind == "N":
        return number_size(str(data))
    if kind == "B":
        return _binary_size(data)
    if kind in {"BOOL", "NULL"}:
        return 1
    if kind == "SS":
        return sum(len(str(element).encode()) for element in data)
    if kind == "NS":
        return sum(number_size(str(element)) for element in data)
    if kind == "BS":
        return sum(_binary_size(element) for element in data)
    # A List or Map has 3 bytes of overhead, and each of its elements 1 more.
    if kind == "L":
        return 3 + sum(1 + value_size(element) for element in data)
    if kind == "M":
        return 3 + sum(1 + len(name.encode()) + value_size(element) for name, element in data.items())
    raise ValueError(f"not a DynamoDB attribute value type: {kind!r}")


def _binary_size(data: Any) -> int:
    """Raw bytes count, not their base64 text (boto3 sends bytes; moto may hand back base64)."""
    if isinstance(data, bytes | bytearray):
        return len(data)
    return len(base64.b64decode(str(data)))


def item_size(item: Item | None) -> int:
    """Sum of attribute name lengths and value sizes; 0 for no item."""
    if not item:
        return 0
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def read_units(size_bytes: int, *, consistent: bool) -> Decimal:
    """RRUs of one GetItem (one item) or one Query (all items it read, summed before rounding).

    1 per 4 KB strongly consistent, half of that eventually consistent; a read that finds
    nothing still costs the minimum.
    """
    units = Decimal(max(1, math.ceil(size_bytes / READ_UNIT_BYTES)))
    return units if consistent else units / 2


def write_units(size_bytes: int, *, transactional: bool = False) -> Decimal:
    """WRUs of one write of an item of this size (the larger of before and after): 1 per KB,
    at least 1; twice that inside TransactWriteItems (prepare and commit)."""
    units = Decimal(max(1, math.ceil(size_bytes / WRITE_UNIT_BYTES)))
    return units * 2 if transactional else units


def index_entry(
    item: Item | None, *, index_keys: Sequence[str], table_keys: Sequence[str], projection: Mapping[str, Any]
) -> dict[str, AttributeValue] | None:
    """The item as a GSI stores it, or None when the item is not in that (sparse) index."""
    if not item or any(name not in item for name in index_keys):
        return None
    kind = projection.get("ProjectionType", "ALL")
    if kind == "ALL":
        return dict(item)
    kept = {*index_keys, *table_keys}
    if kind == "INCLUDE":
        kept |= set(projection.get("NonKeyAttributes", []))
    return {name: value for name, value in item.items() if name in kept}


def index_write_units(before: Item | None, after: Item | None, index_keys: Sequence[str]) -> Decimal:
    """WRUs one table write spends keeping one GSI up to date, given the item's index entries.

    Per the GSI write rules: an entry appearing or disappearing is one write; a changed index key
    is two (delete the old entry, put the new one); changed projected attributes under the same
    key are one write; nothing changes in the index, nothing is billed. Each write is sized by
    its entry (1 per KB). GSIs are updated asynchronously, also after a transaction, so these are
    standard writes, not transactional ones.
    """
    if before is None and after is None:
        return Decimal(0)
    if before is None:
        return write_units(item_size(after))
    if after is None:
        return write_units(item_size(before))
    if any(before[name] != after[name] for name in index_keys):
        return write_units(item_size(before)) + write_units(item_size(after))
    if before == after:
        return Decimal(0)
    return write_units(item_size(after))


# -- SQS, EventBridge, Lambda --------------------------------------------------------------------


def chunks(payload_bytes: int) -> int:
    """How many requests (SQS) or events (EventBridge) a payload is billed as: 1 per 64 KB, at least 1."""
    return max(1, math.ceil(payload_bytes / CHUNK_BYTES))


def sqs_message_bytes(body: str, attributes: Mapping[str, Mapping[str, Any]] | None = None) -> int:
    """A message's payload: its body plus each attribute's name, data type and value."""
    size = len(body.encode())
    for name, attribute in (attributes or {}).items():
        size += len(name.encode()) + len(str(attribute.get("DataType", "")).encode())
        if "StringValue" in attribute:
            size += len(str(attribute["StringValue"]).encode())
        if "BinaryValue" in attribute:
            size += _binary_size(attribute["BinaryValue"])
    return size


def put_events_entry_bytes(entry: Mapping[str, Any]) -> int:
    """A PutEvents entry's size as EventBridge computes it: Time is 14 bytes, then the UTF-8 bytes
    of Source, DetailType, Detail and each of Resources."""
    size = 14 if entry.get("Time") is not None else 0
    for name in ("Source", "DetailType", "Detail"):
        size += len(str(entry.get(name) or "").encode())
    return size + sum(len(str(resource).encode()) for resource in entry.get("Resources") or [])


def billed_milliseconds(seconds: float) -> int:
    """Lambda duration as billed: rounded up to the next millisecond, at least 1."""
    return max(1, math.ceil(round(seconds * 1000, 6)))  # 0.062 s is 62 ms, not 63 by a float's last bit


def gb_seconds(billed_ms: int, memory_mb: int) -> Decimal:
    return Decimal(memory_mb) / 1024 * Decimal(billed_ms) / 1000
