"""The webhook's Entra ID token check (PyJWT + its JWKS client) against the double's issuer on loopback HTTPS.

The double mints tokens as Microsoft would (v1 and v2 claim sets, RS256 with the key its JWKS
serves) and, for the refusals, with one flaw each. PyJWT fetches the keys over HTTPS with the
standard library, which trusts the double's CA through `SSL_CERT_FILE`, as the stack's functions do.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Literal

import pytest
import requests
import time_machine

from local.azure_marketplace_double import AzureMarketplaceDouble
from local.entra_issuer import MARKETPLACE_APP_ID, Flaw
from shared.adapters.entra_webhook_tokens import EntraWebhookTokens, WebhookCaller, WebhookTokenRejected
from shared.ports.errors import RetryableError
from tests.azure_double import running_azure_double_fixture, trusted  # noqa: F401 - a fixture

NOW = datetime(2026, 12, 1, 10, 30, tzinfo=UTC)
KEYS = "/discovery/v2.0/keys"


@pytest.fixture
def double(running_azure_double: AzureMarketplaceDouble, monkeypatch: pytest.MonkeyPatch) -> AzureMarketplaceDouble:
    return trusted(running_azure_double, monkeypatch)


@pytest.fixture(autouse=True)
def _frozen() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


def verifier(double: AzureMarketplaceDouble) -> EntraWebhookTokens:
    return EntraWebhookTokens(double.tenant_id, double.client_id, double.url)


def bearer(double: AzureMarketplaceDouble, version: Literal[1, 2] = 1, flaw: Flaw | None = None) -> str:
    return f"Bearer {double.entra.webhook_token(double.client_id, version=version, flaw=flaw)}"


@pytest.mark.parametrize("version", [1, 2])
def test_a_token_microsoft_would_send_is_accepted_in_both_claim_sets(
    double: AzureMarketplaceDouble, version: Literal[1, 2]
) -> None:
    caller = verifier(double).verify(bearer(double, version))

    assert isinstance(caller, WebhookCaller), caller
    assert (caller.tenant_id, caller.app_id) == (double.tenant_id, MARKETPLACE_APP_ID)
    assert caller.version == f"{version}.0"
    assert caller.issuer == (
        f"https://sts.windows.net/{double.tenant_id}/" if version == 1 else f"{double.url}/{double.tenant_id}/v2.0"
    )
    assert caller.expires_at == NOW + timedelta(hours=1)


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize(
    ("flaw", "reason"),
    [
        ("wrong_key", "signature"),
        ("unknown_key", "unknown_key"),
        ("wrong_audience", "audience"),
        ("wrong_tenant", "tenant"),
        ("wrong_app", "app"),
        ("wrong_issuer", "issuer"),
        ("expired", "expired"),
        ("not_yet_valid", "not_yet_valid"),
        ("hs256", "algorithm"),
        ("none", "algorithm"),
    ],
)
def test_each_flawed_token_is_rejected_naming_what_is_wrong(
    double: AzureMarketplaceDouble, version: Literal[1, 2], flaw: Flaw, reason: str
) -> None:
    rejected = verifier(double).verify(bearer(double, version, flaw))

    assert isinstance(rejected, WebhookTokenRejected)
    assert rejected.reason == reason, rejected.message


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer   ", "Basic dXNlcjpwYXNz"])
def test_no_bearer_token_is_rejected_without_fetching_keys(double: AzureMarketplaceDouble, header: str | None) -> None:
    rejected = verifier(double).verify(header)

    assert isinstance(rejected, WebhookTokenRejected)
    assert rejected.reason == "no_token"
    assert not [r for r in double.requests if r.path.endswith(KEYS)]


def test_a_bearer_value_that_is_no_jwt_is_malformed(double: AzureMarketplaceDouble) -> None:
    rejected = verifier(double).verify("Bearer not.a-jwt")

    assert isinstance(rejected, WebhookTokenRejected)
    assert rejected.reason == "malformed"


def test_a_v1_token_with_the_v2_issuer_is_rejected(double: AzureMarketplaceDouble) -> None:
    import jwt

    claims = double.entra.claims(double.client_id, version=1) | {"iss": double.entra.v2_issuer()}
    forged = jwt.encode(claims, double.entra._key, algorithm="RS256", headers={"kid": double.entra.kid})

    rejected = verifier(double).verify(f"Bearer {forged}")

    assert isinstance(rejected, WebhookTokenRejected)
    assert rejected.reason == "issuer"


def test_a_valid_token_expires_after_its_hour_and_the_clock_skew(double: AzureMarketplaceDouble) -> None:
    header = bearer(double, 2)
    check = verifier(double)

    with time_machine.travel(NOW + timedelta(hours=1, minutes=4), tick=False):
        assert isinstance(check.verify(header), WebhookCaller)
    with time_machine.travel(NOW + timedelta(hours=1, minutes=6), tick=False):
        rejected = check.verify(header)
    assert isinstance(rejected, WebhookTokenRejected)
    assert rejected.reason == "expired"


def test_the_tenants_keys_are_fetched_once_and_cached(double: AzureMarketplaceDouble) -> None:
    check = verifier(double)

    for version in (1, 2, 1):
        assert isinstance(check.verify(bearer(double, version)), WebhookCaller)

    assert [r.path for r in double.requests if r.path.endswith(KEYS)] == [f"/{double.tenant_id}{KEYS}"]


def test_keys_that_cannot_be_fetched_are_a_retryable_error_not_a_rejection(double: AzureMarketplaceDouble) -> None:
    double.fail(503, path=f"/{double.tenant_id}{KEYS}")

    with pytest.raises(RetryableError, match="signing keys"):
        verifier(double).verify(bearer(double))


def test_the_webhook_token_control_call_mints_the_same_tokens(double: AzureMarketplaceDouble) -> None:
    minted = requests.post(f"{double.url}/_double/entra/webhook-token", json={"version": 2}, timeout=5).json()
    forged = requests.post(f"{double.url}/_double/entra/webhook-token", json={"flaw": "wrong_tenant"}, timeout=5).json()

    assert isinstance(verifier(double).verify(f"Bearer {minted['token']}"), WebhookCaller)
    rejected = verifier(double).verify(f"Bearer {forged['token']}")
    assert isinstance(rejected, WebhookTokenRejected)
    assert rejected.reason == "tenant"


def test_forged_key_ids_do_not_make_the_webhook_refetch_the_keys_each_time(double: AzureMarketplaceDouble) -> None:
    check = verifier(double)
    assert isinstance(check.verify(bearer(double)), WebhookCaller)

    reasons = {getattr(check.verify(bearer(double, flaw="unknown_key")), "reason", None) for _ in range(5)}

    assert reasons == {"unknown_key"}
    assert len([r for r in double.requests if r.path.endswith(KEYS)]) == 1
