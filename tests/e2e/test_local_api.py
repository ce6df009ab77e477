"""The local API: real sockets → HTTP API payload 2.0 events → the API function's handler."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from local.stack import LocalStack


def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {
        "statusCode": 201,
        "headers": {"Content-Type": "application/json", "X-Echo": "yes"},
        "cookies": ["session=abc; Path=/"],
        "body": json.dumps(event),
    }


def test_health(local_stack: LocalStack) -> None:
    with urllib.request.urlopen(local_stack.url + "/health", timeout=5) as response:
        assert json.loads(response.read()) == {"status": "ok"}


def test_a_request_becomes_the_payload_2_event_and_the_response_comes_back(local_stack: LocalStack) -> None:
    request = urllib.request.Request(
        local_stack.url + "/v1/customers?limit=2&tag=a&tag=b",
        data=b'{"name": "Acme"}',
        method="POST",
        headers={"User-Agent": "e2e-test/1.0", "Cookie": "a=1; b=2", "Content-Type": "application/json"},
    )
    with local_stack.override_handler("ApiFunction", echo), urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 201
        assert response.headers["X-Echo"] == "yes"
        assert response.headers["Set-Cookie"] == "session=abc; Path=/"
        event = json.loads(response.read())

    assert event["version"] == "2.0"
    assert event["routeKey"] == "$default"
    assert event["rawPath"] == "/v1/customers"
    assert event["rawQueryString"] == "limit=2&tag=a&tag=b"
    assert event["queryStringParameters"] == {"limit": "2", "tag": "a,b"}
    assert event["cookies"] == ["a=1", "b=2"]
    assert event["headers"]["user-agent"] == "e2e-test/1.0"
    assert "cookie" not in event["headers"]
    http = event["requestContext"]["http"]
    assert http == {
        "method": "POST",
        "path": "/v1/customers",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "e2e-test/1.0",
    }
    assert event["body"] == '{"name": "Acme"}'
    assert event["isBase64Encoded"] is False


def test_an_unknown_control_endpoint_is_a_json_404(local_stack: LocalStack) -> None:
    request = urllib.request.Request(
        local_stack.url + "/_local/nothing", headers={"Authorization": f"Bearer {local_stack.api_token}"}
    )
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=5)
    assert raised.value.code == 404
    assert "no local control endpoint" in json.loads(raised.value.read())["message"]
