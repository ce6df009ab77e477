"""The Stripe webhook in the template: its own function behind POST /v1/webhooks/stripe with no
authorizer (the function checks Stripe's signature), its secret read by it alone, its role limited
to the item reads and writes it makes."""

from __future__ import annotations

import pytest

from tests.infrastructure.test_template import (
    FUNCTION,
    Json,
    environments,
    props,
    ref_target,
    resources,
    secret_readers,
)
from tests.infrastructure.test_template import template as template  # noqa: PLC0414 - the fixture
from tests.infrastructure.test_template import transformed as transformed  # noqa: PLC0414 - the fixture

pytestmark = pytest.mark.template
FUNCTION_ID = "StripeWebhookFunction"
SECRET = "StripeWebhookSecret"


def http_routes(template: dict[str, Json]) -> dict[tuple[str, str], str]:
    """(method, path) → the function serving it, on the downbeat HTTP API."""
    return {
        (event["Properties"]["Method"], event["Properties"]["Path"]): lid
        for lid, function in resources(template, FUNCTION).items()
        for event in props(function).get("Events", {}).values()
        if event["Type"] == "HttpApi" and ref_target(event["Properties"]["ApiId"]) == "DownbeatHttpApi"
    }


def test_the_webhook_route_goes_to_its_own_function_without_an_authorizer(template: dict[str, Json]) -> None:
    routes = http_routes(template)
    assert routes[("POST", "/v1/webhooks/stripe")] == FUNCTION_ID
    assert [route for route, lid in routes.items() if lid == FUNCTION_ID] == [("POST", "/v1/webhooks/stripe")]
    event = next(iter(props(template["Resources"][FUNCTION_ID])["Events"].values()))
    assert event["Properties"]["PayloadFormatVersion"] == "2.0"
    assert "Auth" not in event["Properties"], "the function checks the Stripe-Signature itself"
    # Stripe waits seconds for an answer; the function must give up well within the HTTP API's 30 s.
    assert props(template["Resources"][FUNCTION_ID])["Timeout"] <= 10


def test_the_webhook_secret_is_a_secret_read_by_the_webhook_function_alone(
    template: dict[str, Json], transformed: dict[str, Json]
) -> None:
    secret = template["Resources"][SECRET]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    assert "SecretString" not in props(secret)
    assert "GenerateSecretString" not in props(secret), "Stripe makes the secret; an operator stores it"
    variables = environments(template)
    assert ref_target(variables[FUNCTION_ID]["STRIPE_WEBHOOK_SECRET_NAME"]) == SECRET
    assert secret_readers(transformed, SECRET) == {FUNCTION_ID}


def test_the_api_function_still_cannot_read_the_stripe_key(template: dict[str, Json]) -> None:
    """Why the webhook is not a route of the API function (it reads invoices back from Stripe)."""
    variables = environments(template)
    assert "STRIPE_SECRET_NAME" not in variables["ApiFunction"]
    assert ref_target(variables[FUNCTION_ID]["STRIPE_SECRET_NAME"]) == "StripeApiKeySecret"
