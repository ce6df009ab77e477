"""No botocore error leaves an AWS adapter: each becomes RetryableError or PermanentError, with a
message naming the service, the operation, the resource and what to do.

Real clients throughout: moto for missing resources, botocore's Stubber for the replies moto cannot
make (throttling, 5xx, cancelled transactions), an unreachable loopback port for connection errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from shared.adapters.aws_errors import ConditionFailed, TransactionConflict, describe
from shared.adapters.dynamodb import DynamoDBStore
from shared.adapters.sqs_queue import SQS_MAX_MESSAGE_BYTES, SqsQueue
from shared.ports.errors import PermanentError, RetryableError
from tests.builders import customer

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient


@pytest.fixture
def stubbed() -> Iterator[tuple[DynamoDBClient, Stubber]]:
    client = boto3.client("dynamodb", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("ProvisionedThroughputExceededException", 400, RetryableError),
        ("ThrottlingException", 400, RetryableError),
        ("RequestLimitExceeded", 400, RetryableError),
        ("InternalServerError", 500, RetryableError),
        ("SomethingNew", 503, RetryableError),  # any 5xx, known code or not
        ("ValidationException", 400, PermanentError),
        ("AccessDeniedException", 400, PermanentError),
        ("ResourceNotFoundException", 400, PermanentError),
    ],
)
def test_dynamodb_errors_are_mapped_by_code_and_status(
    stubbed: tuple[DynamoDBClient, Stubber], code: str, status: int, expected: type[Exception]
) -> None:
    client, stubber = stubbed
    stubber.add_client_error("get_item", service_error_code=code, service_message="said AWS", http_status_code=status)
    with pytest.raises(expected) as raised:
        DynamoDBStore(client, "billing").get_customer("cust_1")
    message = str(raised.value)
    assert "DynamoDB GetItem on table billing" in message
    assert code in message
    assert "said AWS" in message
    assert getattr(raised.value, "code", None) == code


def test_a_retryable_message_says_it_will_be_retried_and_a_permanent_one_what_to_do(
    stubbed: tuple[DynamoDBClient, Stubber],
) -> None:
    client, stubber = stubbed
    stubber.add_client_error("get_item", service_error_code="ThrottlingException", http_status_code=400)
    stubber.add_client_error("get_item", service_error_code="AccessDeniedException", http_status_code=400)
    store = DynamoDBStore(client, "billing")
    with pytest.raises(RetryableError, match=r"throttled .*will be retried"):
        store.get_customer("cust_1")
    with pytest.raises(PermanentError, match="grant the function's role this action"):
        store.get_customer("cust_1")


@pytest.mark.parametrize(
    ("reasons", "expected"),
    [
        (["ConditionalCheckFailed", "None"], ConditionFailed),
        (["None", "TransactionConflict"], TransactionConflict),
        (["ValidationError"], PermanentError),
    ],
)
def test_a_cancelled_transaction_is_mapped_by_its_reasons(reasons: list[str], expected: type[Exception]) -> None:
    response: Any = {
        "Error": {"Code": "TransactionCanceledException", "Message": f"Transaction cancelled [{', '.join(reasons)}]"},
        "CancellationReasons": [{"Code": reason} for reason in reasons],
        "ResponseMetadata": {"HTTPStatusCode": 400},
    }
    error = describe(ClientError(response, "TransactWriteItems"), "DynamoDB", "TransactWriteItems", "table t")
    assert type(error) is expected
    only_message: Any = {**response, "CancellationReasons": []}
    again = describe(ClientError(only_message, "TransactWriteItems"), "DynamoDB", "TransactWriteItems", "table t")
    assert type(again) is expected  # some endpoints say it only in the message


def test_a_missing_table_is_permanent_and_names_it(dynamodb: DynamoDBClient) -> None:
    store = DynamoDBStore(dynamodb, "no-such-table")
    with pytest.raises(PermanentError) as raised:
        store.create_customer(customer("cust_1"))
    assert "no-such-table" in str(raised.value)
    assert raised.value.code == "ResourceNotFoundException"


def test_an_unreachable_endpoint_is_retryable() -> None:
    client = boto3.client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",  # discard port: nothing listens
        config=Config(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=1),
    )
    with pytest.raises(RetryableError, match="did not answer"):
        DynamoDBStore(client, "billing").get_invoice("inv_1")


def test_sqs_errors_are_mapped_and_name_the_queue(aws: None) -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    queue = SqsQueue(sqs, "https://sqs.us-east-1.amazonaws.com/123456789012/missing")
    with pytest.raises(PermanentError) as raised:
        queue.send({"invoice_id": "inv_1"})
    assert "SQS SendMessage on queue https://sqs.us-east-1.amazonaws.com/123456789012/missing" in str(raised.value)

    url = sqs.create_queue(QueueName="real")["QueueUrl"]
    with pytest.raises(PermanentError, match="exceeds SQS's") as too_big:
        SqsQueue(sqs, url).send({"blob": "x" * SQS_MAX_MESSAGE_BYTES})
    assert too_big.value.code == "message_too_large"


def test_sqs_throttling_is_retryable() -> None:
    client = boto3.client("sqs", region_name="us-east-1")
    with Stubber(client) as stubber:
        stubber.add_client_error("send_message", service_error_code="RequestThrottled", http_status_code=403)
        with pytest.raises(RetryableError, match="throttled"):
            SqsQueue(client, "https://sqs.us-east-1.amazonaws.com/123456789012/q").send({"a": 1})
