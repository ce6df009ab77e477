"""The S3 claim-check reader: moto for objects and missing ones, botocore's Stubber for the replies
moto cannot make (access denied, throttling, 5xx), a broken body for a dropped connection."""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any, cast

import boto3
import pytest
from botocore.exceptions import ResponseStreamingError
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from shared.adapters.s3_claim_checks import S3ClaimChecks
from shared.ports.claim_checks import ClaimCheckUnreadable
from shared.ports.errors import RetryableError

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

BUCKET = "downbeat-claim-checks"


@pytest.fixture
def s3(aws: None) -> S3Client:
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    client.create_bucket(Bucket="someone-elses-bucket")
    return client


@pytest.fixture
def stubbed() -> Iterator[tuple[S3Client, Stubber]]:
    client = boto3.client("s3", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber


def test_an_object_of_its_bucket_is_read(s3: S3Client) -> None:
    s3.put_object(Bucket=BUCKET, Key="claims/inv 1 ü.json", Body=b"[]")
    assert S3ClaimChecks(s3, BUCKET).read(f"s3://{BUCKET}/claims/inv 1 ü.json") == b"[]"


@pytest.mark.parametrize(
    ("uri", "said"),
    [
        (f"s3://{BUCKET}/claims/gone.json", "no such object"),
        ("s3://someone-elses-bucket/claims/x.json", f"claim checks are read only from '{BUCKET}'"),
        ("s3://nowhere/x.json", "names the bucket 'nowhere'"),
        ("not a uri", "must be an S3 URI"),
    ],
)
def test_an_object_it_cannot_read_is_unreadable_with_the_reason(s3: S3Client, uri: str, said: str) -> None:
    s3.put_object(Bucket="someone-elses-bucket", Key="claims/x.json", Body=b"[]")
    with pytest.raises(ClaimCheckUnreadable) as raised:
        S3ClaimChecks(s3, BUCKET).read(uri)
    assert said in str(raised.value)


def test_a_bucket_that_is_gone_is_unreadable(aws: None) -> None:
    with pytest.raises(ClaimCheckUnreadable, match="no such bucket"):
        S3ClaimChecks(boto3.client("s3"), BUCKET).read(f"s3://{BUCKET}/x.json")


def test_an_object_larger_than_the_bound_is_unreadable(s3: S3Client) -> None:
    s3.put_object(Bucket=BUCKET, Key="big.json", Body=b"[" + b" " * 2000 + b"]")
    with pytest.raises(ClaimCheckUnreadable, match="2,002 bytes; claim checks of at most 1,000"):
        S3ClaimChecks(s3, BUCKET, max_bytes=1000).read(f"s3://{BUCKET}/big.json")


def test_the_bucket_must_belong_to_this_account(stubbed: tuple[S3Client, Stubber]) -> None:
    client, stubber = stubbed
    expected = {"Bucket": BUCKET, "Key": "x.json", "ExpectedBucketOwner": "111122223333"}
    stubber.add_client_error("get_object", "AccessDenied", "Access Denied", 403, expected_params=expected)
    with pytest.raises(ClaimCheckUnreadable, match="access denied"):
        S3ClaimChecks(client, BUCKET, expected_owner="111122223333").read(f"s3://{BUCKET}/x.json")


@pytest.mark.parametrize(("code", "status"), [("SlowDown", 503), ("InternalError", 500), ("ServiceUnavailable", 503)])
def test_throttling_and_5xx_are_retryable(stubbed: tuple[S3Client, Stubber], code: str, status: int) -> None:
    client, stubber = stubbed
    stubber.add_client_error("get_object", code, "try later", status, expected_params={"Bucket": BUCKET, "Key": ANY})
    with pytest.raises(RetryableError) as raised:
        S3ClaimChecks(client, BUCKET).read(f"s3://{BUCKET}/x.json")
    assert code in str(raised.value)


class _BrokenStream(io.RawIOBase):
    def readinto(self, buffer: Any) -> int:
        raise ResponseStreamingError(error="connection reset")


def test_a_body_that_breaks_off_is_retryable(stubbed: tuple[S3Client, Stubber]) -> None:
    client, stubber = stubbed
    body = StreamingBody(cast(IO[bytes], _BrokenStream()), 10)
    stubber.add_response("get_object", {"Body": body, "ContentLength": 10}, {"Bucket": BUCKET, "Key": "x.json"})
    with pytest.raises(RetryableError, match="reading the object failed"):
        S3ClaimChecks(client, BUCKET).read(f"s3://{BUCKET}/x.json")


def test_a_gzip_compressed_object_is_read_decompressed_within_the_bound(s3: S3Client) -> None:
    lines = b'[{"id": "li_1"}]' + b" " * 5_000
    s3.put_object(Bucket=BUCKET, Key="lines.json.gz", Body=gzip.compress(lines))
    assert S3ClaimChecks(s3, BUCKET).read(f"s3://{BUCKET}/lines.json.gz") == lines
    with pytest.raises(ClaimCheckUnreadable, match="once decompressed"):  # small, but a bomb
        S3ClaimChecks(s3, BUCKET, max_bytes=1_000).read(f"s3://{BUCKET}/lines.json.gz")
    s3.put_object(Bucket=BUCKET, Key="cut.json.gz", Body=gzip.compress(lines)[:20])
    with pytest.raises(ClaimCheckUnreadable, match="cut short"):
        S3ClaimChecks(s3, BUCKET).read(f"s3://{BUCKET}/cut.json.gz")
    s3.put_object(Bucket=BUCKET, Key="bad.json.gz", Body=b"\x1f\x8b" + b"not gzip at all")
    with pytest.raises(ClaimCheckUnreadable, match="not valid gzip"):
        S3ClaimChecks(s3, BUCKET).read(f"s3://{BUCKET}/bad.json.gz")
