"""The API over a real socket: `downbeat local` (LocalStack) and a small JSON client for it.

Tests start one stack per module (`running_local_api`), create what they need through the API
and, where the API has no write path (invoices, sync status), through the stack's own store.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from local.stack import LocalStack, StackOptions
from shared.adapters.dynamodb import DynamoDBStore

TOKEN = "test-token-4f8a1c"
USER_AGENT = "downbeat-tests/1.0"


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]

    @property
    def data(self) -> Any:
        assert self.status == 200, (self.status, self.body)
        return self.body["data"]

    def error(self) -> tuple[int, str | None]:
        """(status, field) of an error reply, after checking it has the one error shape."""
        assert set(self.body) == {"message", "field"}, self.body
        assert isinstance(self.body["message"], str)
        assert self.body["message"]
        return self.status, self.body["field"]


class ApiClient:
    def __init__(self, base_url: str, token: str = TOKEN) -> None:
        self.base_url = base_url
        self.token = token

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        authorization: str | None = "default",
        user_agent: str = USER_AGENT,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        sent: dict[str, str] = {"User-Agent": user_agent, **(headers or {})}
        if authorization == "default":
            sent["Authorization"] = f"Bearer {self.token}"
        elif authorization is not None:
            sent["Authorization"] = authorization
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        if data is not None:
            sent.setdefault("Content-Type", "application/json")
        request = urllib.request.Request(self.base_url + path, data=data, method=method, headers=sent)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, payload, reply_headers = response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as error:
            status, payload, reply_headers = error.code, error.read(), dict(error.headers)
        return Reply(status, json.loads(payload) if payload else None, reply_headers)

    def get(self, path: str, **kwargs: Any) -> Reply:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Reply:
        return self.call("POST", path, body, **kwargs)


@dataclass
class LocalApi:
    stack: LocalStack
    client: ApiClient

    @property
    def url(self) -> str:
        return self.stack.url

    @property
    def store(self) -> DynamoDBStore:
        assert self.stack.resources is not None
        return DynamoDBStore(self.stack.clients.dynamodb, self.stack.resources.table_name)


@contextmanager
def running_local_api() -> Iterator[LocalApi]:
    options = StackOptions(port=0, run_schedules=False, environ={"DOWNBEAT_API_TOKEN": TOKEN})
    with LocalStack(options) as stack:
        yield LocalApi(stack, ApiClient(stack.url))
