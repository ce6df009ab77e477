"""What the `downbeat` commands take from their command line, checked before anything runs.

Each check fails with one line that names the argument and says what it takes: an argparse
`type` raises `argparse.ArgumentTypeError` (argparse exits 2), the rest raise `UsageError`
(the command exits 2). Nothing here prints a traceback or reads more than it was pointed at.
"""

from __future__ import annotations

import argparse
import json
import re
import stat
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

MAX_PORT = 65535
MAX_VISIBILITY_SECONDS = 43200  # SQS's VisibilityTimeout limit: 12 hours
_DIGITS = re.compile(r"[0-9]+")  # ASCII only: int() would also read "٣" and "1_0"


class UsageError(Exception):
    """Bad input from the user: exit code 2."""


def shown(text: str) -> str:
    """`text` as it can be printed on one line: quoted with escapes when it holds anything unprintable."""
    return text if text.isprintable() and text.strip() == text and text else ascii(text)


def whole_number(text: str, *, low: int, high: int, what: str, hint: str = "") -> int:
    if not _DIGITS.fullmatch(text) or not low <= int(text) <= high:
        raise argparse.ArgumentTypeError(f"{shown(text)} is not {what}: give a whole number from {low} to {high}{hint}")
    return int(text)


def port_number(text: str) -> int:
    """`--port`: 0 to 65535 (0 picks a free port)."""
    return whole_number(text, low=0, high=MAX_PORT, what="a port", hint=" (0 picks a free one)")


def visibility_seconds(text: str) -> int:
    """`--retry-visibility`: 0 to 43200 seconds, SQS's own range for a visibility timeout."""
    return whole_number(text, low=0, high=MAX_VISIBILITY_SECONDS, what="a number of seconds")


def api_base_url(text: str) -> str:
    """`--api` / DOWNBEAT_API_URL: http(s)://HOST[:PORT] with no path, query or credentials."""
    problem = _url_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(
            f"{shown(text)} is not the local stack's URL ({problem}); give http://HOST:PORT, e.g. http://127.0.0.1:8787"
        )
    parts = urlsplit(text)
    return f"{parts.scheme.lower()}://{parts.netloc}"


def _url_problem(text: str) -> str | None:
    if not text or not text.isprintable() or any(c.isspace() for c in text):
        return "empty, or holds spaces or control characters"
    parts = urlsplit(text)
    if parts.scheme.lower() not in {"http", "https"}:
        return "it must start with http:// or https://"
    if not parts.hostname:
        return "no host"
    if parts.username is not None or parts.password is not None:
        return "credentials do not go in the URL: set DOWNBEAT_API_TOKEN"
    try:
        port = parts.port
    except ValueError:
        return "the port is not a number from 1 to 65535"
    if port == 0:
        return "port 0 is not a port to connect to"
    if parts.path not in {"", "/"} or parts.query or parts.fragment or text.endswith(("?", "#")):
        return "no path, query or fragment: only the scheme, host and port"
    return None


def read_json_file(path: str, *, what: str = "") -> Any:
    """The JSON document in the regular file (or pipe) at `path`; UsageError naming the problem.

    A UTF-8 byte-order mark is allowed. Directories, devices and sockets are refused before a
    byte is read (reading /dev/zero would never end).
    """
    label = f"{what} {shown(path)}".strip()
    try:
        mode = Path(path).stat().st_mode
    except FileNotFoundError:
        raise UsageError(f"{label}: no such file") from None
    except OSError as error:
        raise UsageError(f"{label}: cannot read it ({error.strerror or error})") from None
    if stat.S_ISDIR(mode):
        raise UsageError(f"{label} is a directory, not a JSON file")
    if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
        raise UsageError(f"{label} is not a regular file")
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise UsageError(f"{label}: cannot read it ({error.strerror or error})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise UsageError(
            f"{label} is not UTF-8 text (byte 0x{data[error.start]:02x} at offset {error.start})"
        ) from None
    try:
        return json.loads(text)
    except RecursionError:
        raise UsageError(f"{label} nests JSON too deeply to read") from None
    except ValueError as error:
        raise UsageError(f"{label} is not JSON ({error})") from None
