"""The real AWS metering adapter (boto3 `meteringmarketplace`) against the loopback metering double.

boto3 finds the double the way the functions do, through `AWS_ENDPOINT_URL_MARKETPLACE_METERING`;
botocore's own serializer and signer make every request, and the double verifies the SigV4
signature with the test's credentials, so a wire-format difference fails here.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import botocore.config
import pytest
import time_machine
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from local.aws_metering_double import AwsMeteringDouble
from shared.adapters.aws_metering import AwsMarketplaceMetering, _outcomes
from shared.ports.errors import PermanentError, RetryableError
from shared.ports.metering import AwsBuyer, UsageRecord

KEY, SECRET = "AKIDMETERINGTEST", "metering-test-secret"
PRODUCT, OTHER_PRODUCT = "prod-legacy", "prod-other"
LICENCE = "arn:aws:license-manager::294406891311:license/l-0123456789abcdef"
ACCOUNT = "111122223333"
HOUR = datetime(2026, 12, 1, 10, tzinfo=UTC)


@pytest.fixture(scope="module")
def running_double() -> Iterator[AwsMeteringDouble]:
    with AwsMeteringDouble(credentials={KEY: SECRET}) as double:
        yield double


@pytest.fixture
def double(running_double: AwsMeteringDouble, monkeypatch: pytest.MonkeyPatch) -> AwsMeteringDouble:
    running_double.reset()
    monkeypatch.setenv("AWS_ENDPOINT_URL_MARKETPLACE_METERING", running_double.url)
    running_double.subscribe_licence(ACCOUNT, LICENCE, "prod-licensed")
    for index in range(60):
        running_double.subscribe_customer(f"cust-{index}", PRODUCT)
    running_double.subscribe_customer("cust-0", OTHER_PRODUCT)
    running_double.subscribe_customer("cust-gone", PRODUCT, active=False)
    return running_double


def session(secret: str = SECRET, key: str = KEY) -> boto3.Session:
    return boto3.Session(aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=None)


def adapter(**config: object) -> AwsMarketplaceMetering:
    """No botocore retries unless asked: each test sees the double's first answer."""
    settings = botocore.config.Config(retries={"mode": "standard", "total_max_attempts": 1}, **config)  # type: ignore[arg-type]
    return AwsMarketplaceMetering(session(), config=settings)


def legacy(customer: str, quantity: int = 100, *, at: datetime = HOUR, product: str = PRODUCT,
           region: str = "us-east-1") -> UsageRecord:  # fmt: skip
    buyer = AwsBuyer(product_code=product, region=region, customer_identifier=customer)
    return UsageRecord(f"rec-{customer}-{product}-{at:%H}", buyer, "usage_fee", at, quantity)


def licensed(
    quantity: int = 100, *, licence: str = LICENCE, account: str = ACCOUNT, at: datetime = HOUR
) -> UsageRecord:
    buyer = AwsBuyer(
        product_code="prod-licensed", region="us-east-1", customer_aws_account_id=account, license_arn=licence
    )
    return UsageRecord(f"rec-{account}-{licence[-4:]}", buyer, "usage_fee", at, quantity)


@pytest.fixture(autouse=True)
def _at_half_past() -> Iterator[None]:
    with time_machine.travel(HOUR + timedelta(minutes=30), tick=False):
        yield


def test_a_licence_based_call_carries_no_product_code_and_each_record_its_account_and_licence(
    double: AwsMeteringDouble,
) -> None:
    [outcome] = adapter().meter([licensed(250)])

    assert outcome.state == "accepted"
    [call] = double.calls
    assert call.content_type == "application/x-amz-json-1.1"
    assert call.payload is not None
    assert "ProductCode" not in call.payload
    [sent] = call.payload["UsageRecords"]
    assert sent == {
        "Timestamp": int(HOUR.timestamp()),
        "Dimension": "usage_fee",
        "Quantity": 250,
        "CustomerAWSAccountId": ACCOUNT,
        "LicenseArn": LICENCE,
    }
    [held] = double.records()
    assert outcome.receipt == held.metering_record_id
    assert held.product_code == "prod-licensed"


def test_a_legacy_call_carries_the_product_code_and_each_record_its_customer_identifier(
    double: AwsMeteringDouble,
) -> None:
    outcomes = adapter().meter([legacy("cust-1", 5), legacy("cust-2", 7)])

    assert [o.state for o in outcomes] == ["accepted", "accepted"]
    assert [o.record_id for o in outcomes] == ["rec-cust-1-prod-legacy-10", "rec-cust-2-prod-legacy-10"]
    [call] = double.calls
    assert call.payload is not None
    assert call.payload["ProductCode"] == PRODUCT
    assert [r["CustomerIdentifier"] for r in call.payload["UsageRecords"]] == ["cust-1", "cust-2"]
    assert all("LicenseArn" not in r for r in call.payload["UsageRecords"])
    assert {r.metering_record_id for r in double.records()} == {o.receipt for o in outcomes}


