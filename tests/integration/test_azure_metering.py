"""The real Azure metering adapter (azure-identity + requests) against the loopback HTTPS double.

The double makes its own CA at start-up; the tests trust it the way the stack's functions do,
through `REQUESTS_CA_BUNDLE`. The token comes from azure-identity's `ClientSecretCredential`
against the double's Entra-style issuer.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
import time_machine

from local.azure_marketplace_double import AzureMarketplaceDouble
from shared.adapters.azure_metering import AzureMarketplaceMetering, azure_credential
from shared.ports.errors import PermanentError, RetryableError
from shared.ports.metering import AzureBuyer, UsageRecord
from tests.azure_double import running_azure_double_fixture, trusted  # noqa: F401 - a fixture

HOUR = datetime(2026, 12, 1, 10, tzinfo=UTC)
ACTIVE, SUSPENDED, FOREIGN = "sub-active", "sub-suspended", "sub-foreign"


@pytest.fixture
def double(running_azure_double: AzureMarketplaceDouble, monkeypatch: pytest.MonkeyPatch) -> AzureMarketplaceDouble:
    running_double = trusted(running_azure_double, monkeypatch)
    for index in range(26):
        running_double.add_resource(f"sub-{index}", plan_id="gold")
    running_double.add_resource(ACTIVE, plan_id="gold")
    running_double.add_resource(SUSPENDED, plan_id="gold", state="Suspended")
    running_double.add_resource(FOREIGN, plan_id="gold", client_id=str(uuid.uuid4()))
    return running_double


@pytest.fixture(autouse=True)
def _at_half_past() -> Iterator[None]:
    with time_machine.travel(HOUR + timedelta(minutes=30), tick=False):
        yield


def adapter(double: AzureMarketplaceDouble, *, secret: str | None = None, **options: Any) -> AzureMarketplaceMetering:
    options.setdefault("max_retries", 0)
    credential = azure_credential(double.tenant_id, double.client_id, secret or double.client_secret, double.url)
    return AzureMarketplaceMetering(credential, double.url, **options)


def event(resource: str = ACTIVE, quantity: int = 100, *, at: datetime = HOUR, plan: str = "gold",
          dimension: str = "usage_fee") -> UsageRecord:  # fmt: skip
    return UsageRecord(f"rec-{resource}-{at:%d%H}", AzureBuyer(resource, plan), dimension, at, quantity)


def test_events_are_sent_as_microsoft_documents_and_accepted_with_their_usage_event_ids(
    double: AzureMarketplaceDouble,
) -> None:
    outcomes = adapter(double).meter([event(quantity=250), event("sub-1", 3)])

    assert [o.state for o in outcomes] == ["accepted", "accepted"]
    metering = [r for r in double.requests if r.path == "/api/batchUsageEvent"]
    assert [r.status for r in metering] == [200]
    assert metering[0].payload == {
        "request": [
            {"resourceId": ACTIVE, "quantity": 250, "dimension": "usage_fee",
             "effectiveStartTime": "2026-12-01T10:00:00Z", "planId": "gold"},
            {"resourceId": "sub-1", "quantity": 3, "dimension": "usage_fee",
             "effectiveStartTime": "2026-12-01T10:00:00Z", "planId": "gold"},
        ]
    }  # fmt: skip
    assert {e.usage_event_id for e in double.events()} == {o.receipt for o in outcomes}


def test_the_token_comes_from_the_issuer_once_and_is_reused(double: AzureMarketplaceDouble) -> None:
    metering = adapter(double)
    metering.meter([event()])
    metering.meter([event("sub-1")])

    paths = [r.path for r in double.requests]
    assert paths.count(f"/{double.tenant_id}/oauth2/v2.0/token") == 1
    assert paths.count("/api/batchUsageEvent") == 2


def test_a_scheme_less_authority_host_is_normalised_and_instance_discovery_stays_off(
    double: AzureMarketplaceDouble,
) -> None:
    host = double.url.removeprefix("https://")
    credential = azure_credential(double.tenant_id, double.client_id, double.client_secret, host)

    token = credential.get_token("20e940b3-4c77-4b0b-9a53-9e16a1b010a7/.default")

    assert token.token
    # Only tenant discovery and the token: MSAL asked nobody else whether the authority exists.
    assert [r.path for r in double.requests] == [
        f"/{double.tenant_id}/v2.0/.well-known/openid-configuration",
        f"/{double.tenant_id}/oauth2/v2.0/token",
    ]


def test_25_events_go_in_one_call_and_26_are_refused_before_sending(double: AzureMarketplaceDouble) -> None:
    outcomes = adapter(double).meter([event(f"sub-{i}", i + 1) for i in range(25)])
    assert [o.state for o in outcomes] == ["accepted"] * 25

    with pytest.raises(PermanentError, match="at most 25"):
        adapter(double).meter([event(f"sub-{i}", at=HOUR - timedelta(hours=1)) for i in range(26)])
    assert len(double.events()) == 25


def _raw_post(double: AzureMarketplaceDouble, body: Any, token: str | None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(
        f"{double.url}/api/batchUsageEvent",
        params={"api-version": "2018-08-31"},
        json=body,
        headers=headers,
        timeout=5,
    )


def test_the_double_refuses_a_batch_of_26_and_a_call_without_a_valid_bearer(double: AzureMarketplaceDouble) -> None:
    events = [{"resourceId": f"sub-{i}", "quantity": 1, "dimension": "usage_fee",
               "effectiveStartTime": "2026-12-01T10:00:00Z", "planId": "gold"} for i in range(26)]  # fmt: skip

    too_many = _raw_post(double, {"request": events}, double.issue_token())
    assert too_many.status_code == 400
    assert "more than 25" in too_many.json()["message"]

    assert _raw_post(double, {"request": events[:1]}, None).status_code == 401
    assert _raw_post(double, {"request": events[:1]}, "not-a-token").status_code == 401
    assert double.events() == []


def test_a_duplicate_of_the_same_quantity_is_accepted_with_the_first_events_id_and_another_quantity_is_a_conflict(
    double: AzureMarketplaceDouble,
) -> None:
    [first] = adapter(double).meter([event(quantity=300)])
    [again] = adapter(double).meter([event(quantity=300)])
    [other] = adapter(double).meter([event(quantity=301)])

    assert (first.state, again.state, other.state) == ("accepted", "accepted", "duplicate")
    assert again.receipt == first.receipt
    assert other.reason is not None
    assert "300" in other.reason
    assert "301" in other.reason
    assert [e.quantity for e in double.events()] == [300]


def test_each_per_event_status_maps_to_its_state_with_azures_message(double: AzureMarketplaceDouble) -> None:
    outcomes = adapter(double).meter([
        event("sub-unknown"),
        event(SUSPENDED),
        event(FOREIGN),
        event("sub-2", dimension="seats"),
        event("sub-3", plan="silver"),
    ])  # fmt: skip

    assert [o.state for o in outcomes] == ["not_subscribed", "not_subscribed", "not_subscribed", "failed", "failed"]
    reasons = [o.reason or "" for o in outcomes]
    assert [r.split(":")[0] for r in reasons] == [
        "ResourceNotFound",
        "ResourceNotActive",
        "ResourceNotAuthorized",
        "InvalidDimension",
        "BadArgument",
    ]
    assert "invalid" in reasons[0]
    assert double.events() == []


@pytest.mark.parametrize(
    ("now", "state"),
    [(HOUR + timedelta(hours=23, minutes=59), "accepted"), (HOUR + timedelta(hours=24), "expired")],
)
def test_an_event_older_than_24_hours_is_expired(double: AzureMarketplaceDouble, now: datetime, state: str) -> None:
    with time_machine.travel(now, tick=False):
        outcomes = adapter(double).meter([event(at=HOUR), event("sub-4", at=now.replace(minute=0))])

    # Azure judges each event: the fresh one is accepted whatever happens to the old one.
    assert [o.state for o in outcomes] == [state, "accepted"]
    if state == "expired":
        assert outcomes[0].reason is not None
        assert outcomes[0].reason.startswith("Expired")


@pytest.mark.parametrize("status", [429, 500, 503])
def test_throttling_and_server_errors_are_retryable(double: AzureMarketplaceDouble, status: int) -> None:
    double.fail(status)
    with pytest.raises(RetryableError, match=str(status)):
        adapter(double).meter([event()])
    assert double.events() == []


def test_a_bounded_retry_absorbs_one_server_error(double: AzureMarketplaceDouble) -> None:
    double.fail(503)
    [outcome] = adapter(double, max_retries=1).meter([event()])

    assert outcome.state == "accepted"
    assert [r.status for r in double.requests if r.path == "/api/batchUsageEvent"] == [503, 200]


def test_a_timeout_after_azure_applied_the_batch_is_retryable_and_resending_gets_the_same_id(
    double: AzureMarketplaceDouble,
) -> None:
    double.timeout_after_apply()
    with pytest.raises(RetryableError, match="did not answer"):
        adapter(double, timeout_seconds=0.3).meter([event(quantity=77)])
    [applied] = double.events()

    [outcome] = adapter(double).meter([event(quantity=77)])

    assert outcome.state == "accepted"
    assert outcome.receipt == applied.usage_event_id


def test_a_dropped_connection_after_apply_is_retryable(double: AzureMarketplaceDouble) -> None:
    double.drop_after_apply()
    with pytest.raises(RetryableError):
        adapter(double).meter([event()])
    assert len(double.events()) == 1


def test_a_wrong_client_secret_is_a_permanent_error_naming_the_settings(double: AzureMarketplaceDouble) -> None:
    with pytest.raises(PermanentError, match="AZURE_CLIENT_SECRET") as raised:
        adapter(double, secret="not-the-secret").meter([event()])
    assert "AADSTS7000215" in str(raised.value)
    assert "not-the-secret" not in str(raised.value)
    assert double.events() == []


def test_azure_identity_retries_one_issuer_failure_and_a_lasting_one_is_retryable(
    double: AzureMarketplaceDouble,
) -> None:
    token_path = f"/{double.tenant_id}/oauth2/v2.0/token"
    double.fail(503, path=token_path)
    [outcome] = adapter(double).meter([event()])
    assert outcome.state == "accepted"

    double.fail(503, path=token_path, times=None)
    with pytest.raises(RetryableError, match="Entra"):
        adapter(double).meter([event("sub-6")])
    assert [r.status for r in double.requests if r.path == token_path] == [503, 200, 503, 503, 503]


class _TokenFor:
    """A credential holding one token the double issued (another app's, another resource's)."""

    def __init__(self, token: str) -> None:
        self.value = token

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken(self.value, 2**40)


def test_a_token_for_another_resource_is_forbidden_and_an_expired_one_refused(double: AzureMarketplaceDouble) -> None:
    other = double.issue_token(resource="https://management.azure.com")
    with pytest.raises(PermanentError, match="403"):
        AzureMarketplaceMetering(_TokenFor(other), double.url, max_retries=0).meter([event()])

    stale = double.issue_token()
    with time_machine.travel(HOUR + timedelta(hours=2), tick=False), pytest.raises(PermanentError, match="401"):
        AzureMarketplaceMetering(_TokenFor(stale), double.url, max_retries=0).meter([event()])
    assert double.events() == []


def test_usage_events_reads_back_what_was_accepted_by_day_resource_and_dimension(
    double: AzureMarketplaceDouble,
) -> None:
    adapter(double).meter([event(quantity=5, at=HOUR - timedelta(hours=1)), event(quantity=7), event("sub-5", 2)])
    token = double.issue_token()

    def usage(**query: str) -> list[dict[str, Any]]:
        response = requests.get(
            f"{double.url}/api/usageEvents",
            params={"api-version": "2018-08-31", **query},
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        )
        assert response.status_code == 200
        rows: list[dict[str, Any]] = response.json()
        return rows

    rows = usage(usageStartDate="2026-12-01")
    by_resource = {row["usageResourceId"]: row for row in rows}
    assert by_resource[ACTIVE]["submittedQuantity"] == 12.0
    assert by_resource[ACTIVE]["submittedCount"] == 2
    assert by_resource[ACTIVE]["usageDate"] == "2026-12-01T00:00:00Z"
    assert by_resource["sub-5"]["submittedQuantity"] == 2.0
    from_ten = {row["usageResourceId"]: row["submittedQuantity"] for row in usage(usageStartDate="2026-12-01T10:00")}
    assert from_ten == {ACTIVE: 7.0, "sub-5": 2.0}
    assert usage(usageStartDate="2026-11-01", usageEndDate="2026-11-30") == []
    assert usage(usageStartDate="2026-12-01", dimension="seats") == []
    assert requests.get(f"{double.url}/api/usageEvents", params={"api-version": "2018-08-31"},
                        headers={"Authorization": f"Bearer {token}"}, timeout=5).status_code == 400  # fmt: skip
