"""A Stripe API double on loopback that the official ``stripe`` SDK talks to unchanged.

Start it, point ``stripe.StripeClient(key, base_addresses={"api": double.url})`` at it, and it
serves Stripe's v1 wire format for the invoicing calls downbeat makes: form-encoded bodies in
bracket notation, JSON objects with ``object`` fields, list pagination, Stripe's error envelope,
``Request-Id`` on every reply, idempotency keys (24 h, replayed responses include 500s), an
optional test-mode rate limiter and programmable faults for the fault-injection campaign::

    with StripeDouble(clock=clock) as double:
        double.add_customer("cus_N1")
        double.fail_after_apply(method="POST", path="/v1/invoices/.*/finalize")
        client = stripe.StripeClient("sk_test_x", base_addresses={"api": double.url},
                                     max_network_retries=0)

Run it standalone for ``downbeat local``: ``python -m local.stripe_double --port 12111``; the
control surface lives under ``/_double/`` (``GET state``, ``GET requests``, ``POST reset``,
``POST faults`` with a JSON fault, ``POST customers`` with ``{"id": "cus_…"}``,
``POST invoices/<id>/<pay|fail-payment|void|uncollectible>``: what happens in Stripe outside
downbeat, each sending its signed webhook to the endpoint ``configure_webhooks`` set).

What it follows (behaviour looked up, not guessed; paraphrased, nothing copied):

- Idempotency: https://docs.stripe.com/api/idempotent_requests and
  https://docs.stripe.com/idempotency — the first response (status and body, 500s included) is
  saved once the endpoint starts executing, replayed for a same-key retry, a same key with other
  parameters is an ``idempotency_error``, keys may be pruned after 24 hours; keys are up to 255
  characters (the double also refuses any byte outside printable ASCII, see
  ``_idempotency_key_refusal``). Metadata values are any Unicode text up to 500 characters
  (https://docs.stripe.com/metadata), so an invoice id of any script is found again by listing.
- Errors: https://docs.stripe.com/api/errors and the error-code enum in the SDK
  (``stripe/_invoice.py`` ``LastFinalizationError.code``: ``resource_missing``,
  ``invoice_not_editable``, ``status_transition_invalid``, ``lock_timeout``, ``rate_limit``…).
  Messages are paraphrases; types, codes, params and statuses are what clients branch on.
- Rate limits: https://docs.stripe.com/rate-limits (25 operations per second in test mode).
- Invoices, invoice items, ``add_lines`` and ``remove_lines``: https://docs.stripe.com/api/invoices,
  https://docs.stripe.com/api/invoiceitems, https://docs.stripe.com/api/invoice-line-item/bulk,
  https://docs.stripe.com/api/invoice-line-item/invoices/remove-lines/bulk,
  https://docs.stripe.com/invoicing/bulk-update-line-item, the 250-items-per-invoice limit
  (https://docs.stripe.com/changelog/2016-02-22/no-more-than-250-invoice-items), three-decimal
  currencies (https://stripe.com/docs/currencies: the last digit must be 0), automatic tax
  refusing negative invoice items (``automatic_tax.enabled`` in the invoice object reference).
  The OpenAPI spec (github.com/stripe/openapi ``latest/openapi.spec3.yaml``) declares no
  ``maxItems`` for ``add_lines.lines``; the per-call cap is therefore the invoice's own 250 and
  configurable (``add_lines_max_per_call``). Object shapes follow ``openapi/fixtures3.json``.
- SDK behaviour (stripe-python 16, ``stripe/_http_client.py``, ``_api_requestor.py``,
  ``_encode.py``): every POST carries an ``Idempotency-Key`` (generated once, reused by its own
  retries); it retries connection errors, 409s, 5xx and any reply with
  ``Stripe-Should-Retry: true``, never one with ``false``; it does not read ``Retry-After``; it
  sleeps ``min(0.5·2^(n-1), 5)`` seconds with jitter but never less than 0.5 s before retry n.
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, Self
from urllib.parse import parse_qsl, urlsplit

from local.stripe_double_api import MAX_ITEMS_PER_INVOICE, StripeModel
from local.stripe_double_webhooks import HAND_ACTIONS, WebhookDelivery, WebhookEndpoint, event_json
from local.stripe_double_wire import JSON, StripeError, parse_form

IDEMPOTENCY_TTL_SECONDS = 24 * 3600
IDEMPOTENCY_KEY_MAX_CHARS = 255
TEST_MODE_RATE_PER_SECOND = 25.0
API_VERSION = "2025-09-30.clover"

FaultKind = Literal["fail_before", "fail_after_apply", "drop_before", "drop_after_apply"]
FAULT_KINDS: tuple[FaultKind, ...] = ("fail_before", "fail_after_apply", "drop_before", "drop_after_apply")


class ManualClock:
    """A clock tests move by hand: ``clock.advance(86_400)`` instead of sleeping."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass(frozen=True)
