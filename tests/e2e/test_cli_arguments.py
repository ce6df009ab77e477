"""Bad arguments to `downbeat`: one clear line on stderr and exit 2 — never a traceback, never a hang.

Each class of bad input is tried on every command that takes it: URLs (`--api`,
DOWNBEAT_API_URL), numbers (`--port`, `--retry-visibility`), files (send-event, invoke, sync and
its --config). Most run in this process; a few run `python -m local.cli` to see exactly what a
terminal shows. The stack-facing cases use the package's running stack.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from local.cli import CommandFailed, main, request_json
from local.http_server import MAX_BODY_BYTES
from local.stack import LocalStack
from tests.e2e.helpers import sample_event, write_event

REPO = Path(__file__).resolve().parents[2]
NOBODY = "http://127.0.0.1:9"  # the discard port: nothing answers there
ROUTER_EVENT = str(REPO / "events" / "invoice_router" / "finalized.json")
API_EVENT = str(REPO / "events" / "api" / "list_customers.json")


# The package's stack runs its functions in this process, on background threads: their Powertools
# log and metric lines (one JSON object a line) land in whichever test is capturing stdout when a
# poll fires, so they are taken out of what the command printed.
_STACK_OUTPUT = re.compile(r'^\{"(?:level|_aws)":.*(?:\n|$)', re.MULTILINE)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exited:  # argparse's own refusals
        code = int(exited.code or 0)
    captured = capsys.readouterr()
    return code, _STACK_OUTPUT.sub("", captured.out), captured.err


def assert_one_line_error(result: tuple[int, str, str], code: int, *words: str) -> str:
    status, out, err = result
    assert status == code, (status, out, err)
    assert out == ""
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    for word in words:
        assert word in err, (word, err)
    return err


# -- URLs ------------------------------------------------------------------------------------------------

BAD_URLS = [
    "notaurl", "127.0.0.1:8787", "ftp://127.0.0.1:8787", "http://", "http://:8787", "http://127.0.0.1:99999",
    "http://127.0.0.1:0", "http://127.0.0.1:-1", "http://127.0.0.1:abc", "http://127.0.0.1:8787/v1",
    "http://127.0.0.1:8787?x=1", "http://127.0.0.1:8787#x", "http://a b:8787", "http://u:p@127.0.0.1:8787", "",
    "http://127.0.0.1:8787\n",
]  # fmt: skip
COMMANDS_WITH_API = [
    ["send-event", "x.json"],
    ["invoke", "invoice_router", "x.json"],
    ["trigger", "x"],
    ["dlq", "list"],
]


@pytest.mark.parametrize("url", BAD_URLS)
@pytest.mark.parametrize("command", COMMANDS_WITH_API, ids=lambda c: c[0])
def test_an_api_url_that_is_not_a_stack_url_exits_2(
    url: str, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert_one_line_error(run([*command, "--api", url], capsys), 2, "--api")


@pytest.mark.parametrize("url", ["notaurl", "http://127.0.0.1:99999", "http://127.0.0.1:8787/path"])
def test_a_bad_downbeat_api_url_exits_2_naming_the_variable(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DOWNBEAT_API_URL", url)
    assert_one_line_error(run(["dlq", "list"], capsys), 2, "DOWNBEAT_API_URL")


@pytest.mark.parametrize("token", ["two words", "tab\there", "tökén", "line\nbreak"])
def test_an_api_token_no_http_header_can_carry_exits_2(
    token: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DOWNBEAT_API_TOKEN", token)
    assert_one_line_error(run(["dlq", "list", "--api", NOBODY], capsys), 2, "DOWNBEAT_API_TOKEN")


def test_urls_with_a_trailing_slash_or_capitals_are_taken(
    local_stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    for url in (local_stack.url + "/", local_stack.url.replace("http", "HTTP")):
        code, _, err = run(["dlq", "list", "--api", url], capsys)
        assert code == 0, err


# -- numbers ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("port", ["99999", "65536", "-1", "abc", "", "1.5", " 80", "\u0663", "0x50", "1_000"])
def test_a_port_outside_0_to_65535_exits_2(port: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert_one_line_error(run(["local", "--port", port], capsys), 2, "--port", "65535")


@pytest.mark.parametrize("seconds", ["-1", "43201", "x", "1e3"])
def test_a_retry_visibility_outside_sqs_range_exits_2(seconds: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert_one_line_error(run(["local", "--retry-visibility", seconds], capsys), 2, "--retry-visibility")


@pytest.mark.parametrize(
    "argv",
    [[], ["nope"], ["local", "--nope"], ["dlq"], ["send-event"], ["invoke", "invoice_router"],
     ["local", "--log-level", "LOUD"], ["send-event", "a.json", "b.json"]],
)  # fmt: skip
def test_missing_or_unknown_arguments_exit_2_on_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert_one_line_error(run(argv, capsys), 2, "error:", "--help")


# -- files -----------------------------------------------------------------------------------------------


def bad_file(kind: str, directory: Path) -> str:
    path = directory / f"{kind}.json"
    if kind == "missing":
        return str(path)
    if kind == "directory":
        path.mkdir()
    elif kind == "not UTF-8":
        path.write_bytes(b'{"source": "\xff\xfe"}')
    elif kind == "not JSON":
        path.write_text("{not json", encoding="utf-8")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "too deep":
        path.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    elif kind in {"/dev/null", "/dev/zero"}:
        return kind
    return str(path)


FILE_PROBLEMS = {
    "missing": "no such file",
    "directory": "is a directory",
    "not UTF-8": "is not UTF-8",
    "not JSON": "is not JSON",
    "empty": "is not JSON",
    "too deep": "too deeply",
    "/dev/null": "not a regular file",
    "/dev/zero": "not a regular file",  # read, it would never end
}
FILE_COMMANDS = {
    "send-event": lambda path: ["send-event", path, "--api", NOBODY],
    "invoke": lambda path: ["invoke", "invoice_router", path, "--api", NOBODY],
    "sync": lambda path: ["sync", "--dry-run", path],
    "sync --config": lambda path: ["sync", "--dry-run", ROUTER_EVENT, "--config", path],
}


@pytest.mark.parametrize("problem", list(FILE_PROBLEMS))
@pytest.mark.parametrize("command", list(FILE_COMMANDS))
def test_a_file_that_cannot_be_read_as_json_exits_2_naming_it(
    problem: str, command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = bad_file(problem, tmp_path)
    err = assert_one_line_error(run(FILE_COMMANDS[command](path), capsys), 2, FILE_PROBLEMS[problem])
    assert path in err


@pytest.mark.parametrize("command", list(FILE_COMMANDS))
def test_an_unreadable_file_exits_2(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "secret.json"
    path.write_text("{}", encoding="utf-8")

    original = Path.read_bytes

    def refuse(self: Path) -> bytes:
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return original(self)

    monkeypatch.setattr(Path, "read_bytes", refuse)  # root reads a chmod-000 file, so refuse it here
    assert_one_line_error(run(FILE_COMMANDS[command](str(path)), capsys), 2, "Permission denied", str(path))


def test_sync_of_a_file_that_is_no_json_object_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for document in ("42", '"text"', "[1, 2]", "null"):
        path = tmp_path / "doc.json"
        path.write_text(document, encoding="utf-8")
        assert_one_line_error(run(["sync", "--dry-run", str(path)], capsys), 2, "JSON object")


def test_sync_of_an_invalid_invoice_names_the_fields_on_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event = sample_event("invalid.json")
    code, out, err = run(["sync", "--dry-run", write_event(tmp_path, event)], capsys)
    assert (code, out) == (1, "")
    assert len(err.strip().splitlines()) == 1, err
    assert "detail.currency" in err


def test_a_utf8_file_with_a_byte_order_mark_is_sent(
    local_stack: LocalStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(sample_event()).encode())
    code, out, err = run(["send-event", str(path), "--api", local_stack.url], capsys)
    assert code == 0, err
    assert out.strip()


# -- the stack: not there, something else there, refusing, no rule ------------------------------------------


@pytest.mark.parametrize("argv", [["send-event", ROUTER_EVENT], ["dlq", "list"]])
def test_no_stack_is_one_line_naming_the_url_tried(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert_one_line_error(run([*argv, "--api", NOBODY], capsys), 1, NOBODY, "downbeat local")


class HtmlNotFound(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_error(404)  # the stdlib's HTML error page, as `python -m http.server` answers

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def something_else() -> Iterator[str]:
    """An HTTP server that is not a downbeat stack."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), HtmlNotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_something_else_listening_is_named_as_such(something_else: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert_one_line_error(run(["dlq", "list", "--api", something_else], capsys), 1, something_else, "something else")


