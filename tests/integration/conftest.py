"""Fixtures for the API tests that go through real sockets (`downbeat local`'s HTTP server)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.api_harness import ApiClient, LocalApi, running_local_api


@pytest.fixture(scope="module")
def local_api() -> Iterator[LocalApi]:
    """A local stack per test module (moto keeps one state per process; modules do not share it)."""
    with running_local_api() as running:
        yield running


@pytest.fixture
def api(local_api: LocalApi) -> ApiClient:
    return local_api.client
