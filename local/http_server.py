"""The local API on 127.0.0.1: HTTP requests → HTTP API payload 2.0 events → the API function.

`http_api_event` is the pure conversion (also what benchmarks call). The server adds `/health`
and the CLI's control endpoints under `/_local/`, a prefix the REST API (`/v1/...`) never uses:

    POST /_local/events            an EventBridge envelope → the local bus
    POST /_local/trigger/<name>    run a scheduled function now, wait for it
    GET  /_local/dlq               every message in the stack's dead-letter queues
    GET  /_local/env/<function>    a function's resolved environment (for `downbeat invoke`)
    GET  /_local/functions         the template's functions and whether they run here
    GET  /_local/claim-check-bucket  where `send-event --claim-check` uploads line items
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

log = logging.getLogger("downbeat.local")
CONTROL_PREFIX = "/_local/"
_TEXT_TYPES = ("text/", "application/json", "application/x-www-form-urlencoded", "application/xml", "+json", "+xml")


class ControlError(Exception):
    """A control request that cannot be served; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class LocalControl(Protocol):
    """What the server needs from the stack."""

    def put_event(self, envelope: Any) -> dict[str, Any]: ...
    def trigger(self, name: str) -> Any: ...
    def dead_letters(self) -> list[dict[str, Any]]: ...
    def function_environment(self, name: str) -> dict[str, str]: ...
    def functions(self) -> list[dict[str, Any]]: ...
    def claim_check_bucket(self) -> dict[str, str]: ...
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


class LocalHttpServer:
    def __init__(self, control: LocalControl, port: int = 0) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        self._server.daemon_threads = True
        self._server.control = control  # type: ignore[attr-defined]
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


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "downbeat-local"

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_OPTIONS(self) -> None:
        self._dispatch()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    @property
    def _control(self) -> LocalControl:
        control: LocalControl = self.server.control  # type: ignore[attr-defined]
        return control

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = urlsplit(self.path).path
        try:
            if path == "/health" and self.command == "GET":
                self._json(200, {"status": "ok"})
            elif path.startswith(CONTROL_PREFIX):
                self._json(200, self._serve_control(path[len(CONTROL_PREFIX) :], body))
            else:
                self._serve_api(body)
        except ControlError as error:
            self._json(error.status, {"message": str(error), "field": None})
        except Exception as error:
            log.exception("local API: %s %s failed", self.command, self.path)
            self._json(500, {"message": f"Internal Server Error ({type(error).__name__}: {error})", "field": None})

    def _serve_control(self, route: str, body: bytes) -> Any:
        control = self._control
        name = route.split("/", 1)[1] if "/" in route else ""
        if route == "events" and self.command == "POST":
            try:
                envelope = json.loads(body or b"null")
            except ValueError as error:
                raise ControlError(400, f"the event is not JSON: {error}") from None
            return control.put_event(envelope)
        if route.startswith("trigger/") and self.command == "POST":
            return {"result": control.trigger(name)}
        if route == "dlq" and self.command == "GET":
            return {"messages": control.dead_letters()}
        if route.startswith("env/") and self.command == "GET":
            return {"environment": control.function_environment(name)}
        if route == "functions" and self.command == "GET":
            return {"functions": control.functions()}
        if route == "claim-check-bucket" and self.command == "GET":
            return control.claim_check_bucket()
        raise ControlError(404, f"no local control endpoint {self.command} {CONTROL_PREFIX}{route}")

    def _serve_api(self, body: bytes) -> None:
        event = http_api_event(
            method=self.command,
            target=self.path,
            headers=self.headers.items(),
            body=body,
            source_ip=self.client_address[0],
            protocol=self.request_version,
        )
        try:
            result = self._control.invoke_api(event)
        except LookupError as missing:
            self._json(404, {"message": str(missing), "field": None})
            return
        except Exception:
            log.exception("ApiFunction raised")
            self._json(500, {"message": "Internal Server Error"})
            return
        status, headers, payload = http_response(result)
        self._send(status, headers, payload)

    def _json(self, status: int, payload: Any) -> None:
        self._send(status, [("Content-Type", "application/json")], json.dumps(payload, default=str).encode())

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(status)
        names = {name.lower() for name, _ in headers}
        for name, value in headers:
            if name.lower() not in {"content-length", "connection", "transfer-encoding"}:
                self.send_header(name, value)
        if "content-type" not in names and body:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
