"""A message queue: JSON bodies out, ids back (SQS in the cloud and on the local stack)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class MessageQueue(Protocol):
    def send(self, body: Mapping[str, Any], attributes: Mapping[str, str] | None = None) -> str:
        """Send one JSON message; returns the message id."""
        ...
