"""Marketplace listings in the template: ResolveCustomer granted to the API alone, the lifecycle
function on the agreement events and the SNS subscription queue (partial batch failures, a DLQ)."""

from __future__ import annotations

import pytest

from tests.infrastructure.test_template import FUNCTION, Json, getatt_target, policy_actions, props, resources
from tests.infrastructure.test_template import template as template  # noqa: PLC0414 - the fixture
from tests.infrastructure.test_template import transformed as transformed  # noqa: PLC0414 - the fixture

pytestmark = pytest.mark.template
LIFECYCLE = "MarketplaceLifecycleFunction"


def test_resolve_customer_is_granted_to_the_api_function_alone(transformed: dict[str, Json]) -> None:
    granted = {
        lid for lid, _, action in policy_actions(transformed) if "aws-marketplace:ResolveCustomer" in str(action)
    }
    assert granted == {"ApiFunctionRole"}
    api_actions = {str(action) for lid, _, action in policy_actions(transformed) if lid == "ApiFunctionRole"}
    assert not [action for action in api_actions if "aws-marketplace" in action and "ResolveCustomer" not in action]


def test_the_lifecycle_function_takes_the_four_agreement_events_and_the_sns_queue(template: dict[str, Json]) -> None:
    events = props(resources(template, FUNCTION)[LIFECYCLE])["Events"]
    rule = events["AgreementEvents"]["Properties"]
    assert rule["Pattern"]["source"] == ["aws.agreement-marketplace"]
    assert sorted(rule["Pattern"]["detail-type"]) == [
        "License Deprovisioned - Manufacturer",
        "License Updated - Manufacturer",
        "Purchase Agreement Created - Manufacturer",
        "Purchase Agreement Ended - Manufacturer",
    ]
    assert "EventBusName" not in rule, "AWS Marketplace sends its events to the default bus"
    queue = events["SubscriptionActions"]["Properties"]
    assert getatt_target(queue["Queue"]) == ("MarketplaceSubscriptionQueue", "Arn")
    assert queue["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    redrive = props(template["Resources"]["MarketplaceSubscriptionQueue"])["RedrivePolicy"]
    assert getatt_target(redrive["deadLetterTargetArn"]) == ("MarketplaceLifecycleDLQ", "Arn")


def test_only_the_marketplace_topic_may_send_to_the_subscription_queue(template: dict[str, Json]) -> None:
    policy = template["Resources"]["MarketplaceSubscriptionQueuePolicy"]
    [statement] = props(policy)["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "sns.amazonaws.com"}
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == {"Ref": "AwsMarketplaceSubscriptionTopicArn"}


def test_the_azure_landing_and_webhook_are_the_api_functions_own_routes_without_an_authorizer(
    template: dict[str, Json],
) -> None:
    api = props(resources(template, FUNCTION)["ApiFunction"])
    routes = {(e["Properties"]["Method"], e["Properties"]["Path"]): e["Properties"] for e in api["Events"].values()}
    for route in (("GET", "/v1/marketplaces/azure/landing"), ("POST", "/v1/marketplaces/azure/webhook")):
        assert "Auth" not in routes[route], "the function checks the landing token and the webhook's Entra token"
    environment = api["Environment"]["Variables"]
    assert environment["AZURE_FULFILLMENT_BASE_URL"] == {"Ref": "AzureFulfillmentBaseUrl"}
    assert environment["AZURE_CREDENTIALS_SECRET_NAME"] == {"Ref": "AzureMeteringCredentialsSecret"}
    assert template["Parameters"]["AzureFulfillmentBaseUrl"]["Default"] == "https://marketplaceapi.microsoft.com"


def test_the_azure_app_registration_secret_is_read_by_the_api_and_the_metering_functions_alone(
    template: dict[str, Json],
) -> None:
    readers = {
        lid
        for lid, function in resources(template, FUNCTION).items()
        for policy in props(function).get("Policies", [])
        if isinstance(policy, dict)
        and policy.get("AWSSecretsManagerGetSecretValuePolicy", {}).get("SecretArn")
        == {"Ref": "AzureMeteringCredentialsSecret"}
    }
    assert readers == {"ApiFunction", "MarketplaceMeterFunction", "ReconcilerFunction"}