def test_twenty_five_records_go_in_one_call_and_twenty_six_are_refused_before_sending(
    double: AwsMeteringDouble,
) -> None:
    outcomes = adapter().meter([legacy(f"cust-{i}", i + 1) for i in range(25)])
    assert [o.state for o in outcomes] == ["accepted"] * 25
    assert [c.records for c in double.calls] == [25]

    with pytest.raises(PermanentError, match="at most 25"):
        adapter().meter([legacy(f"cust-{i}", i + 1, at=HOUR - timedelta(hours=1)) for i in range(26)])
    assert len(double.calls) == 1


def test_the_double_refuses_a_call_of_26_records_as_aws_does(double: AwsMeteringDouble) -> None:
    client = session().client("meteringmarketplace", region_name="us-east-1")
    records = [{"CustomerIdentifier": f"cust-{i}", "Dimension": "usage_fee", "Quantity": 1, "Timestamp": HOUR}
               for i in range(26)]  # fmt: skip

    with pytest.raises(client.exceptions.ClientError) as raised:
        client.batch_meter_usage(UsageRecords=records, ProductCode=PRODUCT)  # type: ignore[arg-type]

    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert "less than or equal to 25" in raised.value.response["Error"]["Message"]
    assert double.records() == []


def test_both_a_product_code_and_licence_records_is_refused_by_the_double(double: AwsMeteringDouble) -> None:
    client = session().client("meteringmarketplace", region_name="us-east-1")
    record = {"CustomerAWSAccountId": ACCOUNT, "LicenseArn": LICENCE, "Dimension": "usage_fee", "Quantity": 1,
              "Timestamp": HOUR}  # fmt: skip

    with pytest.raises(client.exceptions.ClientError) as raised:
        client.batch_meter_usage(UsageRecords=[record], ProductCode="prod-licensed")  # type: ignore[list-item]

    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert double.records() == []


def test_each_per_record_status_maps_to_its_state(double: AwsMeteringDouble) -> None:
    adapter().meter([legacy("cust-3", 40)])

    outcomes = adapter().meter([
        legacy("cust-4", 10),  # Success
        legacy("cust-gone", 10),  # subscribed once, no longer
        legacy("cust-never", 10),  # never subscribed
        legacy("cust-3", 41),  # this hour already holds 40
    ])  # fmt: skip

    assert [o.state for o in outcomes] == ["accepted", "not_subscribed", "not_subscribed", "duplicate"]
    assert outcomes[0].receipt is not None
    assert all(o.receipt is None for o in outcomes[1:])
    assert outcomes[1].reason is not None
    assert outcomes[1].reason.startswith("CustomerNotSubscribed")
    assert outcomes[3].reason is not None
    assert outcomes[3].reason.startswith("DuplicateRecord")


def test_an_identical_record_again_is_accepted_with_the_original_receipt_and_another_quantity_is_a_conflict(
    double: AwsMeteringDouble,
) -> None:
    [first] = adapter().meter([legacy("cust-5", 300)])
    [again] = adapter().meter([legacy("cust-5", 300)])
    [other] = adapter().meter([legacy("cust-5", 301)])

    assert (first.state, again.state, other.state) == ("accepted", "accepted", "duplicate")
    assert again.receipt == first.receipt
    assert [r.quantity for r in double.records()] == [300]


def test_an_unknown_status_is_a_failure_and_a_record_the_reply_forgets_is_unprocessed() -> None:
    records = [legacy("cust-1"), legacy("cust-2")]
    echo = {"CustomerIdentifier": "cust-1", "Dimension": "usage_fee", "Quantity": 100, "Timestamp": HOUR}

    outcomes = _outcomes(records, [{"UsageRecord": echo, "Status": "SomethingNew"}], [])

    assert [o.state for o in outcomes] == ["failed", "unprocessed"]
    assert outcomes[0].reason is not None
    assert "SomethingNew" in outcomes[0].reason


