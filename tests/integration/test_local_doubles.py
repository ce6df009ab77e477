"""local/doubles.py: which provider doubles start, for which functions, and what they hand them."""

from __future__ import annotations

import contextlib
import json
import os
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock

from local.doubles import (
    LOCAL_AZURE_CLIENT_ID,
    LOCAL_AZURE_CLIENT_SECRET,
    LOCAL_AZURE_TENANT_ID,
    LOCAL_STRIPE_KEY,
    LOCAL_STRIPE_WEBHOOK_SECRET,
    LOCAL_WEBHOOK_SECRET,
    DoubleOptions,
    start_doubles,
)
from local.resources import FunctionSpec, function_specs
from shared.domain.webhook_delivery import signed_headers

SPECS = {spec.logical_id: spec for spec in function_specs()}


def test_the_stripe_double_starts_for_the_stripe_worker_and_only_it_gets_its_variables() -> None:
    with contextlib.ExitStack() as exit_stack:
        providers = start_doubles(SPECS.values(), {}, exit_stack, DoubleOptions(stripe_customers=["cus_seeded"]))
        # the marketplace doubles and the webhook receiver start too, for their functions only (the
        # meter, the API's landing, the webhook sender: tested below)
        assert set(providers.running) == {"Stripe", "AWS Marketplace Metering", "Azure Marketplace", "Webhook receiver"}
        url = providers.running["Stripe"].url
        with urllib.request.urlopen(f"{url}/_double/state", timeout=10) as response:
            assert "cus_seeded" in json.dumps(json.load(response))
        assert providers.environment_for(SPECS["StripeSyncFunction"]) == {
            "STRIPE_API_BASE": url,
            "STRIPE_API_KEY": LOCAL_STRIPE_KEY,
        }
        assert providers.environment_for(SPECS["InvoiceRouterFunction"]) == {}
        # the API resolves AWS Marketplace buyers' tokens (ResolveCustomer) at the AWS double, and
        # Azure's landing tokens, activations and operations at the Azure double
        api = providers.environment_for(SPECS["ApiFunction"])
        azure = providers.running["Azure Marketplace"].url
        assert api["AWS_ENDPOINT_URL_MARKETPLACE_METERING"] == providers.running["AWS Marketplace Metering"].url
        assert (api["AZURE_FULFILLMENT_BASE_URL"], api["AZURE_AUTHORITY_HOST"]) == (azure, azure)
        assert api["AZURE_CLIENT_ID"] == LOCAL_AZURE_CLIENT_ID
        assert providers.parameter_overrides(SPECS.values())["AzureFulfillmentBaseUrl"] == azure
        # the webhook secret goes only to the function that names its secret
        assert providers.environment_for(SPECS["StripeWebhookFunction"]) == {
            "STRIPE_API_BASE": url,
            "STRIPE_API_KEY": LOCAL_STRIPE_KEY,
            "STRIPE_WEBHOOK_SECRET": LOCAL_STRIPE_WEBHOOK_SECRET,
        }
        assert providers.secret_values()["StripeWebhookSecret"] == LOCAL_STRIPE_WEBHOOK_SECRET
        assert providers.parameter_overrides(SPECS.values())["StripeApiBase"] == url
        assert providers.secret_values()["StripeApiKeySecret"] == LOCAL_STRIPE_KEY
    with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/_double/state", timeout=2):
        raise AssertionError("the double still answers after its exit stack closed")


