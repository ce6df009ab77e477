"""`downbeat invoke` against a running stack: the stack's settings, this process's own secrets."""

from __future__ import annotations

import os
from typing import Any

import pytest

import local.invoke
from local.doubles import LOCAL_STRIPE_KEY, LOCAL_WEBHOOK_SECRET
from local.http_server import LOCAL_API_TOKEN
from local.invoke import invoke_against_stack, own_secrets
from local.resources import FunctionSpec, find_function

WITHHELD = ["API_TOKEN_SECRET_NAME", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
            "DOWNBEAT_API_TOKEN", "STRIPE_API_KEY", "STRIPE_SECRET_NAME", "WEBHOOK_SECRET"]  # fmt: skip


def test_withheld_secrets_come_from_this_environment_else_the_local_defaults() -> None:
    assert own_secrets(WITHHELD, {}) == {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "DOWNBEAT_API_TOKEN": LOCAL_API_TOKEN,
        "STRIPE_API_KEY": LOCAL_STRIPE_KEY,
        "WEBHOOK_SECRET": LOCAL_WEBHOOK_SECRET,  # what the local webhook receiver verifies with
    }  # the names of the stack's own secrets stay unset: a handler never reads the stack's secret
    mine = {"DOWNBEAT_API_TOKEN": "my-token-1234", "STRIPE_API_KEY": "sk_test_mine", "WEBHOOK_SECRET": "whsec_mine"}
    mine |= {"AWS_ACCESS_KEY_ID": "AKIAMINE", "AWS_SECRET_ACCESS_KEY": "my-secret"}
    assert own_secrets(WITHHELD, mine) == mine  # and no dummy session token beside a key pair of one's own


def test_invoke_against_the_stack_runs_with_its_settings_and_own_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = find_function("stripe_sync")
    assert spec is not None
    seen: dict[str, str] = {}

    def call_handler(spec: FunctionSpec, event: Any, region: str) -> Any:
        seen.update(os.environ)
        return {"ok": True}

    monkeypatch.setattr(local.invoke, "call_handler", call_handler)
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_from_my_shell")
    monkeypatch.setenv("STRIPE_SECRET_NAME", "left-over-from-elsewhere")
    settings = {"TABLE_NAME": "downbeat-local-DownbeatTable", "STRIPE_API_BASE": "http://127.0.0.1:1"}
    assert invoke_against_stack(spec, {}, settings, ["STRIPE_API_KEY", "STRIPE_SECRET_NAME"]) == {"ok": True}
    assert seen["TABLE_NAME"] == "downbeat-local-DownbeatTable"
    assert seen["STRIPE_API_KEY"] == "sk_test_from_my_shell"
    assert seen["STRIPE_SECRET_NAME"] == "left-over-from-elsewhere"  # this environment's own value, as given
    assert os.environ["STRIPE_API_KEY"] == "sk_test_from_my_shell"  # restored after
    assert "TABLE_NAME" not in os.environ or os.environ["TABLE_NAME"] != "downbeat-local-DownbeatTable"
