"""The webhook handler as Lambda runs it in the cloud: its secrets from Secrets Manager (moto), the
table on moto, Stripe the double; the HTTP API event as API Gateway sends it."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import stripe

from functions.stripe_webhook.handler import lambda_handler
from local.http_server import http_api_event
from local.lambda_context import LocalLambdaContext
from local.stripe_double import StripeDouble
from shared import bootstrap
from shared.clock import utc_now
from shared.config import StripeWebhookSettings
from shared.domain.sync import SyncAttempt
from tests.conftest import TABLE_NAME
from tests.fakes.stripe_sdk import client_for

OLD, NEW = "whsec_integration_old", "whsec_integration_new"
CONTEXT = LocalLambdaContext("stripe_webhook")


@pytest.fixture
def cloud(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[StripeDouble]:
    secrets = boto3.client("secretsmanager")
    key = secrets.create_secret(Name="stripe-api-key", SecretString="sk_test_from_secret")["ARN"]
    hooks = secrets.create_secret(Name="stripe-webhook-secret", SecretString=f"{NEW}, {OLD}\n")["ARN"]
    with StripeDouble() as double:
        for name, value in {
            "TABLE_NAME": TABLE_NAME,
            "STRIPE_API_BASE": double.url,
            "STRIPE_SECRET_NAME": key,
            "STRIPE_WEBHOOK_SECRET_NAME": hooks,
            "POWERTOOLS_SERVICE_NAME": "stripe_webhook",
        }.items():
            monkeypatch.setenv(name, value)
        for name in ("STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET"):
            monkeypatch.delenv(name, raising=False)
        bootstrap.reset()
        yield double
    bootstrap.reset()


def paid_invoice(double: StripeDouble) -> str:
    client = client_for(double)
    customer = double.add_customer("cus_handler")
    invoice = client.v1.invoices.create(
        params={"customer": customer, "currency": "usd", "metadata": {"downbeat_invoice_id": "inv_handler"}}
    )
    assert invoice.id is not None
    client.v1.invoice_items.create(params={"customer": customer, "invoice": invoice.id, "amount": 900})
    client.v1.invoices.finalize_invoice(invoice.id)
    with double._lock:
        double.model.pay_by_hand(invoice.id)
    store = bootstrap.dynamodb_store(TABLE_NAME)
    store.record_sync(
        "inv_handler",
        provider="stripe",
        status="synced",
        reason=None,
        attempt=SyncAttempt(at=utc_now(), outcome="synced"),
        provider_ids={"stripe_invoice_id": invoice.id},
    )
    return invoice.id


def request(double: StripeDouble, stripe_id: str, secret: str, *, base64_body: bool = False) -> dict[str, Any]:
    event = double.webhook_event("invoice.paid", double.invoice(stripe_id))
    payload = json.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp=int(time.time()))
    content_type = "application/octet-stream" if base64_body else "application/json"  # base64 for a non-text type
    built = http_api_event(
        method="POST",
        target="/v1/webhooks/stripe",
        headers=[("Content-Type", content_type), ("Stripe-Signature", header)],
        body=payload.encode(),
        source_ip="54.187.174.169",
    )
    assert built["isBase64Encoded"] is base64_body
    if base64_body:
        assert base64.b64decode(built["body"]) == payload.encode()
    return built


def answer(event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = lambda_handler(event, CONTEXT)
    return response["statusCode"], json.loads(response["body"])


def test_either_stored_secret_verifies_and_the_read_back_status_is_recorded(
    cloud: StripeDouble, capsys: pytest.CaptureFixture[str]
) -> None:
    stripe_id = paid_invoice(cloud)
    status, body = answer(request(cloud, stripe_id, OLD))  # signed with the secret being rotated out
    assert (status, body["data"]["outcome"], body["data"]["provider_status"]) == (200, "applied", "paid")
    status, body = answer(request(cloud, stripe_id, NEW, base64_body=True))
    assert (status, body["data"]["outcome"]) == (200, "applied")  # a new event: read back again
    record = bootstrap.dynamodb_store(TABLE_NAME).get_sync("inv_handler")
    assert record is not None
    assert record.provider_status == "paid"
    calls = len(cloud.calls("GET"))
    status, body = answer(request(cloud, stripe_id, "whsec_someone_else"))
    assert (status, body["field"]) == (400, "Stripe-Signature")
    assert len(cloud.calls("GET")) == calls
    logged = capsys.readouterr()
    for secret in (OLD, NEW, "sk_test_from_secret"):
        assert secret not in logged.out + logged.err


def test_a_body_that_is_not_base64_is_a_400(cloud: StripeDouble) -> None:
    event = request(cloud, paid_invoice(cloud), NEW)
    status, body = answer({**event, "body": "%%% not base64 %%%", "isBase64Encoded": True})
    assert status == 400
    assert "base64" in body["message"]


def test_settings_never_show_the_webhook_secret() -> None:
    settings = StripeWebhookSettings.from_env({"TABLE_NAME": "t", "STRIPE_WEBHOOK_SECRET": "whsec_hidden_value"})
    assert "whsec_hidden_value" not in repr(settings)
    with pytest.raises(Exception, match="STRIPE_WEBHOOK_SECRET"):
        StripeWebhookSettings.from_env({"TABLE_NAME": "t"}).require_webhook_secret_source()