def test_the_webhook_receiver_starts_for_the_webhook_sender_and_only_it_gets_the_url_and_secret() -> None:
    with contextlib.ExitStack() as exit_stack:
        providers = start_doubles(SPECS.values(), {}, exit_stack)
        url = providers.running["Webhook receiver"].url
        assert providers.environment_for(SPECS["WebhookSenderFunction"]) == {
            "WEBHOOK_URL": url,
            "WEBHOOK_SECRET": LOCAL_WEBHOOK_SECRET,
        }
        assert all(
            "WEBHOOK_SECRET" not in providers.environment_for(spec)
            for lid, spec in SPECS.items()
            if lid != "WebhookSenderFunction"
        )
        assert providers.secret_values()["WebhookSecret"] == LOCAL_WEBHOOK_SECRET
        assert providers.parameter_overrides(SPECS.values())["WebhookUrl"] == url
    with contextlib.ExitStack() as exit_stack:  # the receiver verifies with the secret the sender gets
        providers = start_doubles(SPECS.values(), {"WEBHOOK_SECRET": "my-own-webhook-secret"}, exit_stack)
        url = providers.environment_for(SPECS["WebhookSenderFunction"])["WEBHOOK_URL"]
        body = b'{"id": "ntf_double", "type": "alerts.x", "properties": {}}'
        answers = []
        for secret in ("my-own-webhook-secret", LOCAL_WEBHOOK_SECRET):
            headers = signed_headers(secret, body, datetime.now(UTC))
            try:
                with urllib.request.urlopen(urllib.request.Request(url, body, headers), timeout=10) as response:
                    answers.append(response.status)
            except urllib.error.HTTPError as error:
                answers.append(error.code)
        assert answers == [200, 401]
    mine = {"WEBHOOK_URL": "https://hooks.example.com/downbeat", "WEBHOOK_SECRET": "my-own-webhook-secret"}
    with contextlib.ExitStack() as exit_stack:
        providers = start_doubles(SPECS.values(), mine, exit_stack)
        assert "Webhook receiver" not in providers.running
        assert providers.environment_for(SPECS["WebhookSenderFunction"]) == mine
        assert providers.secret_values()["WebhookSecret"] == "my-own-webhook-secret"


def test_a_variable_the_user_set_wins_and_no_double_starts() -> None:
    environ = {"STRIPE_API_BASE": "http://127.0.0.1:12111", "STRIPE_API_KEY": "sk_test_users_own"}
    with contextlib.ExitStack() as exit_stack:
        providers = start_doubles(SPECS.values(), environ, exit_stack)
        assert "Stripe" not in providers.running
        assert providers.environment_for(SPECS["StripeSyncFunction"]) == environ
        assert providers.parameter_overrides(SPECS.values())["StripeApiBase"] == "http://127.0.0.1:12111"
        assert providers.secret_values()["StripeApiKeySecret"] == "sk_test_users_own"


def test_no_double_starts_when_no_function_needs_it() -> None:
    needs_nothing: list[FunctionSpec] = [SPECS["InvoiceRouterFunction"], SPECS["DataExportFunction"]]
    with contextlib.ExitStack() as exit_stack:
        providers = start_doubles(needs_nothing, {}, exit_stack)
        assert providers.running == {}
        assert "STRIPE_API_BASE" not in providers.values
        assert providers.parameter_overrides(needs_nothing) == {}
        assert providers.values["STRIPE_API_KEY"] == LOCAL_STRIPE_KEY  # the local secret's value all the same


def _spec(logical_id: str, **environment: str) -> FunctionSpec:
    return FunctionSpec(logical_id, f"functions.{logical_id}.handler.lambda_handler", 60, 256, environment)


def test_a_function_naming_the_marketplace_region_gets_the_aws_metering_double_through_boto3s_own_variable() -> None:
    import boto3

    meter = _spec("MeterFunction", AWS_MARKETPLACE_REGION="us-east-1")
    with contextlib.ExitStack() as exit_stack:
        providers = start_doubles([meter], {}, exit_stack, DoubleOptions(marketplace_auto_subscribe=True))
        assert set(providers.running) == {"AWS Marketplace Metering"}
        env = providers.environment_for(meter)
        assert env == {"AWS_ENDPOINT_URL_MARKETPLACE_METERING": providers.running["AWS Marketplace Metering"].url}
        client = boto3.client(
            "meteringmarketplace", region_name="us-east-1", endpoint_url=env["AWS_ENDPOINT_URL_MARKETPLACE_METERING"]
        )
        record = {"CustomerIdentifier": "c-new", "Dimension": "usage_fee", "Quantity": 1, "Timestamp": time.time()}
        reply = client.batch_meter_usage(ProductCode="prod-new", UsageRecords=[record])  # type: ignore[list-item]
        assert [r["Status"] for r in reply["Results"]] == ["Success"]  # a buyer it never saw: subscribed locally