def test_a_wrong_token_says_to_set_downbeat_api_token(
    local_stack: LocalStack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DOWNBEAT_API_TOKEN", "not-the-stacks-token")
    assert_one_line_error(run(["dlq", "list", "--api", local_stack.url], capsys), 1, "DOWNBEAT_API_TOKEN")


def test_send_event_warns_when_no_rule_takes_the_event(
    local_stack: LocalStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stray = {**sample_event(), "source": "acme.billing"}
    code, out, err = run(["send-event", write_event(tmp_path, stray), "--api", local_stack.url], capsys)
    assert code == 0
    assert len(without_stack_lines(out).split()) == 1  # the event id: it is on the bus
    assert "no rule on the local bus takes this event" in err
    assert "'acme.billing'" in err

    code, out, err = run(["send-event", write_event(tmp_path, sample_event()), "--api", local_stack.url], capsys)
    assert (code, err) == (0, "")


def test_invoke_seed_loads_the_demo_data_into_the_running_stack(
    local_stack: LocalStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["invoke", "invoice_router", ROUTER_EVENT, "--seed", "--api", local_stack.url], capsys)
    assert code == 0, err
    assert "demo customers and contracts are in the stack" in err
    assert json.loads(without_stack_lines(out))["outcome"] in {"queued", "duplicate"}


def without_stack_lines(out: str) -> str:
    """The CLI's own output: the stack shares this process, and its functions' threads may still be
    handling an earlier test's events, printing Powertools' one-line JSON (logs, EMF metrics) to
    the same stdout. A separate `downbeat invoke` process never sees those."""
    own = [line for line in out.splitlines() if not line.startswith(('{"_aws":', '{"level":'))]
    return "\n".join(own)


def test_invoke_of_the_api_against_the_stack_takes_the_token_from_its_own_environment(
    local_stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    # The stack withholds DOWNBEAT_API_TOKEN; the event carries the local default token, which
    # this process's environment (the package's stack runs with the default) also holds.
    code, out, err = run(["invoke", "api", API_EVENT, "--api", local_stack.url], capsys)
    assert code == 0, err
    # The stack's workers share this process: their log lines are on its stdout too.
    last = list(re.finditer(r"(?m)^\{$", out))[-1]
    response, _ = json.JSONDecoder().raw_decode(out, last.start())
    assert response["statusCode"] == 200, response
    assert "cust_acme" in response["body"]


# -- what a terminal shows ---------------------------------------------------------------------------------


def downbeat_process(*arguments: str | bytes, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    environment = {"PATH": os.environ.get("PATH", ""), "HOME": str(cwd), "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "local.cli", *arguments],
        cwd=cwd,
        env=environment,
        capture_output=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("arguments", "code"),
    [(["local", "--port", "99999"], 2), (["send-event", "--api", "notaurl", "x.json"], 2),
     (["send-event", "missing.json", "--api", NOBODY], 2), (["dlq", "list", "--api", NOBODY], 1),
     (["sync", "--dry-run", "/dev/zero"], 2), ([b"send-event", b"\xff\xfe.json", b"--api", NOBODY.encode()], 2),
     (["send-event", "two\nlines.json", "--api", NOBODY], 2)],
)  # fmt: skip
def test_a_terminal_sees_one_line_and_no_traceback(arguments: list[str | bytes], code: int, tmp_path: Path) -> None:
    result = downbeat_process(*arguments, cwd=tmp_path)
    err = result.stderr.decode("utf-8", "replace")
    assert result.returncode == code, err
    assert result.stdout == b""
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


def test_an_event_over_the_request_limit_is_refused_before_it_is_sent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event = sample_event()
    event["detail"]["padding"] = "x" * (MAX_BODY_BYTES + 1)
    # Nothing listens at NOBODY: the refusal can only come from the command itself.
    assert_one_line_error(run(["send-event", write_event(tmp_path, event), "--api", NOBODY], capsys), 1, "limit")


def test_the_stack_answers_an_oversized_body_with_413_not_a_reset(local_stack: LocalStack) -> None:
    body = {"padding": "x" * (4 * MAX_BODY_BYTES)}
    data = json.dumps(body).encode()
    request = urllib.request.Request(
        local_stack.url + "/_local/events",
        data=data,
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {local_stack.api_token}"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 413
    with pytest.raises(CommandFailed, match="limit"):
        request_json(local_stack.url, "POST", "/_local/events", body, token=local_stack.api_token)


def test_a_port_already_taken_is_one_line_and_exit_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = downbeat_process("local", "--port", port, "--no-schedules", cwd=tmp_path)
    err = result.stderr.decode("utf-8", "replace")
    assert result.returncode == 1, err
    assert f"cannot start the local stack on port {port}: Address already in use" in err
    assert "Traceback" not in err
    assert result.stdout == b""  # no ready line
