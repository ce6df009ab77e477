"""The local API on 127.0.0.1: HTTP requests → HTTP API payload 2.0 events → the API function.

`http_api_event` is the pure conversion (also what benchmarks call). The server adds `/health`
and the CLI's control endpoints under `/_local/`, a prefix the REST API (`/v1/...`) never uses:

    POST /_local/events            an EventBridge envelope → the local bus (and the rules it matched)
    POST /_local/trigger/<name>    run a scheduled function now, wait for it
    POST /_local/seed              load the demo customers and contracts (idempotent)
    GET  /_local/dlq               every message in the stack's dead-letter queues
    POST /_local/redrive/<queue>   move a DLQ's messages back: {"message_id": …, "dry_run": …}
    GET  /_local/env/<function>    a function's settings without its secrets (for `downbeat invoke`)
    GET  /_local/functions         the template's functions and whether they run here
    GET  /_local/claim-check-bucket  where `send-event --claim-check` uploads line items

A web page the developer visits can reach 127.0.0.1 too (a form post, or DNS rebinding: a name
of the page's own that resolves to 127.0.0.1). So `/health` and the control endpoints answer
only a `Host` that is a loopback name or address (localhost, 127.0.0.0/8, [::1]; any port), a
control request needs the API token as `Authorization: Bearer`, no `Origin` other than a loopback
one, and `application/json` for a body; the order is Host (403), framing (400, 411, 413), Origin
(403), token (401), route (404, 405), media type (415), body (408). The API (`/v1/…`) has its own
bearer token and gets the request as API Gateway would pass it, whatever its `Host`.

Framing is checked before a byte of the body is read: `Content-Length` must be one run of ASCII
digits, at most `max_body_bytes` (413 before reading), and present on POST, PUT and PATCH (411;
`Transfer-Encoding` is not taken: 411, or 400 beside a Content-Length). Every read of a request
has a deadline (`timeout_seconds` from its first byte: 408 when it passes; an idle keep-alive
connection is closed silently after the same time). Every error is JSON `{"message", "field"}`,
the stdlib's own (400 bad request line, 414, 431, 505) included; an answer given before the body
was read closes the connection after reading what the client still sends, for a moment, so the
client sees the answer rather than a reset.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import ipaddress
import json
import logging
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

log = logging.getLogger("downbeat.local")
CONTROL_PREFIX = "/_local/"
HEALTH_PATH = "/health"
LOCAL_API_TOKEN = "downbeat-local-token"  # what the API and the control endpoints take unless DOWNBEAT_API_TOKEN is set
MAX_BODY_BYTES = 1024 * 1024  # the API's body limit (1 MB → 413)
REQUEST_TIMEOUT_SECONDS = 5.0
WRITE_TIMEOUT_SECONDS = 30.0
LINGER_SECONDS = 2.0  # how long a refused request's unread body is drained before the close
MAX_LINGER_BYTES = 64 * 1024 * 1024
MAX_LINE_BYTES = 65536  # request line and each header line, as the stdlib's header parser allows
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_TEXT_TYPES = ("text/", "application/json", "application/x-www-form-urlencoded", "application/xml", "+json", "+xml")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 token: what a method may be
_DIGITS = re.compile(r"[0-9]+")  # ASCII only: int() would also read "٣" and "1_0"
_AUTHORITY = re.compile(r"(?P<host>\[[0-9A-Fa-f:.]+\]|[^\[\]:@/\s]+)(?::(?P<port>[0-9]{0,5}))?")
_ORIGIN = re.compile(r"(?i:https?)://(?P<authority>[^/?#\s]+)")


class ControlError(Exception):
    """A request that cannot be served; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = dict(headers or {})


