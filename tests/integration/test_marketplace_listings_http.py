"""Marketplace listings over HTTP through the local stack: the AWS landing with valid, expired and
invalid tokens, registrations completed once, and lifecycle events through the local bus and the
SNS subscription queue."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

import pytest

from local.aws_metering_double import AwsMeteringDouble
from tests.integration.api_harness import LocalApi, Reply
from tests.integration.test_api_contract_review import eventually

ACCOUNT = "111122223333"
LICENCE = f"arn:aws:license-manager::{ACCOUNT}:license:l-0a1b2c3d4e5f60718"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def double(local_api: LocalApi) -> AwsMeteringDouble:
    found = local_api.stack.aws_marketplace
    assert found is not None
    return found


def land(local_api: LocalApi, token: str, **headers: str) -> Reply:
    raw = urlencode({"x-amzn-marketplace-token": token}).encode()
    return local_api.client.post(
        "/v1/marketplaces/aws/fulfillment", raw=raw, authorization=None, headers={**FORM, **headers}
    )


def pending(local_api: LocalApi) -> list[dict[str, Any]]:
    registrations: list[dict[str, Any]] = local_api.client.get("/v1/marketplaceRegistrations?status=pending").data
    return registrations


def test_a_valid_token_lands_once_per_buyer(local_api: LocalApi) -> None:
    token = double(local_api).issue_token("prod-land", account_id=ACCOUNT, license_arn=LICENCE, agreement_id="agmt-9")
    landed = land(local_api, token).data
    assert (landed["provider"], landed["status"], landed["customer_id"]) == ("aws_marketplace", "pending", None)
    assert landed["identifiers"] == {
        "aws_customer_account_id": ACCOUNT, "aws_license_arn": LICENCE, "aws_product_code": "prod-land",
        "aws_customer_id": None, "aws_agreement_id": "agmt-9",
    }  # fmt: skip
    again = double(local_api).issue_token("prod-land", account_id=ACCOUNT, license_arn=LICENCE, agreement_id="agmt-9")
    assert land(local_api, again).data["id"] == landed["id"]
    assert [r["id"] for r in pending(local_api) if r["identifiers"]["aws_product_code"] == "prod-land"] == [
        landed["id"]
    ]
    audit = local_api.client.get(f"/v1/auditLogs?resource_type=registration&resource_id={landed['id']}").data
    assert [(e["action"], e["actor"]) for e in audit][-1] == ("marketplaces.aws.fulfillment", "marketplace:aws_buyer")


@pytest.mark.parametrize("kind", ["expired", "invalid", "used twice", "missing", "throttled"])
def test_a_refused_token_stores_nothing(local_api: LocalApi, kind: str) -> None:
    before = pending(local_api)
    aws = double(local_api)
    token = aws.issue_token("prod-refused", account_id=ACCOUNT, license_arn=LICENCE + kind.replace(" ", ""))
    if kind == "expired":
        token = aws.issue_token("prod-refused", account_id=ACCOUNT, license_arn=LICENCE + "x", ttl_seconds=0)
    elif kind == "invalid":
        token = "not-a-token-the-double-issued"
    elif kind == "used twice":
        land(local_api, token)
        before = pending(local_api)
    elif kind == "missing":
        token = ""
    elif kind == "throttled":
        aws.throttle(operation="ResolveCustomer", times=3)  # botocore's standard mode tries three times
    reply = land(local_api, token)
    if kind == "throttled":
        assert reply.error() == (503, None)
    else:
        assert reply.error() == (400, "x-amzn-marketplace-token")
    assert pending(local_api) == before


def test_the_landing_needs_no_bearer_token_and_takes_legacy_buyers(local_api: LocalApi) -> None:
    token = double(local_api).issue_token("prod-b64", customer_identifier="c-b64")
    reply = land(local_api, token, Authorization="Bearer wrong-token")
    assert reply.data["identifiers"]["aws_customer_id"] == "c-b64"


def test_completing_creates_the_customer_once(local_api: LocalApi) -> None:
    token = double(local_api).issue_token("prod-done", account_id="444455556666", license_arn=LICENCE + "done")
    registration = land(local_api, token).data
    body = {"registration_id": registration["id"], "customer": {"name": "Buyer Inc", "custom_fields": {"crm": "7"}}}
    customer = local_api.client.post("/v1/marketplaceRegistrations/complete", body).data
    [configuration] = customer["billing_provider_configurations"]
    assert (configuration["billing_provider"], configuration["default"]) == ("aws_marketplace", True)
    assert configuration["configuration"]["aws_region"] == "us-east-1"
    assert configuration["configuration"]["aws_license_arn"] == LICENCE + "done"
    assert (configuration["subscription"]["status"], configuration["subscription"]["source"]) == ("active", "api")
    assert local_api.client.post("/v1/marketplaceRegistrations/complete", body).error() == (409, "registration_id")
    unknown = {"registration_id": "reg_unknown", "customer_id": customer["id"]}
    assert local_api.client.post("/v1/marketplaceRegistrations/complete", unknown).error() == (404, "registration_id")
    both = {"registration_id": registration["id"]}
    assert local_api.client.post("/v1/marketplaceRegistrations/complete", both).error() == (400, "customer_id")
    completed = local_api.client.get("/v1/marketplaceRegistrations?status=completed").data
    assert [(r["id"], r["customer_id"]) for r in completed] == [(registration["id"], customer["id"])]


def subscription_of(local_api: LocalApi, customer_id: str) -> dict[str, Any]:
    customer = local_api.client.get(f"/v1/customers/{customer_id}").data
    found: dict[str, Any] = customer["billing_provider_configurations"][0]["subscription"]
    return found


def test_lifecycle_events_reach_the_function_through_the_local_bus(local_api: LocalApi) -> None:
    licence = f"arn:aws:license-manager::{ACCOUNT}:license:l-0ffee0ffee0ffee01"
    token = double(local_api).issue_token(
        "prod-life", account_id="777788889999", license_arn=licence, agreement_id="agmt-life"
    )
    registration = land(local_api, token).data
    body = {"registration_id": registration["id"], "customer": {"name": "Life Inc"}}
    customer_id = local_api.client.post("/v1/marketplaceRegistrations/complete", body).data["id"]
    ended = {
        "source": "aws.agreement-marketplace", "detail-type": "Purchase Agreement Ended - Manufacturer",
        "detail": {"agreement": {"id": "agmt-life", "status": "CANCELLED", "acceptor": {"accountId": "777788889999"}}},
    }  # fmt: skip
    put = local_api.stack.put_event(ended)
    assert put["rules"] == ["MarketplaceLifecycleFunction"]

    def unsubscribed() -> dict[str, Any]:
        subscription = subscription_of(local_api, customer_id)
        assert subscription["status"] == "unsubscribed"
        return subscription

    assert eventually(unsubscribed)["source"] == "aws_event"


def test_sns_actions_arrive_through_the_subscription_queue(local_api: LocalApi) -> None:
    token = double(local_api).issue_token("prod-sns", customer_identifier="c-sns")
    registration = land(local_api, token).data
    body = {"registration_id": registration["id"], "customer": {"name": "Sns Inc"}}
    customer_id = local_api.client.post("/v1/marketplaceRegistrations/complete", body).data["id"]
    assert local_api.stack.resources is not None
    queue = local_api.stack.resources.queues["MarketplaceSubscriptionQueue"]
    message = {"action": "unsubscribe-success", "customer-identifier": "c-sns", "product-code": "prod-sns"}
    envelope = {"Type": "Notification", "MessageId": "sns-1", "Message": json.dumps(message),
                "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())}  # fmt: skip
    local_api.stack.clients.sqs.send_message(QueueUrl=queue.url, MessageBody=json.dumps(envelope))

    def unsubscribed() -> None:
        assert subscription_of(local_api, customer_id)["status"] == "unsubscribed"

    eventually(unsubscribed)


def test_a_registration_changed_by_an_sns_action_is_in_the_audit_log_once(local_api: LocalApi) -> None:
    registration = land(local_api, double(local_api).issue_token("prod-fail", customer_identifier="c-fail")).data
    assert local_api.stack.resources is not None
    queue = local_api.stack.resources.queues["MarketplaceSubscriptionQueue"]
    message = {"action": "subscribe-fail", "customer-identifier": "c-fail", "product-code": "prod-fail"}
    envelope = {"Type": "Notification", "MessageId": "sns-fail-1", "Message": json.dumps(message),
                "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())}  # fmt: skip
    for _ in range(2):  # SNS delivers at least once: the same message twice
        local_api.stack.clients.sqs.send_message(QueueUrl=queue.url, MessageBody=json.dumps(envelope))

    def drained() -> None:
        attributes = local_api.stack.clients.sqs.get_queue_attributes(
            QueueUrl=queue.url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        assert attributes == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}

    eventually(drained)
    [failed] = [r for r in local_api.client.get("/v1/marketplaceRegistrations?status=failed").data
                if r["id"] == registration["id"]]  # fmt: skip
    assert "subscribe-fail" in failed["reason"]
    audit = local_api.client.get(f"/v1/auditLogs?resource_type=registration&resource_id={registration['id']}").data
    assert [(e["action"], e["actor"], e["event_id"], e["status_code"], e["ip_address"]) for e in audit] == [
        ("marketplaceRegistration.change", "marketplace:aws_sns", "sns-fail-1", 200, None),
        ("marketplaces.aws.fulfillment", "marketplace:aws_buyer", None, 200, "127.0.0.1"),
    ]  # newest first
