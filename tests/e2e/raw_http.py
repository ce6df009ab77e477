"""HTTP/1.1 spoken over a raw socket: requests no client library would send, answers read as they come.

    answer = exchange(port, request("POST", "/_local/events", [("Content-Length", "-1")]))
    answer.status, answer.headers["content-type"], answer.json(), answer.elapsed

`exchange` sends the bytes (or each chunk of an iterable, with a pause between, from a thread)
and reads one response: the status line, the headers and Content-Length bytes of body (none for
HEAD) — it does not wait for the connection to close. A connection closed before any answer gives `status` None.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

READ_TIMEOUT_SECONDS = 30.0  # only a broken server gets near this: every case answers within seconds


@dataclass
class RawResponse:
    status: int | None
    reason: str = ""
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased names
    body: bytes = b""
    elapsed: float = 0.0  # seconds from the first byte sent to the whole answer read
    interim: list[int] = field(default_factory=list)  # 1xx statuses before the answer

    def json(self) -> Any:
        return json.loads(self.body)


def request(
    method: str,
    target: str,
    headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
    *,
    host: str | None = "localhost",
    version: str = "HTTP/1.1",
) -> bytes:
    """One request's bytes; `host` None sends no Host header. Header values are sent as UTF-8."""
    lines = [f"{method} {target} {version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    lines.extend(f"{name}: {value}" for name, value in headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body


def exchange(port: int, data: bytes | Iterable[bytes], *, pause: float = 0.0) -> RawResponse:
    """Send `data` (chunks `pause` seconds apart, from a thread, while the answer is awaited), read one answer."""
    chunks = [data] if isinstance(data, bytes) else list(data)
    head_request = b"".join(chunks).startswith(b"HEAD ")
    with socket.create_connection(("127.0.0.1", port), timeout=READ_TIMEOUT_SECONDS) as connection:
        started = time.monotonic()
        sender = threading.Thread(target=_send_all, args=(connection, chunks, pause), daemon=True)
        sender.start()
        if not pause:
            sender.join()
        answer = read_response(connection, started, body=not head_request)
        sender.join(timeout=READ_TIMEOUT_SECONDS)
        return answer


def _send_all(connection: socket.socket, chunks: list[bytes], pause: float) -> None:
    for index, chunk in enumerate(chunks):
        if index and pause:
            time.sleep(pause)  # the client's own pace (a slow sender), not a wait for the server
        try:
            connection.sendall(chunk)
        except OSError:  # the server has answered and closed: what it said is read all the same
            return


def read_response(connection: socket.socket, started: float, *, body: bool = True) -> RawResponse:
    """The next answer on `connection` (1xx interim answers collected on the way)."""
    buffer = b""
    interim: list[int] = []
    while True:
        while b"\r\n\r\n" not in buffer:
            chunk = _recv(connection)
            if not chunk:
                if buffer:
                    raise AssertionError(f"the connection closed in the middle of an answer: {buffer[:200]!r}")
                return RawResponse(None, elapsed=time.monotonic() - started, interim=interim)
            buffer += chunk
        head, _, buffer = buffer.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        version, status, *reason = status_line.split(" ", 2)
        assert version.startswith("HTTP/1."), f"not an HTTP/1.x status line: {status_line!r}"
        if 100 <= int(status) < 200:
            interim.append(int(status))
            continue
        headers: dict[str, str] = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            key = name.strip().lower()
            headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
        length = int(headers.get("content-length", "0")) if body else 0  # a HEAD answer has none
        while len(buffer) < length:
            chunk = _recv(connection)
            if not chunk:
                break
            buffer += chunk
        return RawResponse(int(status), " ".join(reason), headers, buffer[:length], time.monotonic() - started, interim)


def _recv(connection: socket.socket) -> bytes:
    try:
        return connection.recv(65536)
    except ConnectionResetError:
        return b""
