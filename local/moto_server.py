"""moto's ThreadedMotoServer, with DynamoDB requests made atomic as the real service's are.

moto serves each request on its own thread and applies an UpdateItem step by step on the stored
item: a concurrent GetItem can see an item that exists but has none of its attributes yet (seen:
a sync record read without `invoice_id` while the router was creating it). Real DynamoDB never
shows a half-applied write, so DynamoDB requests are serialized here. Other services (SQS long
polls above all) stay concurrent.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class AtomicDynamoDB:
    """WSGI middleware: one DynamoDB request at a time, response body included."""

    def __init__(self, app: WsgiApp) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith("DynamoDB_"):
            return self._app(environ, start_response)
        with self._lock:
            return list(self._app(environ, start_response))


class _QuietRequestHandler(MotoRequestHandler):
    """No access-log line per AWS call: the local stack's own output stays readable."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


class LocalMotoServer(ThreadedMotoServer):
    """ThreadedMotoServer whose app is wrapped in `AtomicDynamoDB` (same start/stop/get_host_and_port)."""

    def _server_entry(self) -> None:  # mirrors ThreadedMotoServer._server_entry (moto 5) plus the wrapper
        app = AtomicDynamoDB(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(self._ip_address, self._port, app, True, request_handler=_QuietRequestHandler)
        self._server_ready_event.set()
        self._server.serve_forever()