@pytest.mark.parametrize(
    ("now", "state"),
    [
        (HOUR + timedelta(hours=23, minutes=59), "accepted"),
        (HOUR + timedelta(hours=24), "expired"),
    ],
)
def test_a_record_is_accepted_until_24_hours_after_its_timestamp(
    double: AwsMeteringDouble, now: datetime, state: str
) -> None:
    with time_machine.travel(now, tick=False):
        outcomes = adapter().meter([legacy("cust-6", at=HOUR), legacy("cust-7", at=now.replace(minute=0))])

    # One record out of range refuses the whole call: its fresh neighbour is expired with it.
    assert [o.state for o in outcomes] == [state, state]
    if state == "expired":
        assert all(o.reason and o.reason.startswith("TimestampOutOfBoundsException") for o in outcomes)
        assert double.records() == []


@pytest.mark.parametrize(
    ("now", "state"),
    [
        (datetime(2027, 4, 1, 5, 59, tzinfo=UTC), "accepted"),
        (datetime(2027, 4, 1, 6, 0, tzinfo=UTC), "expired"),
    ],
)
def test_a_previous_months_record_is_accepted_only_until_six_on_the_first(
    double: AwsMeteringDouble, now: datetime, state: str
) -> None:
    march_31 = datetime(2027, 3, 31, 23, tzinfo=UTC)  # well inside 24 hours either way
    with time_machine.travel(now, tick=False):
        [outcome] = adapter().meter([legacy("cust-8", at=march_31)])

    assert outcome.state == state


def test_throttling_and_server_errors_are_retryable(double: AwsMeteringDouble) -> None:
    double.throttle()
    with pytest.raises(RetryableError, match="throttled"):
        adapter().meter([legacy("cust-9")])
    double.internal_error()
    with pytest.raises(RetryableError, match="AWS's side"):
        adapter().meter([legacy("cust-9")])
    assert double.records() == []

    [outcome] = adapter().meter([legacy("cust-9")])
    assert outcome.state == "accepted"


def test_botocore_retries_a_throttled_call_itself_with_the_default_configuration(double: AwsMeteringDouble) -> None:
    double.throttle()
    fast = botocore.config.Config(retries={"mode": "standard", "total_max_attempts": 2})
    [outcome] = AwsMarketplaceMetering(session(), config=fast).meter([legacy("cust-10")])

    assert outcome.state == "accepted"
    assert [c.error for c in double.calls] == ["ThrottlingException", None]


def test_a_timeout_after_aws_applied_the_call_is_retryable_and_the_retry_gets_the_same_receipt(
    double: AwsMeteringDouble,
) -> None:
    double.timeout_after_apply()
    with pytest.raises(RetryableError, match="did not answer"):
        adapter(read_timeout=0.3).meter([legacy("cust-11", 77)])
    [applied] = double.records()

    [outcome] = adapter().meter([legacy("cust-11", 77)])

    assert outcome.state == "accepted"
    assert outcome.receipt == applied.metering_record_id
    assert len(double.records()) == 1


def test_a_dropped_connection_after_apply_is_retryable(double: AwsMeteringDouble) -> None:
    double.drop_after_apply()
    with pytest.raises(RetryableError):
        adapter().meter([legacy("cust-12")])
    assert len(double.records()) == 1


def test_unprocessed_records_come_back_unprocessed_and_are_accepted_when_sent_again(double: AwsMeteringDouble) -> None:
    double.unprocessed(count=1)
    records = [legacy("cust-13"), legacy("cust-14")]

    first = adapter().meter(records)
    again = adapter().meter(records)

    assert [o.state for o in first] == ["unprocessed", "accepted"]
    assert [o.state for o in again] == ["accepted", "accepted"]
    assert again[1].receipt == first[1].receipt


def test_one_foreign_licence_in_a_batch_fails_alone_and_its_neighbours_are_metered(double: AwsMeteringDouble) -> None:
    for index in range(3):
        double.subscribe_licence(f"44445555666{index}", f"{LICENCE}{index}", "prod-licensed")
    records = [licensed(10 + i, licence=f"{LICENCE}{i}", account=f"44445555666{i}") for i in range(3)]
    records[1] = licensed(11, licence=f"{LICENCE}1", account="999999999999")  # someone else's licence

    outcomes = adapter().meter(records)

    assert [o.state for o in outcomes] == ["accepted", "failed", "accepted"]
    assert outcomes[1].reason is not None
    assert outcomes[1].reason.startswith("InvalidLicenseException")
    assert len(double.records()) == 2


def test_an_unnamed_bad_customer_identifier_alone_in_its_call_is_failed_with_awss_message(
    double: AwsMeteringDouble,
) -> None:
    double.error(400, "InvalidCustomerIdentifierException", "No such customer.", skip=0)
    [outcome] = adapter().meter([legacy("cust-15")])

    assert outcome.state == "failed"
    assert outcome.reason == "InvalidCustomerIdentifierException: No such customer."


