"""The MessageQueue port on SQS: JSON bodies, string message attributes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient
    from mypy_boto3_sqs.type_defs import MessageAttributeValueTypeDef

SQS_MAX_MESSAGE_BYTES = 256 * 1024


class SqsQueue:
    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._client = client
        self.queue_url = queue_url

    def send(self, body: Mapping[str, Any], attributes: Mapping[str, str] | None = None) -> str:
        text = json.dumps(body, separators=(",", ":"), sort_keys=True, default=str)
        if len(text.encode()) > SQS_MAX_MESSAGE_BYTES:
            raise ValueError(f"message of {len(text.encode())} bytes exceeds SQS's {SQS_MAX_MESSAGE_BYTES}")
        message_attributes: dict[str, MessageAttributeValueTypeDef] = {
            name: {"DataType": "String", "StringValue": value[:1024]} for name, value in (attributes or {}).items()
        }
        response = self._client.send_message(
            QueueUrl=self.queue_url, MessageBody=text, MessageAttributes=message_attributes
        )
        return response["MessageId"]
