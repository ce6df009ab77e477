"""Verify downbeat's alert webhooks: copy this file into your receiver (Python 3.9+, standard library only).

    verifier = WebhookVerifier(os.environ["DOWNBEAT_WEBHOOK_SECRET"])
    try:
        webhook = verifier.verify(request_headers, raw_body)  # the body's bytes, exactly as received
    except Rejected:
        ...  # answer 401 and do nothing: not from downbeat, or not now
    if webhook is None:
        ...  # a delivery of an id already handled: answer 200, do nothing again
    else:
        ...  # handle it, then answer 200 (any other answer makes downbeat deliver it again)

`serve()` at the end runs this as a small HTTP receiver.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SIGNATURE_HEADER = "Downbeat-Webhook-Signature"
TOLERANCE_SECONDS = 300  # a Date further than this from our clock is refused
# downbeat retries a webhook for up to 72 hours: remember ids longer than that.
REMEMBER_SECONDS = 4 * 24 * 3600


class Rejected(Exception):
    """The request is not a webhook downbeat signed just now."""


class SeenIds:
    """The ids already handled, each forgotten after `remember_seconds`. In memory, so for one
    process: in production keep them where your handling writes (a unique key on the id)."""

    def __init__(self, remember_seconds: float = REMEMBER_SECONDS, clock: Callable[[], float] = time.time) -> None:
        self._remember, self._clock = remember_seconds, clock
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def first_time(self, webhook_id: str) -> bool:
        now = self._clock()
        with self._lock:
            self._seen = {key: at for key, at in self._seen.items() if now - at < self._remember}
            if webhook_id in self._seen:
                return False
            self._seen[webhook_id] = now
            return True


class WebhookVerifier:
    def __init__(
        self,
        secret: str,
        *previous: str,  # while the secret is rotated: the old value(s), accepted as well
        tolerance_seconds: float = TOLERANCE_SECONDS,
        seen: SeenIds | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = [key.encode("utf-8") for key in (secret, *previous)]
        self._tolerance, self._clock = tolerance_seconds, clock
        self._seen = seen if seen is not None else SeenIds(clock=clock)

    def verify(self, headers: Mapping[str, str], body: bytes) -> dict[str, Any] | None:
        """The webhook, None for an id seen before; `Rejected` unless signed with our secret
        over this `Date` and this body, and the `Date` is within the tolerance of our clock."""
        named = {name.lower(): value for name, value in headers.items()}
        date, signature = named.get("date", ""), named.get(SIGNATURE_HEADER.lower(), "")
        if not date or not signature:
            raise Rejected(f"missing Date or {SIGNATURE_HEADER}")
        try:
            signed = date.encode("ascii") + b"\n" + body
            sent = parsedate_to_datetime(date).timestamp()
        except (UnicodeEncodeError, TypeError, ValueError):
            raise Rejected("Date is not an HTTP date") from None
        if not date.endswith(" GMT"):
            raise Rejected("Date is not in GMT")
        given = signature.encode("ascii", "replace")
        expected = [hmac.new(key, signed, hashlib.sha256).hexdigest().encode() for key in self._keys]
        if not any(hmac.compare_digest(one, given) for one in expected):
            raise Rejected("bad signature")
        if abs(self._clock() - sent) > self._tolerance:
            raise Rejected("Date too far from now (a replay, or a clock off)")
        webhook: dict[str, Any] = json.loads(body)
        return webhook if self._seen.first_time(webhook["id"]) else None


def serve(secret: str, handle: Callable[[dict[str, Any]], None], port: int = 8000) -> ThreadingHTTPServer:
    """An HTTP receiver on 127.0.0.1:`port`, calling `handle(webhook)` once per id; call
    `serve_forever()` on what it returns (or put it behind your TLS-terminating proxy)."""
    verifier = WebhookVerifier(secret)

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                webhook = verifier.verify(dict(self.headers.items()), body)
            except Rejected as error:
                return self._answer(401, {"error": str(error)})
            if webhook is not None:
                handle(webhook)
            self._answer(200, {"received": True, "duplicate": webhook is None})

        def _answer(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return ThreadingHTTPServer(("127.0.0.1", port), Receiver)
