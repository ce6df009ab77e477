"""The HTTP(S) plumbing the marketplace doubles share: a threaded loopback server and its replies.

A double hands `LoopbackServer` one function, `Request → Reply`; the server frames HTTP/1.1 with
keep-alive and, given an `ssl.SSLContext`, serves HTTPS (the handshake runs in the request's
thread, so one slow client never stalls the others). Two replies model what a network does to a
client after the server applied its request:

- `drop`: the connection closes without an answer (the client sees a dropped connection);
- `hold`: no answer until the client gives up and closes the socket (its read timeout fires),
  capped at `HOLD_MAX_SECONDS` so a client without a timeout is not held forever.
"""

from __future__ import annotations

import json
import select
import socket
import ssl
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

HOLD_MAX_SECONDS = 30.0
MAX_BODY_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names in lower case
    body: bytes
    host: str  # the Host header as sent (what SigV4 signed)


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    hold: bool = False

    @classmethod
    def json(cls, status: int, payload: Any, content_type: str = "application/json", **headers: str) -> Reply:
        return cls(status, json.dumps(payload).encode(), {"Content-Type": content_type, **headers})


Handler = Callable[[Request], Reply]


class LoopbackServer:
    """`handler` served on `host:port` (0: any free port), over TLS when `tls` is given."""

    def __init__(self, handler: Handler, *, name: str, host: str = "127.0.0.1", port: int = 0,
                 tls: ssl.SSLContext | None = None) -> None:  # fmt: skip
        self._handler = handler
        self._name = name
        self._host, self._port = host, port
        self._tls = tls
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def start(self) -> Self:
        if self._server is None:
            server = _Server((self._host, self._port), _RequestHandler)
            server.daemon_threads = True
            if self._tls is not None:
                server.socket = self._tls.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
            server.loopback = self  # type: ignore[attr-defined]
            self._stopping.clear()
            self._server = server
            self._thread = threading.Thread(target=server.serve_forever, args=(0.05,), name=self._name, daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"{self._name} is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        scheme = "https" if self._tls is not None else "http"
        return f"{scheme}://{self._host}:{self.port}"

    def _hold(self, connection: socket.socket) -> None:
        """Wait until the client closes its side (its read timeout), the cap, or stop()."""
        waited = 0.0
        while waited < HOLD_MAX_SECONDS and not self._stopping.is_set():
            readable, _, _ = select.select([connection], [], [], 0.05)
            if readable:
                return
            waited += 0.05


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionResetError | BrokenPipeError):
            # A client hung up a kept-alive connection, e.g. closing it with the answer's body unread
            # (the webhook sender reads the status only): normal, not worth a traceback on stderr.
            return
        super().handle_error(request, client_address)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without this, Nagle + delayed ACK add ~40 ms each.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle(self) -> None:
        if isinstance(self.connection, ssl.SSLSocket):
            try:
                self.connection.do_handshake()
            except (ssl.SSLError, OSError):
                return  # a client that does not trust the certificate hangs up here
        super().handle()

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: each double keeps its own request log."""

    def _dispatch(self) -> None:
        loopback: LoopbackServer = self.server.loopback  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._send(Reply.json(413, {"message": "request body too large"}))
            self.close_connection = True
            return
        body = self.rfile.read(length)
        split = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=split.path,
            query=dict(parse_qsl(split.query, keep_blank_values=True)),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
            host=self.headers.get("Host", ""),
        )
        reply = loopback._handler(request)
        if reply.hold:
            loopback._hold(self.connection)
        if reply.drop or reply.hold:
            self.close_connection = True
            return
        self._send(reply)

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)
