"""The local alert webhook receiver: what WEBHOOK_URL points at when you leave it unset.

It verifies every delivery with the receiver example the docs publish (docs/examples/
webhook_receiver.py, loaded as it is: the stack runs the code a receiver is told to copy) and keeps
what it saw: `deliveries`, also shown by `make demo`. A test can make it answer a status of its
choosing for the next deliveries (`fail_next`), as a receiver that is down.
"""

from __future__ import annotations

import importlib.util
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Self

from local.loopback_server import LoopbackServer, Reply, Request

EXAMPLE_PATH = Path(__file__).resolve().parent.parent / "docs" / "examples" / "webhook_receiver.py"


def receiver_example() -> ModuleType:
    """docs/examples/webhook_receiver.py as a module (it is not a package of this repository)."""
    spec = importlib.util.spec_from_file_location("downbeat_webhook_receiver_example", EXAMPLE_PATH)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {EXAMPLE_PATH}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class Delivery:
    status: int  # what the receiver answered
    outcome: str  # accepted, duplicate, rejected: <why>, or failed on purpose
    headers: dict[str, str]  # names in lower case
    body: bytes
    webhook: dict[str, Any] | None  # the verified webhook (accepted ones only)

    @property
    def date(self) -> str:
        return self.headers.get("date", "")


class LocalWebhookReceiver:
    def __init__(self, secret: str = "") -> None:
        self._example = receiver_example()
        self._verifier: Any = self._example.WebhookVerifier(secret)
        self._lock = threading.Lock()
        self._failures: list[int] = []
        self.deliveries: list[Delivery] = []
        self._server = LoopbackServer(self._handle, name="webhook-receiver")

    def configure(self, secret: str) -> None:
        """Verify with `secret` from now on (the stack's WEBHOOK_SECRET)."""
        with self._lock:
            self._verifier = self._example.WebhookVerifier(secret)

    def fail_next(self, count: int, status: int = 503) -> None:
        with self._lock:
            self._failures.extend([status] * count)

    def seen(self) -> list[Delivery]:
        """Every delivery so far, in arrival order."""
        with self._lock:
            return list(self.deliveries)

    def accepted(self) -> list[dict[str, Any]]:
        with self._lock:
            return [d.webhook for d in self.deliveries if d.webhook is not None]

    @property
    def url(self) -> str:
        return f"{self._server.url}/webhooks"

    def __enter__(self) -> Self:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()

    def _handle(self, request: Request) -> Reply:
        headers = dict(request.headers)
        with self._lock:
            if self._failures:
                status = self._failures.pop(0)
                self.deliveries.append(Delivery(status, "failed on purpose", headers, request.body, None))
                return Reply.json(status, {"error": "failing on purpose"})
            try:
                webhook = self._verifier.verify(request.headers, request.body)
            except self._example.Rejected as error:
                self.deliveries.append(Delivery(401, f"rejected: {error}", headers, request.body, None))
                return Reply.json(401, {"error": str(error)})
            outcome = "accepted" if webhook is not None else "duplicate"
            self.deliveries.append(Delivery(200, outcome, headers, request.body, webhook))
        return Reply(200, json.dumps({"received": True}).encode(), {"Content-Type": "application/json"})