class RequestView:
    """What a fault predicate sees of a request before it is served."""

    number: int
    method: str
    path: str
    params: JSON
    idempotency_key: str | None


@dataclass
class Fault:
    """One programmed fault. It fires on requests matching every given filter.

    ``nth`` is the 1-based number of the request since start/reset (see ``StripeDouble.requests``);
    ``skip`` lets that many matching requests through first; ``times`` is how often it fires
    (``None``: every time). ``path`` is a regular expression matched against the whole path.
    """

    kind: FaultKind
    method: str | None = None
    path: str | None = None
    nth: int | None = None
    when: Callable[[RequestView], bool] | None = None
    status: int = 500
    error: JSON | None = None
    should_retry: bool | None = None
    skip: int = 0
    times: int | None = 1
    fired: int = 0

    def matches(self, view: RequestView) -> bool:
        return (
            (self.method is None or self.method.upper() == view.method)
            and (self.path is None or re.fullmatch(self.path, view.path) is not None)
            and (self.nth is None or self.nth == view.number)
            and (self.when is None or self.when(view))
        )

    def body(self) -> JSON:
        if self.error is not None:
            return {"error": dict(self.error)}
        if self.status == 429:
            return StripeError(429, "Request rate limit exceeded.", code="rate_limit").body()
        return StripeError(
            self.status, "An unknown error occurred (injected by the Stripe double).", type_="api_error"
        ).body()


@dataclass
class LoggedRequest:
    """One request as the double saw it. ``status`` is ``None`` when the connection was dropped."""

    number: int
    method: str
    path: str
    params: JSON
    idempotency_key: str | None
    request_id: str
    at: float
    status: int | None = None
    replayed: bool = False
    fault: FaultKind | None = None
    invoice_id: str | None = None
    object_id: str | None = None


@dataclass
class _Saved:
    fingerprint: tuple[str, str, str]
    status: int
    body: JSON
    headers: dict[str, str]
    request_id: str
    at: float


@dataclass
class _Reply:
    status: int
    body: JSON
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False


