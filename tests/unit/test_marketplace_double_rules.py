"""The marketplace doubles' rules (local/aws_metering_model.py, local/azure_metering_model.py) as pure code.

Whatever a client sends, a double answers with the provider's own refusal or a per-record result:
never an exception of its own (which would surface as a dropped connection, not an AWS or Azure
error a client could branch on).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from local.aws_metering_model import AwsError, MeteringModel, Subscriber, in_window
from local.azure_metering_model import AzureError, AzureMeteringModel, SaasResource

NOW = datetime(2027, 4, 1, 5, 30, tzinfo=UTC)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
record_keys = st.sampled_from(
    ["Timestamp", "Dimension", "Quantity", "CustomerIdentifier", "CustomerAWSAccountId", "LicenseArn", "Other"]
)
aws_records = st.lists(st.dictionaries(record_keys, json_values | st.just(NOW.timestamp()), max_size=6), max_size=27)
azure_keys = st.sampled_from(["resourceId", "quantity", "dimension", "effectiveStartTime", "planId", "other"])
azure_events = st.lists(
    st.dictionaries(azure_keys, json_values | st.just("2027-04-01T05:00:00Z") | st.just("sub-1"), max_size=6),
    max_size=27,
)


@given(payload=st.fixed_dictionaries({"UsageRecords": aws_records}, optional={"ProductCode": json_values}))
def test_the_aws_double_answers_any_batch_with_an_aws_error_or_one_result_per_record(payload: dict[str, Any]) -> None:
    model = MeteringModel(NOW.timestamp, auto_subscribe=True)
    model.subscribe(Subscriber("prod-x", customer_identifier="c-1"))
    try:
        reply: Any = model.batch_meter_usage(payload, "us-east-1")
    except AwsError as error:
        reply = error
    if isinstance(reply, AwsError):
        assert reply.status in (400, 403)
        assert reply.code
    else:
        assert len(reply["Results"]) == len(payload["UsageRecords"])


@given(payload=json_values | st.fixed_dictionaries({"request": azure_events}))
def test_the_azure_double_answers_any_batch_with_a_400_or_one_status_per_event(payload: Any) -> None:
    model = AzureMeteringModel(NOW.timestamp)
    model.add_resource(SaasResource("sub-1", "gold"))
    try:
        reply: Any = model.batch_usage_event(payload, "client")
    except AzureError as error:
        reply = error
    if isinstance(reply, AzureError):
        assert reply.status == 400
    else:
        assert reply["count"] == len(payload["request"])
        assert all(isinstance(result["status"], str) for result in reply["result"])


def test_a_timestamp_that_is_no_time_is_a_validation_error() -> None:
    model = MeteringModel(NOW.timestamp, auto_subscribe=True)
    for timestamp in (1e30, float("nan"), float("inf")):
        record = {"Timestamp": timestamp, "Dimension": "usage_fee", "Quantity": 1, "CustomerIdentifier": "c-1"}
        with pytest.raises(AwsError, match="is not a time") as raised:
            model.batch_meter_usage({"ProductCode": "prod-x", "UsageRecords": [record]}, "us-east-1")
        assert raised.value.code == "ValidationException"


def test_the_aws_window_is_24_hours_and_the_previous_month_ends_at_six_on_the_first() -> None:
    assert in_window(NOW - timedelta(hours=23, minutes=59), NOW)
    assert not in_window(NOW - timedelta(hours=24), NOW)
    march_31 = datetime(2027, 3, 31, 23, tzinfo=UTC)
    assert in_window(march_31, datetime(2027, 4, 1, 5, 59, tzinfo=UTC))
    assert not in_window(march_31, datetime(2027, 4, 1, 6, tzinfo=UTC))
    assert not in_window(NOW + timedelta(minutes=6), NOW)
