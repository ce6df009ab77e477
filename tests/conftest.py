"""Shared fixtures. AWS is moto, in-process; nothing leaves the machine."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import boto3
import pytest
from hypothesis import settings
from moto import mock_aws

from local.template import create_table

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

TABLE_NAME = "downbeat-test"

# No per-example deadline: CI is a busy 2-core machine, and timing is for `make bench`, not tests.
# In CI the examples are derandomized so main stays reproducibly green; locally they vary.
settings.register_profile("default", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "default")


@pytest.fixture(autouse=True)
def _offline_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may reach real AWS: dummy credentials, a fixed region, no ambient endpoints."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "downbeat")
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def dynamodb(aws: None) -> DynamoDBClient:
    client = boto3.client("dynamodb")
    create_table(client, TABLE_NAME)
    return client


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The field paths the property tests broke, per model: shown whatever the capture mode."""
    from tests.hostile import COVERED

    for model, paths in sorted(COVERED.items()):
        terminalreporter.write_sep("-", f"property tests: {len(paths)} field paths of {model} fuzzed")
        terminalreporter.write_line(", ".join(sorted(paths)))