class TokenBucket:
    """Stripe's rate limit: `rate` tokens a second, at most `burst` saved; one per request."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate, self.burst, self.tokens, self.at = rate, burst, burst, now

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class StripeDouble:
    """In-memory Stripe on ``http://127.0.0.1:<port>``; see the module docstring."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit_per_second: float | None = None,
        rate_limit_burst: float | None = None,
        idempotency_ttl_seconds: float = IDEMPOTENCY_TTL_SECONDS,
        add_lines_max_per_call: int = MAX_ITEMS_PER_INVOICE,
        tax_rate_bps: int = 1000,
        seed: int | None = None,
        auto_create_customers: bool = False,
    ) -> None:
        self.clock = clock
        self.idempotency_ttl_seconds = idempotency_ttl_seconds
        self.model = StripeModel(
            clock,
            add_lines_max_per_call=add_lines_max_per_call,
            tax_rate_bps=tax_rate_bps,
            seed=seed,
            auto_create_customers=auto_create_customers,
        )
        self._host, self._port = host, port
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._rate: tuple[float, float] | None = None
        self.webhooks = WebhookEndpoint()
        self.set_rate_limit(rate_limit_per_second, rate_limit_burst)
        self.reset()

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> Self:
        if self._server is None:
            server = ThreadingHTTPServer((self._host, self._port), _Handler)
            server.daemon_threads = True
            server.double = self  # type: ignore[attr-defined]
            self._server = server
            self._thread = threading.Thread(
                target=server.serve_forever, args=(0.05,), name="stripe-double", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("StripeDouble is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The SDK's API base: ``base_addresses={"api": double.url}``."""
        return f"http://{self._host}:{self.port}"

    def reset(self) -> None:
        """Forget every object, idempotency key, fault, bucket and logged request."""
        with self._lock:
            self.model.reset()
            self._saved: dict[tuple[str, str], _Saved] = {}
            self._faults: list[Fault] = []
            self._buckets: dict[str, TokenBucket] = {}
            self._log: list[LoggedRequest] = []

    # -- seeding and configuration ----------------------------------------------------------

    def add_customer(self, customer_id: str | None = None, *, currency: str | None = None, **fields: Any) -> str:
        """Seed a customer (Stripe itself never lets a client choose the id); returns its id."""
        with self._lock:
            return self.model.add_customer(customer_id, currency=currency, **fields).id

    def set_rate_limit(self, per_second: float | None, burst: float | None = None) -> None:
        """Token bucket per API key on the injected clock; ``None`` turns it off (the default).

        Stripe's test mode allows 25 operations per second (``TEST_MODE_RATE_PER_SECOND``).
        """
        with self._lock:
            self._rate = None if per_second is None else (per_second, burst or max(per_second, 1.0))
            self._buckets = {}

    # -- webhooks ---------------------------------------------------------------------------

    def configure_webhooks(self, url: str | None, secret: str | None) -> None:
        """Where the hand actions send their events, and the endpoint's signing secret."""
        self.webhooks.url, self.webhooks.secret = url, secret

    def hand_action(self, action: str, invoice_id: str) -> WebhookDelivery:
        """Pay, fail a payment, void or mark uncollectible as someone would in Stripe itself, then
        send the event Stripe sends for it. Raises StripeError when the invoice cannot go there."""
        if action not in HAND_ACTIONS:
            raise StripeError(404, f"no hand action {action!r}; one of {', '.join(HAND_ACTIONS)}", saved=False)
        apply = {
            "pay": self.model.pay_by_hand,
            "fail-payment": self.model.fail_payment,
            "void": self.model.void_by_hand,
            "uncollectible": self.model.mark_uncollectible,
        }[action]
        with self._lock:
            invoice = apply(invoice_id)
            event = self.webhook_event(HAND_ACTIONS[action], invoice)
        # Sent outside the lock: the receiver reads the invoice back from this double.
        return self.deliver_webhook(event)

    def webhook_event(self, event_type: str, invoice: JSON) -> JSON:
        """An event about `invoice` (as rendered now), stamped with the double's clock."""
        with self._lock:
            return event_json(self.model.new_id("evt"), event_type, invoice, self.model.now(), API_VERSION)

    def deliver_webhook(self, event: JSON, *, timestamp: int | None = None, **signing: Any) -> WebhookDelivery:
        """POST `event` to the endpoint, signed now (or at `timestamp`); `signing`: see `WebhookEndpoint.deliver`."""
        return self.webhooks.deliver(event, timestamp=int(self.clock()) if timestamp is None else timestamp, **signing)

    # -- faults -----------------------------------------------------------------------------

    def inject(self, kind: FaultKind, **filters: Any) -> Fault:
        """Queue a fault; see :class:`Fault` for the filters. Returns it (``fault.fired`` counts)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        fault = Fault(kind=kind, **filters)
        with self._lock:
            self._faults.append(fault)
        return fault

    def fail_before(self, **filters: Any) -> Fault:
        """Reply with ``status``/``error`` (default a 500 api_error) without applying anything.

        Nothing is saved under the idempotency key, so a retry with the same key runs for real.
        """
        return self.inject("fail_before", **filters)

    def fail_after_apply(self, **filters: Any) -> Fault:
        """Apply the request, then reply 500 and save that 500 under the idempotency key.

        Same-key retries get the 500 replayed for 24 hours, as Stripe does. The reply carries
        ``Stripe-Should-Retry: false`` unless ``should_retry`` says otherwise (``None``: no header).
        """
        filters.setdefault("should_retry", False)
        return self.inject("fail_after_apply", **filters)

    def drop_before(self, **filters: Any) -> Fault:
        """Close the connection without applying or replying (the SDK sees a connection error)."""
        return self.inject("drop_before", **filters)

    def drop_after_apply(self, **filters: Any) -> Fault:
        """Apply the request and save its real reply under the key, then close without replying."""
        return self.inject("drop_after_apply", **filters)

    def lock_timeout(self, **filters: Any) -> Fault:
        """A 429 ``lock_timeout`` with ``Stripe-Should-Retry: true`` (the SDK retries it)."""
        error = StripeError(
            429,
            "This object cannot be accessed right now because another API request or Stripe process "
            "is currently accessing it.",
            code="lock_timeout",
        ).body()["error"]
        return self.fail_before(status=429, error=error, should_retry=True, **filters)

    def rate_limited(self, **filters: Any) -> Fault:
        """A 429 ``rate_limit`` as the limiter sends it: no ``Retry-After``, no should-retry header."""
        return self.fail_before(status=429, **filters)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def faults(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    # -- inspection -------------------------------------------------------------------------

    @property
    def requests(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._log)

    def calls(
        self, method: str | None = None, path: str | None = None, *, invoice_id: str | None = None
    ) -> list[LoggedRequest]:
        """Logged requests filtered by method, path regex and the Stripe invoice they touched."""
        return [
            r
            for r in self.requests
            if (method is None or r.method == method.upper())
            and (path is None or re.fullmatch(path, r.path))
            and (invoice_id is None or r.invoice_id == invoice_id)
        ]

    def invoices(self, customer: str | None = None) -> list[JSON]:
        """Every live invoice as the API renders it, oldest first."""
        with self._lock:
            found = sorted(self.model.invoices.values(), key=lambda i: i.seq)
            return [self.model.invoice_json(i) for i in found if customer in (None, i.customer)]

    def invoice(self, invoice_id: str) -> JSON:
        with self._lock:
            return self.model.invoice_json(self.model.invoice(invoice_id))

    def find_invoice(self, key: str, value: str) -> JSON | None:
        """The live invoice whose ``metadata[key] == value`` (e.g. ``downbeat_invoice_id``)."""
        matches = [i for i in self.invoices() if i["metadata"].get(key) == value]
        if len(matches) > 1:
            raise AssertionError(f"{len(matches)} invoices carry metadata {key}={value}")
        return matches[0] if matches else None

    def invoice_items(
        self, *, invoice: str | None = None, customer: str | None = None, pending: bool | None = None
    ) -> list[JSON]:
        """Invoice items, oldest first; ``pending=True`` for items attached to no invoice."""
        with self._lock:
            return [
                i.to_json()
                for i in sorted(self.model.items.values(), key=lambda i: i.seq)
                if invoice in (None, i.invoice)
                and customer in (None, i.customer)
                and (pending is None or (i.invoice is None) == pending)
            ]

    def state(self) -> JSON:
        with self._lock:
            return {
                "customers": [c.to_json() for c in self.model.customers.values()],
                "invoices": self.invoices(),
                "invoiceitems": self.invoice_items(),
            }

    # -- serving ----------------------------------------------------------------------------

    def _serve(self, method: str, path: str, params: JSON, headers: dict[str, str]) -> _Reply:
        now = self.clock()
        key = headers.get("idempotency-key")
        with self._lock:
            entry = LoggedRequest(
                number=len(self._log) + 1,
                method=method,
                path=path,
                params=params,
                idempotency_key=key,
                request_id="req_" + secrets.token_hex(7),
                at=now,
            )
            self._log.append(entry)
            reply = self._reply(entry, headers, now)
            entry.status = None if reply.drop else reply.status
            entry.invoice_id = entry.invoice_id or self._invoice_of(path, params, reply.body)
            entry.object_id = reply.body.get("id") if isinstance(reply.body.get("id"), str) else None
        reply.headers["Request-Id"] = entry.request_id
        return reply

    def _reply(self, entry: LoggedRequest, headers: dict[str, str], now: float) -> _Reply:
        view = RequestView(entry.number, entry.method, entry.path, entry.params, entry.idempotency_key)
        fault = self._take_fault(view)
        entry.fault = fault.kind if fault else None
        entry.invoice_id = self._invoice_of(entry.path, entry.params, {})
        if fault and fault.kind == "drop_before":
            return _Reply(0, {}, drop=True)
        if fault and fault.kind == "fail_before":
            return _Reply(fault.status, fault.body(), _retry_header(fault.should_retry))
        api_key = headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not api_key:
            error = StripeError(401, "You did not provide an API key.", saved=False)
            return _Reply(401, error.body())
        if not self._admit(api_key, now):
            return _Reply(429, StripeError(429, "Request rate limit exceeded.", code="rate_limit").body())
        key = entry.idempotency_key if entry.method == "POST" else None
        if key is not None and (refusal := _idempotency_key_refusal(key)) is not None:
            return _Reply(400, refusal.body())
        fingerprint = (entry.method, entry.path, json.dumps(entry.params, sort_keys=True))
        if key is not None:
            saved = self._saved.get((api_key, key))
            if saved is not None and now - saved.at < self.idempotency_ttl_seconds:
                if saved.fingerprint != fingerprint:
                    error = StripeError(
                        400,
                        "Keys for idempotent requests can only be used with the same parameters they "
                        "were first used with. Try using a key other than "
                        f"'{key}' if you meant to execute a different request.",
                        type_="idempotency_error",
                        saved=False,
                    )
                    return _Reply(400, error.body())
                entry.replayed = True
                replay = {**saved.headers, "Idempotent-Replayed": "true", "Original-Request": saved.request_id}
                return _Reply(saved.status, saved.body, replay)
        try:
            reply, save = _Reply(200, self.model.handle(entry.method, entry.path, entry.params)), True
        except StripeError as error:
            reply = _Reply(error.status, error.body(), _retry_header(error.should_retry))
            save = error.saved
        if fault and fault.kind == "fail_after_apply":
            entry.invoice_id = entry.invoice_id or self._invoice_of(entry.path, entry.params, reply.body)
            reply, save = _Reply(fault.status, fault.body(), _retry_header(fault.should_retry)), True
        if key is not None and save:
            self._saved[(api_key, key)] = _Saved(
                fingerprint, reply.status, reply.body, dict(reply.headers), entry.request_id, now
            )
        if fault and fault.kind == "drop_after_apply":
            entry.invoice_id = entry.invoice_id or self._invoice_of(entry.path, entry.params, reply.body)
            reply.drop = True
        return reply

    def _take_fault(self, view: RequestView) -> Fault | None:
        for fault in self._faults:
            if not fault.matches(view):
                continue
            if fault.skip > 0:
                fault.skip -= 1
                continue
            fault.fired += 1
            if fault.times is not None and fault.fired >= fault.times:
                self._faults.remove(fault)
            return fault
        return None

    def _admit(self, api_key: str, now: float) -> bool:
        if self._rate is None:
            return True
        bucket = self._buckets.get(api_key)
        if bucket is None:
            bucket = self._buckets[api_key] = TokenBucket(*self._rate, now)
        return bucket.take(now)

    def _invoice_of(self, path: str, params: JSON, body: JSON) -> str | None:
        if m := re.match(r"/v1/invoices/(in_\w+)", path):
            return m.group(1)
        if m := re.match(r"/v1/invoiceitems/(ii_\w+)", path):
            item = self.model.items.get(m.group(1))
            if item is not None:
                return item.invoice
        if isinstance(params.get("invoice"), str):
            return str(params["invoice"])
        if body.get("object") == "invoice":
            return str(body["id"])
        if body.get("object") == "invoiceitem" and isinstance(body.get("invoice"), str):
            return str(body["invoice"])
        return None

    # -- control surface (/_double/…) --------------------------------------------------------

    def _control(self, method: str, path: str, payload: JSON) -> _Reply:
        if (method, path) == ("GET", "/_double/state"):
            return _Reply(200, self.state())
        if (method, path) == ("GET", "/_double/requests"):
            return _Reply(200, {"data": [asdict(r) for r in self.requests]})
        if (method, path) == ("POST", "/_double/reset"):
            self.reset()
            return _Reply(200, {"reset": True})
        if (method, path) == ("POST", "/_double/customers"):
            return _Reply(200, {"id": self.add_customer(payload.get("id"), currency=payload.get("currency"))})
        if method == "POST" and (match := re.fullmatch(r"/_double/invoices/(in_\w+)/([a-z-]+)", path)):
            try:
                delivery = self.hand_action(match.group(2), match.group(1))
            except StripeError as error:
                return _Reply(error.status, error.body())
            return _Reply(200, {"invoice": self.invoice(match.group(1)), "webhook": delivery.to_json()})
        if (method, path) == ("POST", "/_double/faults"):
            names = ("method", "path", "nth", "status", "error", "should_retry", "skip", "times")
            fields: JSON = {name: payload[name] for name in names if name in payload}
            fault = self.inject(payload["kind"], **fields)
            return _Reply(200, {"kind": fault.kind, "queued": len(self.faults)})
        return _Reply(404, {"error": {"type": "invalid_request_error", "message": f"No control route {path}"}})


def _retry_header(should_retry: bool | None) -> dict[str, str]:
    return {} if should_retry is None else {"Stripe-Should-Retry": "true" if should_retry else "false"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "stripe-double"
    timeout = 30

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without this, Nagle + delayed ACK add ~40 ms each.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the double keeps its own request log."""

    def _dispatch(self) -> None:
        double: StripeDouble = self.server.double  # type: ignore[attr-defined]
        split = urlsplit(self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        headers = {k.lower(): v for k, v in self.headers.items()}
        if split.path.startswith("/_double/"):
            reply = double._control(self.command, split.path, json.loads(raw) if raw.strip() else {})
        else:
            try:
                pairs = parse_qsl(raw if self.command == "POST" else split.query, keep_blank_values=True)
                params = parse_form(pairs)
            except StripeError as error:
                reply = _Reply(error.status, error.body(), {"Request-Id": "req_" + secrets.token_hex(7)})
            else:
                reply = double._serve(self.command, split.path, params, headers)
        if reply.drop:
            self.close_connection = True
            return
        payload = json.dumps(reply.body, indent=2).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Stripe-Version", headers.get("stripe-version", API_VERSION))
        if "idempotency-key" in headers and self.command == "POST":
            self.send_header("Idempotency-Key", headers["idempotency-key"])
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)


def _idempotency_key_refusal(key: str) -> StripeError | None:
    """Stripe documents keys of up to 255 characters (and suggests V4 UUIDs); what it does with
    bytes outside printable ASCII in a header is not documented, so the double refuses them: an
    id that only this double would accept must fail here, not in production. (The SDK itself
    cannot send a character beyond Latin-1; one within it arrives as a single byte.)"""
    if len(key) > IDEMPOTENCY_KEY_MAX_CHARS:
        return StripeError(400, f"Idempotency keys can be at most {IDEMPOTENCY_KEY_MAX_CHARS} characters.", saved=False)
    if not all(" " <= character <= "~" for character in key):
        return StripeError(400, "Idempotency keys must be printable ASCII.", saved=False)
    return None


@contextmanager
def running_double(**options: Any) -> Iterator[StripeDouble]:
    """``with running_double(clock=clock) as double:`` — start, yield, stop."""
    double = StripeDouble(**options).start()
    try:
        yield double
    finally:
        double.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the Stripe API double on loopback.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--customer", action="append", default=[], help="seed a customer id")
    parser.add_argument("--rate-limit", type=float, default=None, help="requests per second per key")
    args = parser.parse_args(argv)
    double = StripeDouble(host=args.host, port=args.port, rate_limit_per_second=args.rate_limit).start()
    for customer in args.customer:
        double.add_customer(customer)
    print(f"Stripe double listening on {double.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        double.stop()


if __name__ == "__main__":
    main()
