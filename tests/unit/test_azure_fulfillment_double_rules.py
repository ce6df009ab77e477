"""The Azure double's fulfillment rules (local/azure_fulfillment_model.py) as pure code: any request
body gets an answer Microsoft documents (a success or an `AzureError` status), never an exception
of its own, and the subscription's life shows in what the metering side accepts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from local.azure_fulfillment_model import AzureFulfillmentModel
from local.azure_metering_model import AzureError, AzureMeteringModel

NOW = datetime(2026, 12, 1, 10, 30, tzinfo=UTC)
APP = "publisher-app"
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
bodies = json_values | st.fixed_dictionaries(
    {}, optional={"planId": json_values | st.just("gold"), "quantity": json_values | st.just(5) | st.just("5"),
                  "status": json_values | st.sampled_from(["Success", "Failure"])},
)  # fmt: skip


def model() -> AzureFulfillmentModel:
    return AzureFulfillmentModel(NOW.timestamp, AzureMeteringModel(NOW.timestamp))


def usage(fulfillment: AzureFulfillmentModel, subscription_id: str, plan: str = "gold") -> str:
    event = {"resourceId": subscription_id, "quantity": 1, "dimension": "usage_fee",
             "effectiveStartTime": "2026-12-01T10:00:00Z", "planId": plan}  # fmt: skip
    fulfillment.metering.events.clear()
    return str(fulfillment.metering.batch_usage_event({"request": [event]}, APP)["result"][0]["status"])


@given(body=bodies)
def test_activate_and_patch_answer_any_body_with_a_documented_status(body: Any) -> None:
    fulfillment = model()
    _, subscription = fulfillment.landing_token(quantity=5)
    operation = fulfillment.start_operation(subscription.id, "ChangeQuantity", quantity=7)

    statuses = []
    for call, arguments in ((fulfillment.activate, (subscription.id, body, APP)),
                            (fulfillment.patch_operation, (subscription.id, operation.id, body, APP))):  # fmt: skip
        try:
            call(*arguments)
        except AzureError as error:
            statuses.append(error.status)
    assert set(statuses) <= {400, 404, 409}


def test_the_subscription_life_drives_what_metering_accepts() -> None:
    fulfillment = model()
    _, subscription = fulfillment.landing_token(quantity=None)
    assert usage(fulfillment, subscription.id) == "ResourceNotFound"

    fulfillment.activate(subscription.id, {"planId": "gold", "quantity": ""}, APP)
    assert usage(fulfillment, subscription.id) == "Accepted"
    fulfillment.start_operation(subscription.id, "Suspend")
    assert usage(fulfillment, subscription.id) == "ResourceNotActive"
    fulfillment.start_operation(subscription.id, "Reinstate")
    change = fulfillment.start_operation(subscription.id, "ChangePlan", plan_id="platinum")
    assert usage(fulfillment, subscription.id) == "Accepted"  # not applied until acknowledged
    fulfillment.patch_operation(subscription.id, change.id, {"status": "Success"}, APP)
    assert usage(fulfillment, subscription.id, "platinum") == "Accepted"
    fulfillment.start_operation(subscription.id, "Unsubscribe")
    assert usage(fulfillment, subscription.id, "platinum") == "ResourceNotActive"


def test_a_failed_acknowledgement_leaves_the_subscription_as_it_was() -> None:
    fulfillment = model()
    _, subscription = fulfillment.landing_token(quantity=5)
    fulfillment.activate(subscription.id, {"planId": "gold", "quantity": 5}, APP)
    change = fulfillment.start_operation(subscription.id, "ChangeQuantity", quantity=9)

    fulfillment.patch_operation(subscription.id, change.id, {"status": "Failure"}, APP)

    assert fulfillment.operations[change.id].status == "Failed"
    assert fulfillment.subscriptions[subscription.id].quantity == 5
    with pytest.raises(AzureError) as raised:
        fulfillment.patch_operation(subscription.id, change.id, {"status": "Success"}, APP)
    assert raised.value.status == 409


def test_the_webhook_body_is_microsofts_shape_with_the_operation_id() -> None:
    fulfillment = model()
    _, subscription = fulfillment.landing_token(quantity=5)
    operation = fulfillment.start_operation(subscription.id, "Suspend")

    body = fulfillment.webhook_payload(operation)

    assert (body["id"], body["subscriptionId"], body["action"], body["status"]) == (
        operation.id, subscription.id, "Suspend", "Succeeded"
    )  # fmt: skip
    assert body["subscription"]["saasSubscriptionStatus"] == "Suspended"
    assert {"activityId", "publisherId", "offerId", "planId", "quantity", "timeStamp", "operationRequestSource",
            "purchaseToken"} <= set(body)  # fmt: skip
