"""Where `dlq redrive` sends a dead-lettered message, told from its queue and its body."""

from __future__ import annotations

import json
from typing import Any

import pytest

from local.redrive import BUS, Destination, destination
from local.resources import QueueInfo

EVENT = {"version": "0", "source": "downbeat.billing", "detail-type": "invoice.finalized", "detail": {"id": "inv_1"}}
STRIPE_QUEUE = QueueInfo("StripeSyncQueue", "http://sqs/stripe", "arn:aws:sqs:us-east-1:1:stripe", "StripeSyncDLQ", 5)


def message(body: Any, **attributes: str) -> Any:
    text = body if isinstance(body, str) else json.dumps(body)
    return {
        "MessageId": "m-1",
        "ReceiptHandle": "r-1",
        "Body": text,
        "MessageAttributes": {
            name: {"DataType": "String", "StringValue": value, "StringListValues": []}
            for name, value in attributes.items()
        },
    }


def test_a_worker_dlq_message_goes_back_to_its_queue_with_its_attributes_as_a_send_takes_them() -> None:
    found = destination(message({"invoice_id": "inv_1"}, reason="x"), STRIPE_QUEUE)
    assert isinstance(found, Destination)
    assert (found.to, json.loads(found.body)) == ("StripeSyncQueue", {"invoice_id": "inv_1"})
    assert found.attributes == {"reason": {"DataType": "String", "StringValue": "x"}}  # no list fields


@pytest.mark.parametrize(
    "body",
    [
        EVENT,  # a router rejection, or the bus rule's dead letter
        {"requestContext": {"condition": "RetriesExhausted"}, "requestPayload": EVENT, "responsePayload": {}},
    ],
)
def test_router_messages_put_their_event_back_on_the_bus(body: dict[str, Any]) -> None:
    found = destination(message(body, reason="rejected", field="detail.customer_id"), None)
    assert isinstance(found, Destination)
    assert (found.to, json.loads(found.body), found.attributes) == (BUS, EVENT, {})


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("not json", "not JSON"),
        ({"requestContext": {}, "requestPayload": {"custom": 1}}, "neither an EventBridge event"),
        ([1, 2], "neither an EventBridge event"),
    ],
)
def test_a_message_of_unknown_origin_is_kept_with_the_reason(body: Any, why: str) -> None:
    found = destination(message(body), None)
    assert isinstance(found, str)
    assert why in found
