"""Bearer authentication: who is calling, or why not; the token never leaves the function."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.api.auth import Refusal, authenticate, is_public, unauthorized
from shared.domain.audit import Caller, actor_for_token

TOKEN = "s3cret-token"


def event(headers: dict[str, str], method: str = "GET", path: str = "/v1/customers") -> dict[str, Any]:
    return {
        "rawPath": path,
        "headers": headers,
        "requestContext": {"http": {"method": method, "sourceIp": "203.0.113.7", "userAgent": "ctx-agent"}},
    }


def test_a_valid_token_names_the_caller() -> None:
    caller = authenticate(
        event({"authorization": f"Bearer {TOKEN}", "user-agent": "curl/8", "x-forwarded-for": "198.51.100.1"}),
        TOKEN,
    )
    assert caller == Caller(actor=actor_for_token(TOKEN), ip_address="203.0.113.7", user_agent="curl/8")


@pytest.mark.parametrize("authorization", [f"bearer {TOKEN}", f"BEARER  {TOKEN} ", f"Bearer {TOKEN}"])
def test_the_scheme_is_case_insensitive(authorization: str) -> None:
    assert isinstance(authenticate(event({"Authorization": authorization}), TOKEN), Caller)


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing"),
        ({"authorization": ""}, "missing"),
        ({"authorization": f"Basic {TOKEN}"}, "scheme"),
        ({"authorization": TOKEN}, "scheme"),
        ({"authorization": "Bearer"}, "invalid"),
        ({"authorization": "Bearer wrong"}, "invalid"),
        ({"authorization": f"Bearer {TOKEN}x"}, "invalid"),
        ({"authorization": f"Bearer {TOKEN[:-1]}"}, "invalid"),
    ],
)
def test_refusals_say_why_without_the_token(headers: dict[str, str], reason: str) -> None:
    refusal = authenticate(event(headers), TOKEN)
    assert isinstance(refusal, Refusal)
    assert reason in refusal.message
    response = unauthorized(refusal)
    assert response["statusCode"] == 401
    assert json.loads(response["body"]) == {"message": refusal.message, "field": None}
    assert TOKEN not in response["body"]


def test_actor_is_stable_and_not_the_token() -> None:
    actor = actor_for_token(TOKEN)
    assert actor == actor_for_token(TOKEN)
    assert actor != actor_for_token("another")
    assert actor.startswith("tok_")
    assert len(actor) == 16
    assert TOKEN not in actor


def test_only_the_openapi_document_and_the_dashboard_pages_are_public() -> None:
    assert is_public(event({}, "GET", "/openapi.json"))
    assert not is_public(event({}, "POST", "/openapi.json"))
    assert not is_public(event({}, "GET", "/v1/customers"))
    # A dashboard page checks its link's signature itself; its assets hold no data.
    assert is_public(event({}, "GET", "/v1/dashboards/embed"))
    assert is_public(event({}, "GET", "/v1/dashboards/assets/uplot.0123456789ab.js"))
    assert not is_public(event({}, "POST", "/v1/dashboards/embed"))
    assert not is_public(event({}, "POST", "/v1/dashboards/getEmbeddableUrl"))
    assert not is_public(event({}, "GET", "/v1/dashboards/embedded"))
    assert not is_public(event({}, "GET", "/v1/dashboards/assets"))
    # The AWS Marketplace landing: the buyer's browser posts the marketplace's token, resolved with AWS.
    assert is_public(event({}, "POST", "/v1/marketplaces/aws/fulfillment"))
    assert not is_public(event({}, "GET", "/v1/marketplaces/aws/fulfillment"))
    assert not is_public(event({}, "POST", "/v1/marketplaceRegistrations/complete"))
    assert not is_public(event({}, "GET", "/v1/marketplaceRegistrations"))
    # Azure Marketplace: the buyer's browser lands with Microsoft's token in the query; Microsoft
    # calls the webhook with its own Entra ID token, which the route verifies.
    assert is_public(event({}, "GET", "/v1/marketplaces/azure/landing"))
    assert is_public(event({}, "POST", "/v1/marketplaces/azure/webhook"))
    assert not is_public(event({}, "POST", "/v1/marketplaces/azure/landing"))
    assert not is_public(event({}, "GET", "/v1/marketplaces/azure/webhook"))
