"""The stack's control endpoints are closed to other origins: loopback Host, the API token, JSON only.

What a web page in the developer's browser can send to 127.0.0.1 — a form post (text/plain, no
token, a foreign Origin) or, after DNS rebinding, any request under a foreign Host — is refused
before anything runs; nothing it sends reaches the bus. `/_local/env/<function>` never serves a
secret. Raw sockets (tests/e2e/raw_http.py), so Host and Origin are exactly what the test says.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from local.stack import LocalStack
from shared.adapters.dynamodb import DynamoDBStore
from tests.e2e.helpers import poll_until, sample_event
from tests.e2e.raw_http import RawResponse, exchange, request
from tests.e2e.test_local_http_framing import assert_json_error

FOREIGN_HOSTS = [
    "evil.example", "evil.example:{port}", "localhost.evil.example", "127.0.0.1.nip.io", "localhost.",
    "0.0.0.0", "::1", "[::ffff:127.0.0.1]", "10.0.0.1:{port}", "user@localhost", "localhost:99999", "",
]  # fmt: skip
LOOPBACK_HOSTS = ["localhost", "LOCALHOST:{port}", "127.0.0.1", "127.0.0.1:{port}", "[::1]", "[::1]:{port}"]
# Every control endpoint, with a request that it would serve (given the right Host and token).
CONTROL_REQUESTS = [
    ("GET", "/_local/functions", None),
    ("GET", "/_local/dlq", None),
    ("GET", "/_local/env/ApiFunction", None),
    ("POST", "/_local/events", {"source": "not.ours", "detail-type": "x", "detail": {}}),
    ("POST", "/_local/seed", {}),
    ("POST", "/_local/trigger/alert_evaluator", {}),
    ("POST", "/_local/redrive/RouterDLQ", {"dry_run": True}),
    ("GET", "/_local/claim-check-bucket", None),
    ("POST", "/_local/stripe/pay", {"invoice": "in_no_such_invoice"}),
]


def port_of(stack: LocalStack) -> int:
    return int(stack.url.rsplit(":", 1)[1])


def control(
    stack: LocalStack,
    method: str,
    path: str,
    body: Any = None,
    *,
    host: str | None = "localhost",
    token: str | None = "",
    headers: list[tuple[str, str]] | None = None,
    content_type: str | None = "application/json",
) -> RawResponse:
    """A control request as the CLI sends it, but for what the arguments change."""
    data = b"" if body is None else json.dumps(body).encode()
    sent: list[tuple[str, str]] = []
    if token is not None:
        sent.append(("Authorization", f"Bearer {token or stack.api_token}"))
    if method in {"POST", "PUT", "PATCH"} or data:
        sent.append(("Content-Length", str(len(data))))
        if content_type is not None:
            sent.append(("Content-Type", content_type))
    sent.extend(headers or [])
    return exchange(port_of(stack), request(method, path, sent, data, host=host))


@pytest.mark.parametrize("host", LOOPBACK_HOSTS)
def test_a_loopback_host_is_served(local_stack: LocalStack, host: str) -> None:
    answer = control(local_stack, "GET", "/_local/functions", host=host.format(port=port_of(local_stack)))
    assert answer.status == 200, answer.body
    assert {f["logical_id"] for f in answer.json()["functions"]} >= {"ApiFunction", "InvoiceRouterFunction"}


@pytest.mark.parametrize("host", FOREIGN_HOSTS)
@pytest.mark.parametrize(("method", "path", "body"), [*CONTROL_REQUESTS, ("GET", "/health", None)])
def test_a_foreign_host_is_403_for_every_control_endpoint_and_health(
    local_stack: LocalStack, host: str, method: str, path: str, body: Any
) -> None:
    answer = control(local_stack, method, path, body, host=host.format(port=port_of(local_stack)))
    assert "localhost" in str(assert_json_error(answer, 403)["message"])


@pytest.mark.parametrize(
    "variant",
    ["no token", "wrong token", "bad length", "unknown route", "text/plain", "no Host", "two Hosts", "absolute form"],
)
def test_a_foreign_host_is_403_whatever_else_the_request_says(local_stack: LocalStack, variant: str) -> None:
    evil = "evil.example"
    answer = {
        "no token": lambda: control(local_stack, "GET", "/_local/dlq", host=evil, token=None),
        "wrong token": lambda: control(local_stack, "GET", "/_local/dlq", host=evil, token="nope-nope-nope"),
        "bad length": lambda: control(
            local_stack, "POST", "/_local/events", host=evil, headers=[("Content-Length", "-1")]
        ),
        "unknown route": lambda: control(local_stack, "DELETE", "/_local/nothing", host=evil),
        "text/plain": lambda: control(local_stack, "POST", "/_local/events", {}, host=evil, content_type="text/plain"),
        "no Host": lambda: control(local_stack, "GET", "/_local/dlq", host=None),
        "two Hosts": lambda: control(local_stack, "GET", "/_local/dlq", headers=[("Host", evil)]),
        "absolute form": lambda: exchange(
            port_of(local_stack),
            request("GET", f"http://{evil}/_local/dlq", [("Authorization", f"Bearer {local_stack.api_token}")]),
        ),
    }[variant]()
    assert_json_error(answer, 403)


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token-wrong-token", "Token {token}", "Basic {token}", "Bearer", "{token}", "Bearer  "],
)
@pytest.mark.parametrize(("method", "path", "body"), CONTROL_REQUESTS)
def test_without_the_api_token_every_control_endpoint_is_401(
    local_stack: LocalStack, authorization: str | None, method: str, path: str, body: Any
) -> None:
    headers = [] if authorization is None else [("Authorization", authorization.format(token=local_stack.api_token))]
    answer = control(local_stack, method, path, body, token=None, headers=headers)
    assert_json_error(answer, 401)
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert local_stack.api_token not in answer.body.decode()


def test_two_authorization_headers_are_401_even_when_one_is_right(local_stack: LocalStack) -> None:
    answer = control(local_stack, "GET", "/_local/dlq", headers=[("Authorization", "Bearer wrong-wrong-wrong")])
    assert_json_error(answer, 401)


@pytest.mark.parametrize(
    ("origin", "status"),
    [("http://evil.example", 403), ("null", 403), ("https://localhost.evil.example", 403), ("file://", 403),
     ("http://localhost:3000", 200), ("http://127.0.0.1:8787", 200), ("http://[::1]", 200)],
)  # fmt: skip
def test_an_origin_other_than_loopback_is_403(local_stack: LocalStack, origin: str, status: int) -> None:
    answer = control(local_stack, "GET", "/_local/dlq", headers=[("Origin", origin)])
    assert answer.status == status, answer.body
    if status != 200:
        assert_json_error(answer, status)


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data",
     "application/jsonx", "application/json-seq", "application/json; charset=latin-1", "text/json"],
)  # fmt: skip
def test_a_body_that_is_not_application_json_is_415(local_stack: LocalStack, content_type: str | None) -> None:
    answer = control(local_stack, "POST", "/_local/events", sample_event(), content_type=content_type)
    assert_json_error(answer, 415)
    assert answer.headers["accept"] == "application/json"


@pytest.mark.parametrize(
    "content_type", ["application/json", "Application/JSON; charset=utf-8", 'application/json;charset="UTF-8"']
)
def test_application_json_with_or_without_a_utf8_charset_is_taken(local_stack: LocalStack, content_type: str) -> None:
    answer = control(
        local_stack,
        "POST",
        "/_local/events",
        {"source": "x", "detail-type": "y", "detail": {}},
        content_type=content_type,
    )
    assert answer.status == 200, answer.body


def test_a_web_pages_form_post_never_reaches_the_bus(local_stack: LocalStack, store: DynamoDBStore) -> None:
    """The browser attack as a page can make it: text/plain, a foreign Origin, no token — and each alone."""
    attempts = {
        "as a page sends it": {"token": None, "content_type": "text/plain", "headers": [("Origin", "http://evil.example")]},
        "text/plain with the token": {"content_type": "text/plain"},
        "a foreign origin with the token": {"headers": [("Origin", "http://evil.example")]},
        "no token": {"token": None},
        "rebound host": {"host": "evil.example"},
    }  # fmt: skip
    injected = {}
    for name, changes in attempts.items():
        event = sample_event()
        answer = control(local_stack, "POST", "/_local/events", event, **changes)  # type: ignore[arg-type]
        assert answer.status in {401, 403, 415}, (name, answer.status, answer.body)
        injected[name] = event["detail"]["id"]
    # The router takes events in arrival order: once one sent after them is stored, none of them is.
    marker = sample_event()
    assert control(local_stack, "POST", "/_local/events", marker).status == 200
    poll_until(lambda: store.get_invoice(marker["detail"]["id"]), what="the event sent after the refused ones")
    assert {name: store.get_invoice(invoice_id) for name, invoice_id in injected.items()} == dict.fromkeys(injected)


def test_env_serves_no_secret_of_any_function(local_stack: LocalStack) -> None:
    functions = control(local_stack, "GET", "/_local/functions").json()["functions"]
    assert len(functions) >= 3
    secret_values = {local_stack.api_token, "sk_test_downbeat_local"}
    for function in functions:
        answer = control(local_stack, "GET", f"/_local/env/{function['logical_id']}")
        assert answer.status == 200
        served = answer.json()
        text = answer.body.decode()
        assert not [value for value in secret_values if value in text], function["logical_id"]
        environment = local_stack.runtime(function["logical_id"]).environment
        assert set(served["environment"]) | set(served["withheld"]) == set(environment)
        assert all(served["environment"][name] == environment[name] for name in served["environment"])
        assert {"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} <= set(served["withheld"])
    api = control(local_stack, "GET", "/_local/env/api").json()
    assert {"DOWNBEAT_API_TOKEN", "API_TOKEN_SECRET_NAME"} <= set(api["withheld"])
    stripe = control(local_stack, "GET", "/_local/env/stripe_sync").json()
    assert {"STRIPE_API_KEY", "STRIPE_SECRET_NAME"} <= set(stripe["withheld"])
    assert stripe["environment"]["STRIPE_API_BASE"].startswith("http://127.0.0.1:")


def test_health_needs_no_token_and_answers_only_get_and_head(local_stack: LocalStack) -> None:
    assert control(local_stack, "GET", "/health", token=None).json() == {"status": "ok"}
    assert control(local_stack, "HEAD", "/health", token=None).status == 200
    assert_json_error(control(local_stack, "POST", "/health", {}, token=None), 405)


def test_seed_is_idempotent_and_names_what_it_loaded(local_stack: LocalStack, store: DynamoDBStore) -> None:
    first = control(local_stack, "POST", "/_local/seed", {})
    again = control(local_stack, "POST", "/_local/seed", {})
    assert first.status == again.status == 200
    assert first.json() == again.json()
    assert first.json()["customers"] == ["cust_acme", "cust_globex"]
    assert store.get_customer("cust_acme") is not None


def test_events_answer_which_rules_took_them(local_stack: LocalStack) -> None:
    routed = control(local_stack, "POST", "/_local/events", sample_event()).json()
    assert routed["rules"] == ["InvoiceRouterFunction"]
    for source in ("not.ours", "downbeat.billing.other", "DOWNBEAT.BILLING", ""):
        envelope: dict[str, Any] = {"source": source, "detail-type": "invoice.finalized", "detail": {}}
        answer = control(local_stack, "POST", "/_local/events", envelope)
        assert answer.status in {200, 400}, answer.body  # EventBridge itself refuses an empty source
        assert answer.status == 400 or answer.json()["rules"] == [], source


def test_a_control_body_that_is_not_a_json_event_is_400(local_stack: LocalStack) -> None:
    for raw in (b"{not json", b"\xff\xfe", b"[" * 100_000 + b"]" * 100_000, b"42"):
        sent = [
            ("Authorization", f"Bearer {local_stack.api_token}"),
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(raw))),
        ]
        answer = exchange(port_of(local_stack), request("POST", "/_local/events", sent, raw))
        assert_json_error(answer, 400)


def test_the_stack_still_answers_health_after_the_hostile_requests(local_stack: LocalStack) -> None:
    marker = uuid.uuid4().hex
    assert control(local_stack, "GET", f"/health?after={marker}", token=None).json() == {"status": "ok"}
