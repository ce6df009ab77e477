"""The two outside parties of an alert webhook: the customer's endpoint, and the queue holding it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol


class WebhookEndpoint(Protocol):
    def post(self, body: bytes, headers: Mapping[str, str]) -> int:
        """POST `body` as it is; the response's status code. A timeout or a refused or dropped
        connection raises `RetryableError` (code `timeout` or `connection`)."""
        ...


class NotificationQueue(Protocol):
    def retry_in(self, receipt_handle: str, seconds: int) -> None:
        """The received message comes back after `seconds` (its visibility timeout)."""
        ...

    def dead_letter(self, body: str, attributes: Mapping[str, str]) -> None:
        """Put `body`, byte for byte, on the dead-letter queue, with `attributes` (the reason) beside it."""
        ...