def test_a_disabled_api_is_a_permanent_error_naming_the_region_setting(double: AwsMeteringDouble) -> None:
    double.error(400, "DisabledApiException", "The API is disabled in the Region.")
    with pytest.raises(PermanentError, match="aws_region") as raised:
        adapter().meter([legacy("cust-16")])
    assert raised.value.code == "DisabledApiException"


def test_the_double_refuses_an_unknown_operation_and_another_protocol(double: AwsMeteringDouble) -> None:
    status, body = _raw_call(double, "aws-marketplace", target="AWSMPMeteringService.NoSuchThing")
    assert (status, body["__type"]) == (400, "UnknownOperationException")
    status, body = _raw_call(double, "aws-marketplace", content_type="application/json")
    assert (status, body["__type"]) == (400, "SerializationException")


def test_an_unknown_product_is_a_permanent_error_saying_what_to_check(double: AwsMeteringDouble) -> None:
    with pytest.raises(PermanentError, match="aws_product_code") as raised:
        adapter().meter([legacy("cust-1", product="prod-unlisted")])
    assert raised.value.code == "InvalidProductCodeException"


@pytest.mark.parametrize(
    ("records", "mix"),
    [
        ([legacy("cust-1"), legacy("cust-0", product=OTHER_PRODUCT)], "product codes"),
        ([legacy("cust-1"), legacy("cust-2", region="eu-west-1")], "regions"),
    ],
)
def test_records_of_two_products_or_regions_are_refused_naming_the_mix(
    double: AwsMeteringDouble, records: list[UsageRecord], mix: str
) -> None:
    with pytest.raises(PermanentError, match=f"mix {mix}"):
        adapter().meter(records)
    assert double.calls == []


def test_two_identifier_styles_in_one_call_are_refused(double: AwsMeteringDouble) -> None:
    licensed_same_product = licensed()
    buyer = AwsBuyer(PRODUCT, "us-east-1", customer_aws_account_id=ACCOUNT, license_arn=LICENCE)
    mixed = UsageRecord(licensed_same_product.record_id, buyer, "usage_fee", HOUR, 1)

    with pytest.raises(PermanentError, match="mix identifier styles"):
        adapter().meter([legacy("cust-1"), mixed])


def test_each_region_gets_its_own_client_and_signature_scope(double: AwsMeteringDouble) -> None:
    metering = adapter()
    metering.meter([legacy("cust-1")])
    metering.meter([legacy("cust-2", region="eu-west-1")])

    assert [c.region for c in double.calls] == ["us-east-1", "eu-west-1"]


def test_a_wrong_secret_is_refused_as_aws_refuses_a_bad_signature(double: AwsMeteringDouble) -> None:
    settings = botocore.config.Config(retries={"total_max_attempts": 1})
    with pytest.raises(PermanentError, match="InvalidSignatureException"):
        AwsMarketplaceMetering(session(secret="not-the-secret"), config=settings).meter([legacy("cust-1")])
    with pytest.raises(PermanentError, match="UnrecognizedClientException"):
        AwsMarketplaceMetering(session(key="AKIDUNKNOWN"), config=settings).meter([legacy("cust-1")])
    assert double.records() == []


def _raw_call(
    double: AwsMeteringDouble,
    signing_service: str | None,
    *,
    target: str = "AWSMPMeteringService.BatchMeterUsage",
    content_type: str = "application/x-amz-json-1.1",
) -> tuple[int, dict[str, Any]]:
    body = json.dumps({"ProductCode": PRODUCT, "UsageRecords": []}).encode()
    headers = {"X-Amz-Target": target, "Content-Type": content_type}
    request = AWSRequest(method="POST", url=double.url + "/", data=body, headers=headers)
    if signing_service is not None:
        SigV4Auth(Credentials(KEY, SECRET), signing_service, "us-east-1").add_auth(request)
    prepared = urllib.request.Request(double.url + "/", data=body, headers=dict(request.headers.items()), method="POST")
    try:
        with urllib.request.urlopen(prepared, timeout=5) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_a_signature_scoped_to_another_service_or_none_at_all_is_refused(double: AwsMeteringDouble) -> None:
    status, body = _raw_call(double, "execute-api")
    assert status == 403
    assert body["__type"] == "InvalidSignatureException"
    assert "aws-marketplace" in body["message"]

    status, body = _raw_call(double, None)
    assert (status, body["__type"]) == (403, "MissingAuthenticationTokenException")

    status, body = _raw_call(double, "aws-marketplace")
    assert (status, body) == (200, {"Results": [], "UnprocessedRecords": []})


def test_the_maximum_quantity_is_botocores_model_maximum() -> None:
    assert AwsMarketplaceMetering(session()).max_quantity == 2_147_483_647
