"""EventBridge's PutEvents size limit, applied by the local bus as AWS applies it.

botocore's model: "the total entry size must be less than 1MB" for one PutEvents request, the
size computed as AWS documents it ("Calculating PutEvents event entry size"): 14 bytes for `Time`
when given, the UTF-8 bytes of `Source`, `DetailType`, `Detail` and of each `Resources` entry.
AWS raised the limit from 256 KB to 1 MB with SQS's and Lambda's, whose 1 MiB is 1,048,576 bytes.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

PUT_EVENTS_MAX_BYTES = 1024 * 1024
TIME_BYTES = 14
# What PutEvents answers for a request over the limit (HTTP 400), in AWS's words.
TOO_LARGE = ("ValidationException", "Total size of the entries in the request is over the limit.")


def entry_size(entry: Mapping[str, Any]) -> int:
    """A PutEventsRequestEntry's size as EventBridge counts it."""
    size = TIME_BYTES if entry.get("Time") is not None else 0
    for name in ("Source", "DetailType", "Detail"):
        if entry.get(name) is not None:
            size += len(str(entry[name]).encode("utf-8", "surrogatepass"))
    for resource in entry.get("Resources") or []:
        size += len(str(resource).encode("utf-8", "surrogatepass"))
    return size


def over_the_limit(entries: list[Mapping[str, Any]]) -> str | None:
    """The error PutEvents gives for these entries, or None when they are under the limit."""
    total = sum(entry_size(entry) for entry in entries)
    if total < PUT_EVENTS_MAX_BYTES:
        return None
    code, message = TOO_LARGE
    return (
        f"{code}: {message} (the entries are {total:,} bytes; PutEvents takes less than {PUT_EVENTS_MAX_BYTES:,}. "
        "Send an invoice this large as a claim check: its line items in an S3 object named by "
        "detail.line_items_uri — `downbeat send-event --claim-check FILE` does that locally.)"
    )


def put_events_entry(envelope: Mapping[str, Any], bus_name: str) -> dict[str, Any]:
    """The PutEventsRequestEntry a producer would send for an EventBridge envelope."""
    detail = envelope.get("detail")
    entry: dict[str, Any] = {
        "Source": str(envelope.get("source", "")),
        "DetailType": str(envelope.get("detail-type", "")),
        # Compact, as a producer would send it: the size limit counts these bytes.
        "Detail": detail if isinstance(detail, str) else json.dumps(detail, separators=(",", ":")),
        "Resources": [str(r) for r in envelope.get("resources") or []],
        "EventBusName": bus_name,
    }
    if isinstance(envelope.get("time"), str):
        with contextlib.suppress(ValueError):
            entry["Time"] = datetime.fromisoformat(envelope["time"].replace("Z", "+00:00"))
    return entry