class LocalControl(Protocol):
    """What the server needs from the stack."""

    def put_event(self, envelope: Any) -> dict[str, Any]: ...
    def trigger(self, name: str) -> Any: ...
    def seed_demo_data(self) -> dict[str, Any]: ...
    def dead_letters(self) -> list[dict[str, Any]]: ...
    def redrive(self, queue: str, message_id: str | None = None, *, dry_run: bool = False) -> dict[str, Any]:
        """Move a DLQ's messages back (local/redrive.py); raises LookupError for an unknown queue or id."""
        ...

    def function_environment(self, name: str) -> dict[str, str]:
        """The function's settings without any secret."""
        ...

    def withheld_variables(self, name: str) -> list[str]:
        """The names of the variables `function_environment` leaves out as secrets."""
        ...

    def functions(self) -> list[dict[str, Any]]: ...
    def claim_check_bucket(self) -> dict[str, str]: ...
    def stripe_hand_action(self, action: str, invoice: str) -> dict[str, Any]: ...
    def marketplace_action(self, action: str, document: Any) -> dict[str, Any]:
        """`downbeat marketplace …`: a registration token at a marketplace double, or an SNS action."""
        ...

    def invoke_api(self, event: dict[str, Any]) -> Any:
        """The API function's response, or raise LookupError when it is not in this build."""
        ...


