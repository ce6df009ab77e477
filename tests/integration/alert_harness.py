"""Alerts through the local stack: the API's bodies, and what the stack's receiver got (the
webhooks the evaluator queued, the sender signed and POSTed, the docs' receiver example verified)."""

from __future__ import annotations

import time
from typing import Any

from tests.integration.api_harness import ApiClient, LocalApi

ACTIVE = ("2020-01-01T00:00:00Z", "2090-01-01T00:00:00Z")


def new_customer(api: ApiClient) -> str:
    customer_id: str = api.post("/v1/customers", {"name": "Alert test"}).data["id"]
    return customer_id


def alert_body(**fields: Any) -> dict[str, Any]:
    return {
        "alert_type": "low_remaining_contract_credit_and_commit_balance_reached",
        "name": "Low balance",
        "threshold": "100",
        "currency": "USD",
        **fields,
    }


def add_commit(api: ApiClient, customer_id: str, amount: str) -> str:
    body = {
        "customer_id": customer_id,
        "type": "PREPAID",
        "name": "commit",
        "currency": "USD",
        "access_schedule": [{"amount": amount, "starting_at": ACTIVE[0], "ending_before": ACTIVE[1]}],
    }
    commit_id: str = api.post("/v1/contracts/customerCommits/create", body).data["id"]
    return commit_id


def delivered(local_api: LocalApi, alert_id: str, count: int, wait_seconds: float = 20.0) -> list[dict[str, Any]]:
    """The alert's webhooks the stack's receiver accepted — queued by the evaluator, signed and
    POSTed by the webhook sender, verified by the docs' receiver example — once there are `count`
    and the notifications queue holds nothing more (visible or in flight)."""
    assert local_api.stack.resources is not None
    assert local_api.stack.webhook_receiver is not None
    url = local_api.stack.resources.queues["NotificationsQueue"].url
    names: list[Any] = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    deadline = time.monotonic() + wait_seconds
    while True:
        bodies = [b for b in local_api.stack.webhook_receiver.accepted() if b["properties"]["alert_id"] == alert_id]
        counts = local_api.stack.clients.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
        if len(bodies) >= count and all(counts[name] == "0" for name in names):
            return bodies
        if time.monotonic() > deadline:
            return bodies
        time.sleep(0.05)


def evaluations_settled(local_api: LocalApi, wait_seconds: float = 20.0) -> None:
    """Until the evaluator's queue holds no message, visible or in flight (the stack drives it)."""
    assert local_api.stack.resources is not None
    url = local_api.stack.resources.queues["AlertEvaluationQueue"].url
    names: list[Any] = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        counts = local_api.stack.clients.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
        if all(counts[name] == "0" for name in names):
            return
        time.sleep(0.05)
    raise AssertionError("the evaluator's queue did not drain")
