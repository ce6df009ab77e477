"""The real Azure fulfillment adapter (azure-identity + requests over HTTPS) against the loopback double.

The double makes its CA at start-up and the tests trust it through `REQUESTS_CA_BUNDLE`, as the
stack's functions do; the bearer token comes from azure-identity's `ClientSecretCredential`
against the double's Entra-style issuer.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine

from local.azure_marketplace_double import AzureMarketplaceDouble
from shared.adapters.azure_fulfillment import AzureFulfillment, AzureNotFound, InvalidLandingToken
from shared.adapters.azure_marketplace_http import azure_credential
from shared.adapters.azure_metering import AzureMarketplaceMetering
from shared.domain.azure_operations import subscription_change
from shared.ports.errors import PermanentError, RetryableError
from shared.ports.metering import AzureBuyer, UsageRecord
from tests.azure_double import running_azure_double_fixture, trusted  # noqa: F401 - a fixture

NOW = datetime(2026, 12, 1, 10, 30, tzinfo=UTC)


@pytest.fixture
def double(running_azure_double: AzureMarketplaceDouble, monkeypatch: pytest.MonkeyPatch) -> AzureMarketplaceDouble:
    running_azure_double.fulfillment.repeat_activation_ok = False
    return trusted(running_azure_double, monkeypatch)


@pytest.fixture(autouse=True)
def _frozen() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


def client(double: AzureMarketplaceDouble, **options: Any) -> AzureFulfillment:
    options.setdefault("max_retries", 0)
    credential = azure_credential(double.tenant_id, double.client_id, double.client_secret, double.url)
    return AzureFulfillment(credential, double.url, **options)


def purchase(double: AzureMarketplaceDouble, **fields: Any) -> tuple[str, str]:
    fields.setdefault("quantity", 5)
    fields |= {"plan_id": "gold", "offer_id": "downbeat-saas", "purchaser_email": "buyer@contoso.example"}
    token, subscription = double.fulfillment.landing_token(**fields)
    return token, subscription.id


def calls(double: AzureMarketplaceDouble, suffix: str) -> list[tuple[str, int]]:
    return [(r.method, r.status) for r in double.requests if r.path.endswith(suffix)]


def test_a_landing_token_resolves_to_its_purchase_sent_as_given_with_a_bearer_token(
    double: AzureMarketplaceDouble,
) -> None:
    token, subscription_id = purchase(double)
    assert "+" in token or "/" in token or "=" in token  # Microsoft's tokens need URL-decoding once

    resolved = client(double).resolve(token)

    assert resolved.subscription_id == subscription_id
    assert (resolved.offer_id, resolved.plan_id, resolved.quantity) == ("downbeat-saas", "gold", 5)
    assert resolved.status == "PendingFulfillmentStart"
    assert resolved.purchaser_email == "buyer@contoso.example"
    (logged,) = [r for r in double.requests if r.path == "/api/saas/subscriptions/resolve"]
    assert (logged.status, logged.client_id, logged.query) == (200, double.client_id, {"api-version": "2018-08-31"})


@pytest.mark.parametrize("kind", ["expired", "unknown", "empty"])
def test_an_expired_unknown_or_empty_landing_token_is_an_invalid_token_naming_the_field(
    double: AzureMarketplaceDouble, kind: str
) -> None:
    token = {"expired": purchase(double, expired=True)[0], "unknown": "bm90LWEtdG9rZW4=", "empty": ""}[kind]

    with pytest.raises(InvalidLandingToken) as raised:
        client(double).resolve(token)

    assert raised.value.field == "token"
    assert raised.value.code == "400"
    assert isinstance(raised.value, PermanentError)


def test_a_token_valid_yesterday_is_refused_a_day_later(double: AzureMarketplaceDouble) -> None:
    token, _ = purchase(double)
    with time_machine.travel(NOW + timedelta(hours=24), tick=False), pytest.raises(InvalidLandingToken):
        client(double).resolve(token)


def test_activating_subscribes_and_repeating_it_succeeds_though_azure_answers_the_repeat_400(
    double: AzureMarketplaceDouble,
) -> None:
    _, subscription_id = purchase(double)
    fulfillment = client(double)

    fulfillment.activate(subscription_id, "gold", 5)
    fulfillment.activate(subscription_id, "gold", 5)

    assert calls(double, "/activate") == [("POST", 200), ("POST", 400)]
    assert calls(double, subscription_id) == [("GET", 200)]  # the repeat was read back
    activations = [r.payload for r in double.requests if r.path.endswith("/activate")]
    assert activations == [{"planId": "gold", "quantity": 5}] * 2
    assert fulfillment.subscription(subscription_id).status == "Subscribed"


def test_a_repeat_that_azure_answers_200_is_success_without_a_read_back(double: AzureMarketplaceDouble) -> None:
    double.fulfillment.repeat_activation_ok = True
    _, subscription_id = purchase(double)

    client(double).activate(subscription_id, "gold", 5)
    client(double).activate(subscription_id, "gold", 5)

    assert calls(double, "/activate") == [("POST", 200), ("POST", 200)]
    assert calls(double, subscription_id) == []


def test_activation_makes_the_subscription_meterable(double: AzureMarketplaceDouble) -> None:
    _, subscription_id = purchase(double, quantity=None)
    credential = azure_credential(double.tenant_id, double.client_id, double.client_secret, double.url)
    meter = AzureMarketplaceMetering(credential, double.url, max_retries=0)
    record = UsageRecord("rec-1", AzureBuyer(subscription_id, "gold"), "usage_fee", NOW.replace(minute=0), 10)

    assert meter.meter([record])[0].state == "not_subscribed"
    client(double).activate(subscription_id, "gold", None)

    assert meter.meter([record])[0].state == "accepted"


def test_activating_another_plan_than_purchased_is_refused_with_what_azure_holds(
    double: AzureMarketplaceDouble,
) -> None:
    _, subscription_id = purchase(double)

    with pytest.raises(PermanentError, match="PendingFulfillmentStart on plan 'gold', quantity 5") as raised:
        client(double).activate(subscription_id, "platinum", 5)

    assert raised.value.code == "400"


def test_activating_an_unsubscribed_subscription_is_not_found(double: AzureMarketplaceDouble) -> None:
    _, subscription_id = purchase(double)
    client(double).activate(subscription_id, "gold", 5)
    double.fulfillment.start_operation(subscription_id, "Unsubscribe")

    with pytest.raises(AzureNotFound):
        client(double).activate(subscription_id, "gold", 5)


def test_a_change_plan_operation_is_read_back_applied_and_acknowledged_once(double: AzureMarketplaceDouble) -> None:
    _, subscription_id = purchase(double)
    fulfillment = client(double)
    fulfillment.activate(subscription_id, "gold", 5)
    started = double.fulfillment.start_operation(subscription_id, "ChangePlan", plan_id="platinum")

    operation = fulfillment.operation(subscription_id, started.id)
    change = subscription_change(operation, NOW)

    assert (operation.operation_id, operation.subscription_id) == (started.id, subscription_id)
    assert (operation.action, operation.status, operation.plan_id, operation.quantity) == (
        "ChangePlan", "InProgress", "platinum", 5
    )  # fmt: skip
    assert operation.time_stamp == NOW
    assert (dict(change.configuration), change.acknowledge) == ({"azure_plan_id": "platinum"}, True)
    assert fulfillment.acknowledge(subscription_id, started.id) == "acknowledged"
    assert [r.payload for r in double.requests if r.method == "PATCH"] == [{"status": "Success"}]
    assert fulfillment.subscription(subscription_id).plan_id == "platinum"
    assert fulfillment.operation(subscription_id, started.id).status == "Succeeded"
    assert fulfillment.acknowledge(subscription_id, started.id) == "already_settled"


def test_an_unknown_operation_or_subscription_is_not_found(double: AzureMarketplaceDouble) -> None:
    _, subscription_id = purchase(double)

    with pytest.raises(AzureNotFound):
        client(double).operation(subscription_id, str(uuid.uuid4()))
    with pytest.raises(AzureNotFound):
        client(double).subscription("no/such subscription")  # quoted into one path segment


def test_another_publishers_subscription_is_forbidden(double: AzureMarketplaceDouble) -> None:
    token, _ = purchase(double, client_id=str(uuid.uuid4()))

    with pytest.raises(PermanentError, match="AZURE_CLIENT_ID") as raised:
        client(double).resolve(token)

    assert raised.value.code == "403"
    assert not isinstance(raised.value, InvalidLandingToken)


def test_a_bearer_token_the_api_does_not_know_is_forbidden(double: AzureMarketplaceDouble) -> None:
    class Stale:
        def get_token(self, *scopes: str, **kwargs: Any) -> Any:
            return type("Token", (), {"token": "not-issued-by-entra", "expires_on": 0})()

    token, _ = purchase(double)

    with pytest.raises(PermanentError) as raised:
        AzureFulfillment(Stale(), double.url, max_retries=0).resolve(token)

    assert raised.value.code == "403"


def test_throttling_and_5xx_are_retryable_and_a_bounded_retry_rides_over_one(double: AzureMarketplaceDouble) -> None:
    token, _ = purchase(double)
    double.fail(503, path="/api/saas/subscriptions/resolve")

    with pytest.raises(RetryableError) as raised:
        client(double).resolve(token)
    assert raised.value.code == "503"

    double.fail(429, path="/api/saas/subscriptions/*", retry_after=1)
    assert client(double, max_retries=1).resolve(token).plan_id == "gold"
    assert [r.status for r in double.requests if r.path.endswith("/resolve")] == [503, 429, 200]


def test_a_dropped_connection_after_the_patch_was_applied_is_retryable_and_resending_is_harmless(
    double: AzureMarketplaceDouble,
) -> None:
    _, subscription_id = purchase(double)
    client(double).activate(subscription_id, "gold", 5)
    started = double.fulfillment.start_operation(subscription_id, "ChangeQuantity", quantity=8)
    double.drop_after_apply(path=f"/api/saas/subscriptions/{subscription_id}/operations/{started.id}")

    with pytest.raises(RetryableError):
        client(double).acknowledge(subscription_id, started.id)

    assert client(double).subscription(subscription_id).quantity == 8
    assert client(double).acknowledge(subscription_id, started.id) == "already_settled"


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("2026-12-01T09:15:00", datetime(2026, 12, 1, 9, 15, tzinfo=UTC)),
        ("2021-06-23T05:05:29.9799053Z", datetime(2021, 6, 23, 5, 5, 29, 979905, tzinfo=UTC)),
        ("2026-12-01T10:15:00+01:00", datetime(2026, 12, 1, 9, 15, tzinfo=UTC)),
        ("0001-01-01T00:00:00", None),
        ("", None),
    ],
)
def test_an_operations_time_stamp_is_read_as_microsoft_writes_it(
    double: AzureMarketplaceDouble, written: str, read: datetime | None
) -> None:
    _, subscription_id = purchase(double)
    started = double.fulfillment.start_operation(subscription_id, "Renew")
    started.time_stamp = written

    assert client(double).operation(subscription_id, started.id).time_stamp == read


def test_a_reply_with_an_unreadable_quantity_or_id_is_refused_naming_the_field(double: AzureMarketplaceDouble) -> None:
    _, subscription_id = purchase(double)
    started = double.fulfillment.start_operation(subscription_id, "ChangeQuantity", quantity=3)
    started.quantity = -1

    with pytest.raises(PermanentError, match="quantity"):
        client(double).operation(subscription_id, started.id)

    started.quantity, started.plan_id = 3, "x" * 257
    with pytest.raises(PermanentError, match="planId"):
        client(double).operation(subscription_id, started.id)
