"""The Azure double for integration tests: one per test module, reset for each test, trusted the
way the stack's functions trust it (`REQUESTS_CA_BUNDLE` for requests, `SSL_CERT_FILE` for the
standard library PyJWT fetches keys with). A module imports `running_azure_double_fixture`
(registered as the fixture `running_azure_double`) and calls `trusted` from its own per-test fixture."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.azure_marketplace_double import AzureMarketplaceDouble


@pytest.fixture(scope="module", name="running_azure_double")
def running_azure_double_fixture() -> Iterator[AzureMarketplaceDouble]:
    with AzureMarketplaceDouble() as double:
        yield double


def trusted(double: AzureMarketplaceDouble, monkeypatch: pytest.MonkeyPatch) -> AzureMarketplaceDouble:
    double.reset()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(double.ca_bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(double.ca_bundle))
    return double
