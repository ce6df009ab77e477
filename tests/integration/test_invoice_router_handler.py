"""The router handler with its real adapters (bootstrap) on moto DynamoDB and SQS."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from functions.invoice_router.handler import lambda_handler
from local.lambda_context import LocalLambdaContext
from shared import bootstrap
from shared.adapters.dynamodb import DynamoDBStore
from shared.observability import logger
from tests.builders import AWS, STRIPE, configuration, contract, customer, invoice_event
from tests.conftest import TABLE_NAME

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_sqs.client import SQSClient

EVENTS = Path(__file__).resolve().parents[2] / "events" / "invoice_router"


@pytest.fixture
def queues(dynamodb: DynamoDBClient, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    sqs = boto3.client("sqs")
    urls = {name: sqs.create_queue(QueueName=name)["QueueUrl"] for name in ("stripe-sync", "router-dlq")}
    monkeypatch.setenv("TABLE_NAME", TABLE_NAME)
    monkeypatch.setenv("STRIPE_SYNC_QUEUE_URL", urls["stripe-sync"])
    monkeypatch.setenv("ROUTER_DLQ_URL", urls["router-dlq"])
    store = DynamoDBStore(dynamodb, TABLE_NAME)
    store.create_customer(customer("cust_acme", configuration(STRIPE, default=True), configuration(AWS)))
    store.create_contract(contract("con_acme_2025", "cust_acme"))
    bootstrap.reset()
    yield urls
    bootstrap.reset()


def receive(url: str) -> list[tuple[dict[str, Any], dict[str, str]]]:
    """(body, string attributes) of the messages now in the queue."""
    sqs: SQSClient = boto3.client("sqs")
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
    return [
        (
            json.loads(message["Body"]),
            {name: value["StringValue"] for name, value in message.get("MessageAttributes", {}).items()},
        )
        for message in messages.get("Messages", [])
    ]


def drain(url: str) -> list[dict[str, Any]]:
    return [body for body, _ in receive(url)]


def invoke(event: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = lambda_handler(event, LocalLambdaContext("InvoiceRouterFunction"))
    return result


def test_sample_event_is_routed_to_the_stripe_queue(queues: dict[str, str]) -> None:
    event = json.loads((EVENTS / "finalized.json").read_text())
    result = invoke(event)
    assert (result["outcome"], result["provider"]) == ("queued", "stripe")
    assert drain(queues["stripe-sync"]) == [{"action": "sync", "invoice_id": "inv_demo_stripe", "version": 7}]


def test_invalid_event_is_in_the_dlq_and_the_handler_succeeds(queues: dict[str, str]) -> None:
    event = invoice_event(total="12.345")
    result = invoke(event)
    assert result["outcome"] == "rejected"
    [(body, attributes)] = receive(queues["router-dlq"])
    assert body == event
    assert attributes["field"] == "detail.total"
    assert "detail.total" in attributes["reason"]


def test_an_unknown_detail_type_is_in_the_dlq_naming_it_and_the_handler_succeeds(queues: dict[str, str]) -> None:
    event = invoice_event("invoice.exploded")
    result = invoke(event)
    assert (result["outcome"], result["field"]) == ("rejected", "detail-type")
    [(body, attributes)] = receive(queues["router-dlq"])
    assert body == event
    assert attributes["field"] == "detail-type"
    assert "'invoice.exploded'" in attributes["reason"]
    assert "invoice.finalized, invoice.updated, invoice.voided" in attributes["reason"]
    assert drain(queues["stripe-sync"]) == []


def test_missing_environment_fails_at_start_with_the_variable_name(
    queues: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ROUTER_DLQ_URL")
    bootstrap.reset()
    with pytest.raises(RuntimeError, match="ROUTER_DLQ_URL"):
        invoke(invoice_event())


def test_metrics_and_logs_carry_invoice_and_customer(
    queues: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    log_stream = io.StringIO()
    monkeypatch.setattr(logger.registered_handler, "stream", log_stream)
    invoke(invoice_event())
    logs = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    routed_log = next(line for line in logs if line.get("message") == "invoice event routed")
    assert (routed_log["invoice_id"], routed_log["customer_id"]) == ("inv_1", "cust_acme")
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert any("InvoicesRouted" in line and line.get("provider") == "stripe" for line in emf)


def test_secrets_never_reach_the_logs(queues: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_never_logged")
    log_stream = io.StringIO()
    monkeypatch.setattr(logger.registered_handler, "stream", log_stream)
    invoke(invoice_event(total="oops"))
    invoke(invoice_event())
    assert "sk_test_never_logged" not in log_stream.getvalue()


def test_a_rejection_whose_reason_holds_characters_sqs_refuses_still_reaches_the_dlq(queues: dict[str, str]) -> None:
    event = invoice_event(custom_fields={"bad\x00key": 1})
    assert invoke(event)["outcome"] == "rejected"
    [(body, attributes)] = receive(queues["router-dlq"])
    assert body == event
    assert attributes["field"] == "detail.custom_fields.bad\ufffdkey"


def test_a_rejected_invoice_shows_failed_in_the_router_dlq(queues: dict[str, str], dynamodb: DynamoDBClient) -> None:
    event = invoice_event(id="inv_Ω_ünïcødé", customer_id="cust_ghost")
    assert invoke(event)["outcome"] == "rejected"
    [(body, attributes)] = receive(queues["router-dlq"])
    assert body["detail"]["id"] == "inv_Ω_ünïcødé"
    sync = DynamoDBStore(dynamodb, TABLE_NAME).get_sync("inv_Ω_ünïcødé")
    assert sync is not None
    assert (sync.status, sync.dead_letter_queue, sync.reason) == ("failed", "RouterDLQ", attributes["reason"])


def test_an_infrastructure_error_is_raised_logged_and_shown_as_failed(
    queues: dict[str, str], dynamodb: DynamoDBClient, caplog: pytest.LogCaptureFixture
) -> None:
    boto3.client("sqs").delete_queue(QueueUrl=queues["stripe-sync"])  # the hand-over fails
    with pytest.raises(Exception, match="SQS"):
        invoke(invoice_event(id="inv_unqueued"))
    sync = DynamoDBStore(dynamodb, TABLE_NAME).get_sync("inv_unqueued")
    assert sync is not None
    assert (sync.status, sync.dead_letter_queue, sync.provider) == ("failed", "RouterDLQ", "stripe")
    assert "routing did not finish" in (sync.reason or "")
    assert "\n" not in (sync.reason or "")
    [logged] = [r for r in caplog.records if r.getMessage().startswith("invoice event failed")]
    assert logged.exc_info is not None  # the traceback is in the log line, not in the status
