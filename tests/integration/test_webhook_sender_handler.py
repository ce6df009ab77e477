"""The webhook sender as Lambda runs it in the cloud: its queue, DLQ and secret on moto, the HTTP
adapter against a real loopback receiver; the SQS event built from what SQS itself returned."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
import time_machine

from functions.webhook_sender.handler import lambda_handler
from local.lambda_context import LocalLambdaContext
from local.loopback_server import LoopbackServer, Reply, Request
from local.pollers import sqs_lambda_event
from shared import bootstrap
from shared.adapters.webhook_http import HttpWebhookEndpoint
from shared.config import WebhookSenderSettings
from shared.domain.webhook_delivery import SIGNATURE_HEADER, signature
from shared.observability import logger
from shared.ports.errors import RetryableError
from tests.notifications import spend_alert_body
from tests.secret_leaks import assert_no_secret_leaks

SECRET = "whsec-integration-6c1f0a9e2b7d"
CONTEXT = LocalLambdaContext("webhook_sender")
START = datetime(2025, 11, 25, 14, 0, 0, tzinfo=UTC)


@dataclass
class Receiver:
    """A loopback endpoint answering `statuses` in turn (then 200), keeping what it was sent."""

    statuses: list[int] = field(default_factory=list)
    hold: bool = False
    seen: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: Request) -> Reply:
        with self.lock:
            self.seen.append(request)
            status = self.statuses.pop(0) if self.statuses else 200
        return Reply(status, b"{}", hold=self.hold)


@dataclass
class Cloud:
    sqs: Any
    queue_url: str
    dlq_url: str
    receiver: Receiver

    def send(self, body: str) -> None:
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=body)

    def receive(self) -> list[Any]:
        return list(
            self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
            ).get("Messages", [])
        )

    def invoke(self, messages: list[Any]) -> Any:
        return lambda_handler(sqs_lambda_event(messages, "arn:aws:sqs:us-east-1:123456789012:n", "us-east-1"), CONTEXT)

    def dead_letters(self) -> list[Any]:
        return list(
            self.sqs.receive_message(QueueUrl=self.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get(
                "Messages", []
            )
        )


@pytest.fixture
def cloud(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cloud]:
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="notifications")["QueueUrl"]
    dlq_url = sqs.create_queue(QueueName="notifications-dlq")["QueueUrl"]
    secret_arn = boto3.client("secretsmanager").create_secret(Name="webhook-secret", SecretString=f"{SECRET}\n")["ARN"]
    receiver = Receiver()
    server = LoopbackServer(receiver, name="test-webhook-receiver").start()
    for name, value in {
        "NOTIFICATIONS_QUEUE_URL": queue_url,
        "NOTIFICATIONS_DLQ_URL": dlq_url,
        "WEBHOOK_URL": f"{server.url}/hooks/downbeat",
        "WEBHOOK_SECRET_NAME": secret_arn,
        "POWERTOOLS_SERVICE_NAME": "webhook_sender",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("WEBHOOK_SECRET", raising=False)
    bootstrap.reset()
    try:
        yield Cloud(sqs, queue_url, dlq_url, receiver)
    finally:
        server.stop()
        bootstrap.reset()


def test_delivered_signed_with_the_secret_from_secrets_manager(cloud: Cloud, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=logger.name)
    body = spend_alert_body("ntf_cloud_1")
    cloud.send(body)
    assert cloud.invoke(cloud.receive()) == {"batchItemFailures": []}

    (request,) = cloud.receiver.seen
    assert (request.method, request.path, request.body) == ("POST", "/hooks/downbeat", body.encode())
    assert request.headers["content-type"] == "application/json"
    assert request.headers[SIGNATURE_HEADER.lower()] == signature(SECRET, request.headers["date"], body.encode())
    (delivered,) = [r for r in caplog.records if r.getMessage() == "webhook delivered"]
    assert delivered.__dict__["notification_id"] == "ntf_cloud_1"
    # Every record of the functions' logger with every field it carries (what its JSON formatter writes).
    ours = [record for record in caplog.records if record.name == logger.name]
    logs = "\n".join(json.dumps(record.__dict__, default=str) for record in ours)
    assert_no_secret_leaks({"WEBHOOK_SECRET": SECRET}, {"handler logs": logs})


@contextmanager
def queued(cloud: Cloud, notification_id: str, statuses: list[int]) -> Iterator[tuple[str, Any]]:
    """A notification on the queue for a receiver answering `statuses`; (its body, the clock at START)."""
    cloud.receiver.statuses = statuses
    body = spend_alert_body(notification_id)
    cloud.send(body)
    with time_machine.travel(START, tick=False) as clock:
        yield body, clock


def test_a_failed_attempt_comes_back_after_its_wait_and_not_before(cloud: Cloud) -> None:
    with queued(cloud, "ntf_cloud_2", [500, 503]) as (body, clock):
        (message,) = cloud.receive()
        assert cloud.invoke([message]) == {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}
        clock.shift(59)
        assert cloud.receive() == []  # the sender's 60 s, not the queue's 180 s nor the poller's
        clock.shift(2)
        (again,) = cloud.receive()
        assert again["Attributes"]["ApproximateReceiveCount"] == "2"
        assert cloud.invoke([again])["batchItemFailures"]
        clock.shift(120)  # made 61 s after the first: it waits 61 + 60 s
        assert cloud.receive() == []
        clock.shift(2)
        (third,) = cloud.receive()
        assert cloud.invoke([third]) == {"batchItemFailures": []}
        assert not cloud.dead_letters()
    assert [r.body for r in cloud.receiver.seen] == [body.encode()] * 3
    assert len({r.headers["date"] for r in cloud.receiver.seen}) == 3


def test_after_72_hours_the_message_goes_to_the_dlq_with_its_reason(cloud: Cloud) -> None:
    with queued(cloud, "ntf_cloud_3", [502, 502]) as (body, clock):
        (message,) = cloud.receive()
        assert cloud.invoke([message])["batchItemFailures"]
        clock.shift(72 * 3600)
        (late,) = cloud.receive()
        assert cloud.invoke([late]) == {"batchItemFailures": []}  # settled: Lambda deletes it
        (dead,) = cloud.dead_letters()  # on the travelled clock: SQS's retention counts from then
    assert dead["Body"] == body
    attributes = {name: value["StringValue"] for name, value in dead["MessageAttributes"].items()}
    assert attributes == {
        "source": "webhook_sender",
        "notification_id": "ntf_cloud_3",
        "reason": "not delivered within 72 hours of the first attempt; last attempt: the endpoint answered 502",
    }


def test_a_batch_reports_only_its_failed_records(cloud: Cloud) -> None:
    cloud.receiver.statuses = [200, 404]
    cloud.send(spend_alert_body("ntf_a"))
    cloud.send(spend_alert_body("ntf_b"))
    messages = cloud.receive()
    assert len(messages) == 2
    response = cloud.invoke(messages)
    failed_ids = [failure["itemIdentifier"] for failure in response["batchItemFailures"]]
    second = next(m for m in messages if json.loads(m["Body"])["id"] == json.loads(cloud.receiver.seen[1].body)["id"])
    assert failed_ids == [second["MessageId"]]


def test_a_receiver_that_never_answers_times_out() -> None:
    receiver = Receiver(hold=True)
    server = LoopbackServer(receiver, name="silent").start()
    try:
        endpoint = HttpWebhookEndpoint(server.url, connect_timeout=1, read_timeout=0.3)
        with pytest.raises(RetryableError) as error:
            endpoint.post(b"{}", {"Date": "x"})
    finally:
        server.stop()
    assert error.value.code == "timeout"
    assert len(receiver.seen) == 1


def test_a_receiver_that_is_down_is_a_connection_error() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = HttpWebhookEndpoint(f"http://127.0.0.1:{port}/", connect_timeout=1, read_timeout=1)
    with pytest.raises(RetryableError) as error:
        endpoint.post(b"{}", {"Date": "x"})
    assert error.value.code == "connection"


def test_settings_never_show_the_secret_and_name_what_is_missing() -> None:
    settings = WebhookSenderSettings.from_env(
        {"NOTIFICATIONS_QUEUE_URL": "q", "NOTIFICATIONS_DLQ_URL": "d", "WEBHOOK_SECRET": SECRET}
    )
    assert SECRET not in repr(settings)
    with pytest.raises(Exception, match="WEBHOOK_SECRET"):
        WebhookSenderSettings.from_env(
            {"NOTIFICATIONS_QUEUE_URL": "q", "NOTIFICATIONS_DLQ_URL": "d"}
        ).require_secret_source()