def test_a_function_naming_the_azure_base_url_gets_the_azure_double_its_authority_app_and_ca_bundle() -> None:
    from local.secret_variables import split_environment
    from shared.adapters.azure_metering import MARKETPLACE_SCOPE, azure_credential

    meter = _spec("MeterFunction", AZURE_METERING_BASE_URL="https://marketplaceapi.microsoft.com")
    with contextlib.ExitStack() as exit_stack:
        providers = start_doubles([meter], {}, exit_stack)
        url = providers.running["Azure Marketplace"].url
        env = providers.environment_for(meter)
        assert env == {
            "AZURE_METERING_BASE_URL": url,
            "AZURE_AUTHORITY_HOST": url,
            "AZURE_TENANT_ID": LOCAL_AZURE_TENANT_ID,
            "AZURE_CLIENT_ID": LOCAL_AZURE_CLIENT_ID,
            "AZURE_CLIENT_SECRET": LOCAL_AZURE_CLIENT_SECRET,
            "REQUESTS_CA_BUNDLE": env["SSL_CERT_FILE"],
            "SSL_CERT_FILE": env["SSL_CERT_FILE"],
        }
        bundle = Path(env["SSL_CERT_FILE"])
        assert bundle.read_text().startswith("-----BEGIN CERTIFICATE-----")
        served, withheld = split_environment(env)
        assert withheld == ["AZURE_CLIENT_SECRET"]
        assert LOCAL_AZURE_CLIENT_SECRET not in json.dumps(served)
        with mock.patch.dict(os.environ, {"REQUESTS_CA_BUNDLE": env["REQUESTS_CA_BUNDLE"]}):
            credential = azure_credential(
                env["AZURE_TENANT_ID"], env["AZURE_CLIENT_ID"], env["AZURE_CLIENT_SECRET"], env["AZURE_AUTHORITY_HOST"]
            )
            assert credential.get_token(MARKETPLACE_SCOPE).token
    assert not bundle.exists()  # the certificate's files go with the double


def test_a_users_azure_variables_win_and_no_azure_double_starts() -> None:
    meter = _spec("MeterFunction", AZURE_METERING_BASE_URL="https://marketplaceapi.microsoft.com")
    environ = {"AZURE_METERING_BASE_URL": "https://marketplaceapi.microsoft.com", "AZURE_TENANT_ID": "t-users"}
    with contextlib.ExitStack() as exit_stack:
        providers = start_doubles([meter], environ, exit_stack)
        assert providers.running == {}
        env = providers.environment_for(meter)
        assert env["AZURE_METERING_BASE_URL"] == "https://marketplaceapi.microsoft.com"
        assert env["AZURE_TENANT_ID"] == "t-users"
        assert "AZURE_AUTHORITY_HOST" not in env


def test_the_api_gets_the_azure_double_for_fulfillment_even_when_the_user_points_metering_elsewhere() -> None:
    api = _spec("ApiFunction", AZURE_FULFILLMENT_BASE_URL="https://marketplaceapi.microsoft.com")
    environ = {"AZURE_METERING_BASE_URL": "https://metering.example.com"}
    with contextlib.ExitStack() as exit_stack:
        providers = start_doubles([api], environ, exit_stack)
        url = providers.running["Azure Marketplace"].url
        env = providers.environment_for(api)
        assert (env["AZURE_FULFILLMENT_BASE_URL"], env["AZURE_METERING_BASE_URL"]) == (
            url,
            environ["AZURE_METERING_BASE_URL"],
        )
    mine = {
        "AZURE_FULFILLMENT_BASE_URL": "https://fulfillment.example.com",
        "AZURE_METERING_BASE_URL": "https://m.example",
    }
    with contextlib.ExitStack() as exit_stack:
        providers = start_doubles([api], mine, exit_stack)
        assert providers.running == {}
        assert providers.environment_for(api)["AZURE_FULFILLMENT_BASE_URL"] == "https://fulfillment.example.com"
