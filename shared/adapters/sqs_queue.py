"""The MessageQueue port (`shared.ports.queues`) on SQS: JSON bodies, string message attributes.

botocore errors leave as `RetryableError` / `PermanentError` (`shared.adapters.aws_errors`)."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from shared.adapters.aws_errors import with_mapped_errors
from shared.ports.errors import PermanentError

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient
    from mypy_boto3_sqs.type_defs import MessageAttributeValueTypeDef

# SQS's limit since 2025 (it was 256 KiB): body and message attributes together. The router DLQ
# takes a rejected invoice event as it arrived, and EventBridge now carries up to 1 MB.
SQS_MAX_MESSAGE_BYTES = 1024 * 1024
ATTRIBUTE_MAX_CHARS = 1024  # ours: a reason is a sentence, not a document


# SQS accepts only these characters in bodies and attribute values (#x9 #xA #xD #x20-#xD7FF
# #xE000-#xFFFD #x10000-#x10FFFF); anything else (a NUL, a lone surrogate) would fail the send.
# Compiled on first use: this class takes about 10 ms to compile, and most invocations send
# nothing that needs it at their cold start.
@functools.cache
def _not_allowed_by_sqs() -> re.Pattern[str]:
    return re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def sqs_safe(text: str) -> str:
    """`text` with every character SQS refuses replaced by U+FFFD."""
    return _not_allowed_by_sqs().sub("\ufffd", text)


def string_attributes(attributes: Mapping[str, str]) -> dict[str, MessageAttributeValueTypeDef]:
    """String message attributes, each cut to ATTRIBUTE_MAX_CHARS and made SQS-safe; empty ones left out."""
    return {
        name: {"DataType": "String", "StringValue": sqs_safe(value[:ATTRIBUTE_MAX_CHARS])}
        for name, value in attributes.items()
        if value
    }


class SqsQueue:
    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._client = with_mapped_errors(client, service="SQS", resource=f"queue {queue_url}")
        self.queue_url = queue_url

    def send(self, body: Mapping[str, Any], attributes: Mapping[str, str] | None = None) -> str:
        text = json.dumps(body, separators=(",", ":"), sort_keys=True, default=str)
        message_attributes = string_attributes(attributes or {})
        size = len(text.encode()) + sum(
            len(name.encode()) + len("String") + len(value["StringValue"].encode())
            for name, value in message_attributes.items()
        )
        if size > SQS_MAX_MESSAGE_BYTES:
            raise PermanentError(
                f"a message of {size} bytes for {self.queue_url} exceeds SQS's {SQS_MAX_MESSAGE_BYTES}",
                code="message_too_large",
            )
        response = self._client.send_message(
            QueueUrl=self.queue_url, MessageBody=text, MessageAttributes=message_attributes
        )
        return response["MessageId"]