def http_api_event(
    *,
    method: str,
    target: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    source_ip: str,
    protocol: str = "HTTP/1.1",
    now: datetime | None = None,
    request_id: str | None = None,
    api_id: str = "local",
    account_id: str = "123456789012",
) -> dict[str, Any]:
    """The API Gateway HTTP API payload format 2.0 event for one request.

    `target` is the request target (`/v1/customers?limit=2`). Header names are lower-cased and
    repeated headers joined with commas; cookies move from the Cookie header to `cookies`; repeated
    query parameters are joined with commas; a body that is not UTF-8 text is base64-encoded.
    """
    moment = now or datetime.now(UTC)
    parts = urlsplit(target)
    raw_path = parts.path or "/"
    merged: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        key = name.lower()
        if key == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        merged[key] = f"{merged[key]},{value}" if key in merged else value
    query: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    domain = merged.get("host", "127.0.0.1")
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": parts.query,
        "headers": merged,
        "requestContext": {
            "accountId": account_id,
            "apiId": api_id,
            "domainName": domain,
            "domainPrefix": domain.split(".", 1)[0],
            "http": {
                "method": method.upper(),
                "path": unquote(raw_path),
                "protocol": protocol,
                "sourceIp": source_ip,
                "userAgent": merged.get("user-agent", ""),
            },
            "requestId": request_id or str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": moment.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(moment.timestamp() * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if body:
        text = _as_text(body, merged.get("content-type", ""))
        if text is None:
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
        else:
            event["body"] = text
    return event


def _as_text(body: bytes, content_type: str) -> str | None:
    textual = not content_type or any(marker in content_type.lower() for marker in _TEXT_TYPES)
    if not textual:
        return None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


def http_response(result: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body bytes from a payload-2.0 handler result (as API Gateway maps it)."""
    if not (isinstance(result, Mapping) and "statusCode" in result):
        # HTTP API infers a 200 JSON response from anything that is not a response object.
        return 200, [("Content-Type", "application/json")], json.dumps(result).encode()
    headers = [(str(k), str(v)) for k, v in (result.get("headers") or {}).items()]
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers.extend((str(name), str(v)) for v in values)
    headers.extend(("Set-Cookie", str(c)) for c in result.get("cookies") or [])
    raw = result.get("body") or ""
    body = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
    return int(result["statusCode"]), headers, body


def is_loopback_authority(authority: str) -> bool:
    """`localhost`, an address in 127.0.0.0/8 or `[::1]`, with or without a port."""
    match = _AUTHORITY.fullmatch(authority)
    if match is None or (match["port"] and int(match["port"]) > 65535):
        return False
    host = match["host"]
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host[1:-1] if host.startswith("[") else host)
    except ValueError:
        return False
    # A bare IPv6 address needs its brackets (`::1` alone would be read as a host and a port).
    return address.is_loopback and (address.version == 4) != host.startswith("[")


def is_loopback_origin(origin: str) -> bool:
    """An `Origin` of a page served from loopback (`http://localhost:3000`); `null` is not one."""
    match = _ORIGIN.fullmatch(origin.strip())
    return match is not None and is_loopback_authority(match["authority"])


def bearer_token_matches(values: list[str], expected: str) -> bool:
    """One `Authorization: Bearer <token>` header with the expected token (compared in constant time)."""
    if len(values) != 1:
        return False
    scheme, _, token = values[0].strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return False
    digest = hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
    return hmac.compare_digest(digest, hashlib.sha256(expected.encode("utf-8")).digest())


@dataclass(frozen=True)
class _ControlRoute:
    name: str  # events, trigger, seed, dlq, env, functions, claim-check-bucket
    methods: tuple[str, ...]
    takes_name: bool = False  # /_local/<name>/<function or schedule>


_CONTROL_ROUTES = {
    route.name: route
    for route in (
        _ControlRoute("events", ("POST",)),
        _ControlRoute("trigger", ("POST",), takes_name=True),
        _ControlRoute("seed", ("POST",)),
        _ControlRoute("dlq", ("GET", "HEAD")),
        _ControlRoute("redrive", ("POST",), takes_name=True),
        _ControlRoute("env", ("GET", "HEAD"), takes_name=True),
        _ControlRoute("functions", ("GET", "HEAD")),
        _ControlRoute("claim-check-bucket", ("GET", "HEAD")),
        _ControlRoute("stripe", ("POST",), takes_name=True),  # /_local/stripe/<pay|fail-payment|void|uncollectible>
        _ControlRoute("marketplace", ("POST",), takes_name=True),  # /_local/marketplace/<aws-token|aws-sns>
    )
}
_HEALTH_METHODS = ("GET", "HEAD")


def _control_route(path: str) -> tuple[_ControlRoute, str] | None:
    first, slash, rest = path[len(CONTROL_PREFIX) :].partition("/")
    route = _CONTROL_ROUTES.get(first)
    if route is None or bool(slash) != route.takes_name or (route.takes_name and (not rest or "/" in rest)):
        return None
    return route, unquote(rest)


@dataclass(frozen=True)
class ServerLimits:
    timeout_seconds: float = REQUEST_TIMEOUT_SECONDS
    max_body_bytes: int = MAX_BODY_BYTES


class LocalHttpServer:
    def __init__(
        self,
        control: LocalControl,
        port: int = 0,
        *,
        token: str = LOCAL_API_TOKEN,
        limits: ServerLimits | None = None,
    ) -> None:
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.daemon_threads = True
        self._server.control = control
        self._server.token = token
        self._server.limits = limits or ServerLimits()
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.1,), name="local-api", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class _Server(ThreadingHTTPServer):
    control: LocalControl
    token: str
    limits: ServerLimits
    # socketserver's default backlog is 5: a burst of concurrent clients would be reset, not queued.
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.exception("local API: a connection from %s failed", client_address)


class _DeadlineReader(io.RawIOBase):
    """The socket's bytes, each read bounded by one deadline for the whole request."""

    def __init__(self, connection: socket.socket) -> None:
        self._connection = connection
        self.deadline = time.monotonic()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the request's deadline has passed")
        self._connection.settimeout(remaining)
        return self._connection.recv_into(buffer)


@dataclass(frozen=True)
class _Admitted:
    """A request that passed every check made before its body is read."""

    kind: str  # health, control, api
    target: str  # path and query (origin-form)
    path: str
    length: int
    control: tuple[_ControlRoute, str] | None = None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "downbeat-local"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # replaced: reads go through the request's deadline
        self._reader = _DeadlineReader(self.connection)
        self._buffered = self.rfile = io.BufferedReader(self._reader)
        self._linger = False

    def finish(self) -> None:
        super().finish()
        if self._linger:
            self._drain_and_close()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    @property
    def _limits(self) -> ServerLimits:
        return self.server.limits

    # -- one request ------------------------------------------------------------------------------------

    def handle_one_request(self) -> None:
        self._unread_body = False  # True while the request may have body bytes not yet read
        self._expect_continue = False
        self.command = ""
        self.requestline = ""
        self.request_version = "HTTP/1.1"
        timeout = self._limits.timeout_seconds
        self._reader.deadline = time.monotonic() + timeout  # how long an idle keep-alive connection waits
        try:
            if not self._buffered.peek(1):
                self.close_connection = True
                return
        except OSError:  # the idle time has passed, or the client has gone: nothing to answer
            self.close_connection = True
            return
        self._reader.deadline = time.monotonic() + timeout
        try:
            self.raw_requestline = self.rfile.readline(MAX_LINE_BYTES + 1)
            if self.raw_requestline in {b"\r\n", b"\n"}:  # one empty line before a request is ignored (RFC 9112)
                self.raw_requestline = self.rfile.readline(MAX_LINE_BYTES + 1)
            if len(self.raw_requestline) > MAX_LINE_BYTES:
                self.requestline = ""
                self.send_error(414, f"the request line is over {MAX_LINE_BYTES} bytes")
                return
            if len(self.raw_requestline.split()) in {1, 2}:  # the stdlib would serve it as HTTP/0.9
                self.requestline = ""
                self.send_error(400, "a request line is METHOD TARGET HTTP/1.1 (HTTP/0.9 is not served)")
                return
            if not self.parse_request():
                return
        except TimeoutError:
            self._answer_timeout("the request line and headers")
            return
        except ConnectionError:
            self.close_connection = True
            return
        try:
            self._serve()
            self.wfile.flush()
        except (ConnectionError, TimeoutError):  # the client went away, or stopped reading the answer
            self.close_connection = True

    def handle_expect_100(self) -> bool:
        # 100 Continue is sent only once the checks before the body have passed (_read_body).
        self._expect_continue = True
        return True

    def _serve(self) -> None:
        body_read = False
        try:
            admitted = self._admit()
            body = self._read_body(admitted.length)
            body_read = True
            if admitted.kind == "health":
                self._json(200, {"status": "ok"})
            elif admitted.kind == "control":
                assert admitted.control is not None
                self._json(200, self._serve_control(*admitted.control, body))
            else:
                self._serve_api(admitted.target, body)
        except ControlError as refusal:
            self._json(refusal.status, {"message": str(refusal), "field": None}, refusal.headers)
        except Exception:
            where = "serving" if body_read else "admitting"
            log.exception("local API: %s %s failed while %s it", self.command, self.path, where)
            self._json(500, {"message": "the local stack failed on this request (see its log)", "field": None})

    # -- checks before the body -------------------------------------------------------------------------

    def _admit(self) -> _Admitted:
        if not _TOKEN.fullmatch(self.command):
            raise ControlError(400, f"the method {self.command[:40]!r} is not an HTTP method token")
        target, authority = self._origin_form()
        path = urlsplit(target).path
        if path == HEALTH_PATH:
            kind = "health"
        elif path.startswith(CONTROL_PREFIX) or path == CONTROL_PREFIX.rstrip("/"):
            kind = "control"
        else:
            kind = "api"
        if kind != "api":
            self._check_host(authority)
        length = self._body_length()
        control = None
        if kind == "control":
            self._check_origin()
            self._check_token()
            control = self._find_control_route(path)
            self._check_json_body(length)
        elif kind == "health" and self.command not in _HEALTH_METHODS:
            raise self._wrong_method(_HEALTH_METHODS)
        return _Admitted(kind, target, path, length, control)

    def _origin_form(self) -> tuple[str, str | None]:
        """The request target as a path (and query), and the authority an absolute-form target names."""
        if self.path.startswith("/"):
            return self.path, None
        parts = urlsplit(self.path)
        if parts.scheme.lower() in {"http", "https"} and parts.netloc:
            return (parts.path or "/") + (f"?{parts.query}" if parts.query else ""), parts.netloc
        raise ControlError(400, f"the request target {self.path[:80]!r} is not a path starting with /")

    def _check_host(self, target_authority: str | None) -> None:
        hosts = self.headers.get_all("Host") or []
        named = [*hosts, *([target_authority] if target_authority is not None else [])]
        if len(hosts) != 1 or not all(is_loopback_authority(value.strip()) for value in named):
            raise ControlError(
                403,
                "the local stack answers this path only when the request is addressed to localhost, 127.0.0.1 or "
                "[::1] (the Host header)",
            )

    def _body_length(self) -> int:
        lengths = self.headers.get_all("Content-Length") or []
        encodings = self.headers.get_all("Transfer-Encoding") or []
        self._unread_body = bool(encodings) or any(value.strip() not in {"0", ""} for value in lengths)
        if encodings:
            if lengths:
                raise ControlError(400, "a request has Content-Length or Transfer-Encoding, not both")
            raise ControlError(411, "send the body with a Content-Length header (Transfer-Encoding is not taken)")
        if not lengths:
            if self.command in BODY_METHODS:
                self._unread_body = True  # a body may follow all the same, delimited by the close
                raise ControlError(411, f"{self.command} needs a Content-Length header (0 when there is no body)")
            return 0
        if len(lengths) > 1:
            raise ControlError(400, "a request has one Content-Length header, not several")
        text = lengths[0].strip()
        if not _DIGITS.fullmatch(text):
            raise ControlError(400, f"Content-Length must be a whole number of bytes, not {lengths[0][:40]!r}")
        limit = self._limits.max_body_bytes
        # Compared as text first: a 10,000-digit length is simply too large (int() would refuse it).
        if len(text.lstrip("0")) > len(str(limit)) or int(text) > limit:
            raise ControlError(413, f"the body is over {limit} bytes (Content-Length {text[:40]})")
        return int(text)

    def _check_origin(self) -> None:
        origins = self.headers.get_all("Origin") or []
        if origins and not (len(origins) == 1 and is_loopback_origin(origins[0])):
            raise ControlError(
                403, "the local stack's control endpoints answer no web page but one served from loopback"
            )

    def _check_token(self) -> None:
        if not bearer_token_matches(self.headers.get_all("Authorization") or [], self.server.token):
            raise ControlError(
                401,
                "send the API token as Authorization: Bearer <token> (DOWNBEAT_API_TOKEN, else the local default)",
                {"WWW-Authenticate": 'Bearer realm="downbeat-local"'},
            )

    def _find_control_route(self, path: str) -> tuple[_ControlRoute, str]:
        found = _control_route(path)
        if found is None:
            raise ControlError(404, f"no local control endpoint {path[:120]}")
        route, _ = found
        if self.command not in route.methods:
            raise self._wrong_method(route.methods)
        return found

    def _wrong_method(self, methods: tuple[str, ...]) -> ControlError:
        allowed = ", ".join(methods)
        return ControlError(405, f"{self.command[:20]} is not allowed here; use {allowed}", {"Allow": allowed})

    def _check_json_body(self, length: int) -> None:
        if length == 0 and self.command not in BODY_METHODS:
            return
        media_type, *parameters = (self.headers.get("Content-Type") or "").split(";")
        charsets = [
            value.strip().strip('"').lower()
            for name, _, value in (parameter.partition("=") for parameter in parameters)
            if name.strip().lower() == "charset"
        ]
        if media_type.strip().lower() != "application/json" or any(c not in {"utf-8", "utf8"} for c in charsets):
            raise ControlError(
                415,
                "the control endpoints take a body only as Content-Type: application/json (UTF-8)",
                {"Accept": "application/json"},
            )

    # -- the body ---------------------------------------------------------------------------------------

    def _read_body(self, length: int) -> bytes:
        if length == 0:
            self._unread_body = False
            return b""
        if self._expect_continue:
            self.connection.settimeout(WRITE_TIMEOUT_SECONDS)
            self.send_response_only(100)
            self.end_headers()
        try:
            body = self.rfile.read(length)
        except TimeoutError:
            seconds = self._limits.timeout_seconds
            raise ControlError(408, f"the body ({length} bytes) did not arrive within {seconds:g} s") from None
        if len(body) < length:
            raise ControlError(400, f"the connection ended after {len(body)} of the {length} bytes of the body")
        self._unread_body = False
        return body

    # -- serving ----------------------------------------------------------------------------------------

    def _serve_control(self, route: _ControlRoute, name: str, body: bytes) -> Any:
        control = self.server.control
        document = _json_document(body) if body else None
        if route.name == "events":
            return control.put_event(document)
        if route.name == "trigger":
            return {"result": control.trigger(name)}
        if route.name == "seed":
            return control.seed_demo_data()
        if route.name == "dlq":
            return {"messages": control.dead_letters()}
        if route.name == "redrive":
            return _redrive(control, name, document)
        if route.name == "env":
            return {"environment": control.function_environment(name), "withheld": control.withheld_variables(name)}
        if route.name == "claim-check-bucket":
            return control.claim_check_bucket()
        if route.name == "stripe":
            invoice = document.get("invoice") if isinstance(document, dict) and set(document) == {"invoice"} else None
            if not (isinstance(invoice, str) and invoice):
                raise ControlError(400, 'the body is a JSON object {"invoice": "<Stripe or downbeat invoice id>"}')
            return control.stripe_hand_action(name, invoice)
        if route.name == "marketplace":
            return control.marketplace_action(name, document)
        return {"functions": control.functions()}

    def _serve_api(self, target: str, body: bytes) -> None:
        event = http_api_event(
            method=self.command,
            target=target,
            headers=self.headers.items(),
            body=body,
            source_ip=self.client_address[0],
            protocol=self.request_version,
        )
        try:
            result = self.server.control.invoke_api(event)
        except LookupError as missing:
            self._json(404, {"message": str(missing), "field": None})
            return
        except Exception:
            log.exception("ApiFunction raised")
            self._json(500, {"message": "Internal Server Error"})
            return
        status, headers, payload = http_response(result)
        self._send(status, headers, payload)

    # -- answers ----------------------------------------------------------------------------------------

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The stdlib's own refusals (bad request line, 414, 431, 505), as JSON instead of HTML."""
        text = message or self.responses.get(code, ("error",))[0]
        if explain and explain != text:
            text = f"{text}: {explain}"
        self.close_connection = True
        self._linger = True
        self._json(code, {"message": text, "field": None})

    def _answer_timeout(self, what: str) -> None:
        self._unread_body = True
        seconds = self._limits.timeout_seconds
        try:
            self._json(408, {"message": f"{what} did not arrive within {seconds:g} s", "field": None})
        except OSError:
            self.close_connection = True

    def _json(self, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> None:
        extra = list((headers or {}).items())
        self._send(status, [("Content-Type", "application/json"), *extra], json.dumps(payload, default=str).encode())

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        if self.request_version == "HTTP/0.9":  # a status line and headers, always
            self.request_version = "HTTP/1.0"
        if self._unread_body:  # what the client still sends is not a next request: close after this answer
            self.close_connection = True
            self._linger = True
        self.connection.settimeout(WRITE_TIMEOUT_SECONDS)
        self.send_response(status)
        names = {name.lower() for name, _ in headers}
        for name, value in headers:
            if name.lower() not in {"content-length", "connection", "transfer-encoding"}:
                self.send_header(name, value)
        if "content-type" not in names and body:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _drain_and_close(self) -> None:
        """Read what the client still sends for a moment, so it reads the answer instead of a reset."""
        try:
            self.connection.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + min(LINGER_SECONDS, self._limits.timeout_seconds)
            drained = 0
            while drained < MAX_LINGER_BYTES and (remaining := deadline - time.monotonic()) > 0:
                self.connection.settimeout(remaining)
                chunk = self.connection.recv(65536)
                if not chunk:
                    return
                drained += len(chunk)
        except OSError:
            return


def _json_document(body: bytes) -> Any:
    try:
        return json.loads(body)
    except RecursionError:
        raise ControlError(400, "the body nests JSON too deeply to read") from None
    except ValueError as error:
        raise ControlError(400, f"the body is not JSON: {error}") from None


def _redrive(control: LocalControl, queue: str, document: Any) -> dict[str, Any]:
    options = document if document is not None else {}
    if not isinstance(options, dict) or set(options) - {"message_id", "dry_run"}:
        raise ControlError(400, 'the body is a JSON object with at most "message_id" (text) and "dry_run" (boolean)')
    message_id, dry_run = options.get("message_id"), options.get("dry_run", False)
    if not (message_id is None or (isinstance(message_id, str) and message_id)) or not isinstance(dry_run, bool):
        raise ControlError(400, '"message_id" is a non-empty text and "dry_run" a boolean')
    try:
        return control.redrive(queue, message_id, dry_run=dry_run)
    except LookupError as missing:
        raise ControlError(404, str(missing)) from None
