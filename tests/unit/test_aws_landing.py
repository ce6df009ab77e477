"""The AWS landing through the API handler with a fake ResolveCustomer: the form body (base64 too),
the sign-up redirect, and what each refusal leaves stored."""

from __future__ import annotations

import base64
import itertools
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from functions.api.handler import lambda_handler
from local.http_server import http_api_event
from local.lambda_context import LocalLambdaContext
from shared.ports.errors import PermanentError, RetryableError
from shared.ports.marketplace_listing import InvalidLandingToken, ResolvedAwsCustomer
from shared.services.api_dependencies import ApiDependencies, MarketplaceListing
from tests.fakes.memory_store import InMemoryStore

NOW = datetime(2026, 3, 1, tzinfo=UTC)
PATH = "/v1/marketplaces/aws/fulfillment"


class FakeResolver:
    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.refusal: Exception | None = None

    def resolve_customer(self, token: str) -> ResolvedAwsCustomer:
        self.tokens.append(token)
        if self.refusal is not None:
            raise self.refusal
        return ResolvedAwsCustomer("prod-x", "111122223333", "aws:license-manager::1:license:l-1", "agmt-1", None)


@pytest.fixture
def resolver() -> FakeResolver:
    return FakeResolver()


@pytest.fixture
def store() -> InMemoryStore:
    return InMemoryStore()


def deps(store: InMemoryStore, resolver: FakeResolver, signup_url: str | None = None) -> ApiDependencies:
    counter = itertools.count(1)
    listing = MarketplaceListing(aws=resolver, signup_url=signup_url)
    return ApiDependencies(store, lambda: NOW, lambda p: f"{p}_{next(counter)}", lambda: "t", marketplace=listing)


def post(api: ApiDependencies, body: bytes, *, encoded: bool = False) -> dict[str, Any]:
    headers = {"content-type": "application/x-www-form-urlencoded"}
    event = http_api_event(method="POST", target=PATH, headers=headers.items(), body=body, source_ip="198.51.100.4")
    if encoded:
        event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
    response: dict[str, Any] = lambda_handler(event, LocalLambdaContext("ApiFunction"), deps=api)
    return response


def test_a_base64_form_body_is_read(store: InMemoryStore, resolver: FakeResolver) -> None:
    response = post(deps(store, resolver), b"x-amzn-marketplace-token=abc%2B1&other=x", encoded=True)
    assert response["statusCode"] == 200
    assert resolver.tokens == ["abc+1"]
    registration = json.loads(response["body"])["data"]
    assert registration["identifiers"]["aws_license_arn"] == "arn:aws:license-manager::1:license:l-1"
    assert store.audit_entries[-1].ip_address == "198.51.100.4"


@pytest.mark.parametrize(
    ("signup", "location"),
    [
        ("https://seller.example/signup", "https://seller.example/signup?registration=reg_1"),
        ("https://seller.example/signup?plan=pro", "https://seller.example/signup?plan=pro&registration=reg_1"),
    ],
)
def test_the_buyer_is_sent_on_to_the_signup_page(
    store: InMemoryStore, resolver: FakeResolver, signup: str, location: str
) -> None:
    response = post(deps(store, resolver, signup), b"x-amzn-marketplace-token=abc")
    assert (response["statusCode"], response["headers"]["Location"]) == (303, location)


@pytest.mark.parametrize(
    ("refusal", "status", "field"),
    [
        (InvalidLandingToken("x-amzn-marketplace-token", "expired"), 400, "x-amzn-marketplace-token"),
        (RetryableError("throttled", code="ThrottlingException"), 503, None),
    ],
)
def test_a_refusal_stores_nothing(
    store: InMemoryStore, resolver: FakeResolver, refusal: Exception, status: int, field: str | None
) -> None:
    resolver.refusal = refusal
    response = post(deps(store, resolver), b"x-amzn-marketplace-token=abc")
    assert (response["statusCode"], json.loads(response["body"])["field"]) == (status, field)
    assert store.registrations == {}


def test_the_adapter_maps_token_errors_to_the_field() -> None:
    from shared.adapters import aws_fulfillment

    class Refusing:
        def __init__(self, code: str) -> None:
            self.code = code

        def resolve_customer(self, **_: Any) -> Any:
            raise PermanentError("refused", code=self.code)

    for code in ("InvalidTokenException", "ExpiredTokenException"):
        adapter = aws_fulfillment.AwsMarketplaceFulfillment("us-east-1")
        adapter._client = Refusing(code)  # type: ignore[assignment]
        with pytest.raises(InvalidLandingToken) as refused:
            adapter.resolve_customer("t")
        assert refused.value.field == "x-amzn-marketplace-token"
    adapter._client = Refusing("DisabledApiException")  # type: ignore[assignment]
    with pytest.raises(PermanentError) as other:
        adapter.resolve_customer("t")
    assert not isinstance(other.value, InvalidLandingToken)
