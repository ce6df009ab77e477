"""Malformed HTTP on the local server: a JSON 4xx within seconds, never a hang, never HTML.

Spoken over raw sockets (tests/e2e/raw_http.py) to a second server on the running stack — the
same server class, the same stack behind it — whose request deadline is short, so the timeout
cases take about a second each. Each case is a class of input, with several members; the last
test checks that both servers still answer `GET /health` after all of it.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local.http_server import MAX_BODY_BYTES, LocalHttpServer, ServerLimits
from local.stack import LocalStack
from tests.e2e.raw_http import RawResponse, exchange, read_response, request

TIMEOUT = 1.0  # the short server's deadline for one request to arrive
PATHS = ("/v1/customers", "/_local/events")  # framing is checked before routing, for the API and the stack's own


@pytest.fixture(scope="module")
def port(local_stack: LocalStack) -> Iterator[int]:
    server = LocalHttpServer(local_stack, token=local_stack.api_token, limits=ServerLimits(timeout_seconds=TIMEOUT))
    server.start()
    try:
        yield int(server.url.rsplit(":", 1)[1])
    finally:
        server.stop()


@pytest.fixture(scope="module")
def bearer(local_stack: LocalStack) -> tuple[str, str]:
    return ("Authorization", f"Bearer {local_stack.api_token}")


def assert_json_error(answer: RawResponse, status: int) -> dict[str, object]:
    assert answer.status == status, (answer.status, answer.body[:300])
    assert answer.headers.get("content-type") == "application/json", answer.headers
    assert not answer.body.lstrip().startswith(b"<"), answer.body[:100]
    body = answer.json()
    assert isinstance(body, dict)
    assert isinstance(body["message"], str)
    assert body["message"]
    assert body["field"] is None
    return body


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    "length", ["-1", "abc", "1.5", "+5", "0x10", "1e3", "1_0", "\u0663", "\uff15", "5, 5", "", "5 5", "\t"]
)  # fmt: skip
def test_a_content_length_that_is_not_a_number_of_bytes_is_400(port: int, path: str, length: str) -> None:
    answer = exchange(port, request("POST", path, [("Content-Length", length)]))
    assert "Content-Length" in str(assert_json_error(answer, 400)["message"])


@pytest.mark.parametrize("lengths", [["5", "6"], ["5", "5"], ["0", "12"]])
def test_more_than_one_content_length_is_400(port: int, lengths: list[str]) -> None:
    headers = [("Content-Length", value) for value in lengths]
    assert_json_error(exchange(port, request("POST", "/v1/customers", headers, b"{}")), 400)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("length", [str(MAX_BODY_BYTES + 1), str(10**12), "9" * 5000, "0" * 100 + str(10**9)])
def test_a_body_over_the_limit_is_413_before_a_byte_of_it_is_read(port: int, path: str, length: str) -> None:
    # No body is sent: a server that tried to read it would answer 408 after its deadline, not 413.
    assert_json_error(exchange(port, request("POST", path, [("Content-Length", length)])), 413)


def test_a_body_over_the_limit_that_is_sent_all_the_same_gets_its_413_not_a_reset(port: int) -> None:
    body = b"x" * (MAX_BODY_BYTES + 100_000)
    answer = exchange(port, request("POST", "/v1/customers", [("Content-Length", str(len(body)))], body))
    assert_json_error(answer, 413)
    assert answer.headers["connection"] == "close"


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
def test_a_body_method_without_content_length_is_411(port: int, path: str, method: str) -> None:
    assert_json_error(exchange(port, request(method, path)), 411)


@pytest.mark.parametrize(
    ("headers", "status"),
    [([("Transfer-Encoding", "chunked")], 411), ([("Transfer-Encoding", "gzip, chunked")], 411),
     ([("Transfer-Encoding", "chunked"), ("Content-Length", "5")], 400)],
)  # fmt: skip
def test_transfer_encoding_is_not_taken(port: int, headers: list[tuple[str, str]], status: int) -> None:
    answer = exchange(port, request("POST", "/v1/customers", headers, b"5\r\nhello\r\n0\r\n\r\n"))
    assert_json_error(answer, status)
    assert answer.headers["connection"] == "close"  # the chunks are never read as a next request


@pytest.mark.parametrize("stalls", ["body", "control body", "headers", "request line"])
def test_a_request_that_stalls_is_408_once_its_deadline_passes(port: int, bearer: tuple[str, str], stalls: str) -> None:
    sent = {
        "body": request("POST", "/v1/customers", [("Content-Length", "10")], b"abc"),
        "control body": request(
            "POST", "/_local/events", [bearer, ("Content-Type", "application/json"), ("Content-Length", "100")], b"{"
        ),
        "headers": b"POST /v1/customers HTTP/1.1\r\nHost: localhost\r\n",  # headers that never end
        "request line": b"GET /hea",
    }[stalls]
    answer = exchange(port, sent)
    assert_json_error(answer, 408)
    assert TIMEOUT * 0.9 <= answer.elapsed < TIMEOUT + 10
    assert answer.headers["connection"] == "close"


def test_a_request_trickled_a_byte_at_a_time_gets_408_at_the_deadline_for_the_whole_request(port: int) -> None:
    whole = request("GET", "/health")
    # A byte every 0.1 s: no single read waits long, but the request takes 4 s to arrive.
    answer = exchange(port, [whole[i : i + 1] for i in range(len(whole))], pause=0.1)
    assert_json_error(answer, 408)
    assert TIMEOUT * 0.9 <= answer.elapsed < TIMEOUT + 2


def test_an_idle_connection_is_closed_without_an_answer_after_the_deadline(port: int) -> None:
    answer = exchange(port, b"")
    assert answer.status is None
    assert TIMEOUT * 0.9 <= answer.elapsed < TIMEOUT + 10


@pytest.mark.parametrize(
    ("sent", "status"),
    [
        (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: localhost\r\n\r\n", 414),
        (request("GET", "/health", [("X-Big", "a" * 70_000)]), 431),
        (request("GET", "/health", [(f"X-{i}", "1") for i in range(101)]), 431),
    ],
    ids=["request line", "header line", "header count"],
)
def test_an_oversized_request_line_or_header_is_a_json_414_or_431(port: int, sent: bytes, status: int) -> None:
    assert_json_error(exchange(port, sent), status)


@pytest.mark.parametrize(
    ("line", "status"),
    [("GARBAGE", 400), ("GET /health HTTP/1.1 extra", 400), ("GET /health HTTP/x", 400), ("GET /health HTTP/1", 400),
     ("GET /health", 400), ("GET", 400), ("G(T /health HTTP/1.1", 400), ("GET * HTTP/1.1", 400),
     ("GET health HTTP/1.1", 400), ("GET /health HTTP/9.9", 505), ("GET /health HTTP/2.0", 505)],
)  # fmt: skip
def test_a_malformed_request_line_is_answered_in_json_with_a_status_line(port: int, line: str, status: int) -> None:
    # HTTP/0.9 ("GET /health") would be answered by the stdlib with a bare body: refused here, with a status line.
    assert_json_error(exchange(port, f"{line}\r\nHost: localhost\r\n\r\n".encode()), status)


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [("GET", "/_local/events", "POST"), ("DELETE", "/_local/events", "POST"), ("OPTIONS", "/_local/events", "POST"),
     ("GET", "/_local/trigger/alert_evaluator", "POST"), ("GET", "/_local/seed", "POST"),
     ("POST", "/_local/dlq", "GET, HEAD"), ("PUT", "/_local/env/api", "GET, HEAD"),
     ("DELETE", "/_local/functions", "GET, HEAD"), ("POST", "/health", "GET, HEAD"), ("PUT", "/health", "GET, HEAD"),
     ("BREW", "/health", "GET, HEAD")],
)  # fmt: skip
def test_a_known_path_with_another_method_is_405_with_allow(
    port: int, bearer: tuple[str, str], method: str, path: str, allow: str
) -> None:
    headers = [bearer, ("Content-Length", "0"), ("Content-Type", "application/json")]
    answer = exchange(port, request(method, path, headers))
    assert_json_error(answer, 405)
    assert answer.headers["allow"] == allow


@pytest.mark.parametrize(
    "path", ["/_local/nothing", "/_local/env/", "/_local/env", "/_local/trigger/a/b", "/_local", "/_local/", "/nowhere"]
)
def test_an_unknown_path_is_a_json_404(port: int, bearer: tuple[str, str], path: str) -> None:
    assert_json_error(exchange(port, request("GET", path, [bearer])), 404)


def test_expect_100_continue_waits_for_the_checks_before_the_body(port: int, bearer: tuple[str, str]) -> None:
    body = b'{"source": "not.a.source.of.ours", "detail-type": "x", "detail": {}}'
    headers = [bearer, ("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    expecting = [*headers, ("Expect", "100-continue")]
    refused = exchange(port, request("POST", "/_local/events", expecting, host="evil.example"))
    assert_json_error(refused, 403)
    assert refused.interim == []  # no 100 Continue: the client never sends the body

    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        started = time.monotonic()
        connection.sendall(request("POST", "/_local/events", expecting))
        connection.sendall(body)
        answer = read_response(connection, started)
    assert answer.interim == [100]
    assert answer.status == 200
    assert answer.json()["rules"] == []


def test_a_kept_alive_connection_serves_one_request_after_another(port: int) -> None:
    answers = []
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        for method in ("GET", "HEAD"):
            connection.sendall(request(method, "/health"))
            answers.append(read_response(connection, time.monotonic(), body=method != "HEAD"))
    assert [a.status for a in answers] == [200, 200]
    assert answers[0].json() == {"status": "ok"}
    assert answers[1].headers["content-length"] == "16"


def test_one_empty_line_before_a_request_is_ignored(port: int) -> None:
    # Some clients end a body with an extra CRLF; RFC 9112 asks servers to skip it.
    assert exchange(port, b"\r\n" + request("GET", "/health")).json() == {"status": "ok"}


def test_head_and_absolute_form_targets(port: int) -> None:
    head = exchange(port, request("HEAD", "/health"))
    assert head.status == 200
    assert head.body == b""
    absolute = exchange(port, request("GET", f"http://localhost:{port}/health"))
    assert absolute.json() == {"status": "ok"}


printable_latin1 = st.characters(codec="latin-1", exclude_categories=["Cc"])


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(length=st.text(printable_latin1, max_size=14))
def test_any_content_length_is_a_body_length_or_a_json_4xx(port: int, length: str) -> None:
    digits = length.strip(" \t")  # HTTP's optional whitespace only: a no-break space is not it
    readable = digits.isascii() and digits.isdigit()
    if readable and int(digits) <= MAX_BODY_BYTES:
        body = b"x" * int(digits)  # a length that can be honoured: send it, whatever the route says
        answer = exchange(port, request("POST", "/health", [("Content-Length", length)], body))
        assert_json_error(answer, 405)
        return
    answer = exchange(port, request("POST", "/v1/customers", [("Content-Length", length)]))
    assert_json_error(answer, 413 if readable else 400)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(line=st.text(st.characters(codec="latin-1", exclude_characters="\r\n"), max_size=60))
def test_any_request_line_gets_a_json_answer_or_none(port: int, line: str) -> None:
    answer = exchange(port, f"{line}\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode("latin-1"))
    if answer.status is None:  # a blank line, which is no request: closed with nothing to answer
        assert not line.encode("latin-1").split()
        return
    assert 400 <= answer.status < 500 or answer.status == 505, (line, answer.status)
    assert answer.headers.get("content-type") == "application/json"


def test_both_servers_still_answer_health_after_all_of_it(port: int, local_stack: LocalStack) -> None:
    for url_port in (port, int(local_stack.url.rsplit(":", 1)[1])):
        assert exchange(url_port, request("GET", "/health")).json() == {"status": "ok"}
