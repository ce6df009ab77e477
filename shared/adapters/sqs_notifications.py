"""The NotificationQueue port (`shared.ports.webhooks`) on SQS: a message's visibility, and its DLQ.

botocore errors leave as `RetryableError` / `PermanentError` (`shared.adapters.aws_errors`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from shared.adapters.aws_errors import with_mapped_errors
from shared.adapters.sqs_queue import string_attributes

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient


class SqsNotificationQueue:
    def __init__(self, client: SQSClient, queue_url: str, dead_letter_url: str) -> None:
        self._client = with_mapped_errors(client, service="SQS", resource=f"queue {queue_url}")
        self._dead_letters = with_mapped_errors(client, service="SQS", resource=f"queue {dead_letter_url}")
        self.queue_url, self.dead_letter_url = queue_url, dead_letter_url

    def retry_in(self, receipt_handle: str, seconds: int) -> None:
        self._client.change_message_visibility(
            QueueUrl=self.queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
        )

    def dead_letter(self, body: str, attributes: Mapping[str, str]) -> None:
        self._dead_letters.send_message(
            QueueUrl=self.dead_letter_url, MessageBody=body, MessageAttributes=string_attributes(attributes)
        )
