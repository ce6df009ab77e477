"""Webhook bodies as the alert evaluator queues them: `{"id", "type", "properties": {…}}`.

The sender's tests put these on NotificationsQueue themselves; the body text is what must reach
the receiver byte for byte."""

from __future__ import annotations

import json
from typing import Any


def spend_alert_body(notification_id: str = "ntf_0001", **properties: Any) -> str:
    """A spend alert's firing webhook body, as JSON text (every property present)."""
    values: dict[str, Any] = {
        "customer_id": "cus-acme",
        "contract_id": "con-acme-2025",
        "alert_id": "alert-spend-100",
        "alert_name": "Spend over 100 USD",
        "threshold": "100.00",
        "currency": "USD",
        "current_spend": "104.10",
        "remaining_balance": None,
        "triggered_by": "schedule",
        "timestamp": "2025-11-25T14:00:00Z",
    }
    values.update(properties)
    return json.dumps({"id": notification_id, "type": "alerts.spend_threshold_reached", "properties": values})


def sqs_event(*bodies: str, first_received_ms: int = 1764079200000, receive_count: int = 1) -> dict[str, Any]:
    """The SQS event Lambda hands the sender for `bodies` (one record each)."""
    return {
        "Records": [
            {
                "messageId": f"00000000-0000-4000-8000-{n:012d}",
                "receiptHandle": f"rh-{n}",
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": str(receive_count),
                    "SentTimestamp": str(first_received_ms - 1000),
                    "SenderId": "AIDAEXAMPLE",
                    "ApproximateFirstReceiveTimestamp": str(first_received_ms),
                },
                "messageAttributes": {},
                "md5OfBody": "00000000000000000000000000000000",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:downbeat-notifications",
                "awsRegion": "us-east-1",
            }
            for n, body in enumerate(bodies, start=1)
        ]
    }
