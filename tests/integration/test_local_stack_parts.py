"""The local stack's pure parts: event shapes, partial-batch rules, template resolution, DLQ lines."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from local.cli import build_parser
from local.http_server import http_api_event, http_response
from local.pollers import failed_message_ids, rate_seconds, scheduled_event, sqs_lambda_event
from local.resources import AwsClients, create_resources, find_function, function_specs, resolve_environment
from local.stack import dead_letter_entry

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


def test_http_api_event_has_the_payload_2_shape() -> None:
    event = http_api_event(
        method="get",
        target="/v1/invoices/inv%201?status=DRAFT&status=FINALIZED&empty=",
        headers=[("Host", "127.0.0.1:8787"), ("X-Multi", "a"), ("x-multi", "b"), ("Cookie", "k=v; s=t")],
        body=b"",
        source_ip="10.1.2.3",
        now=NOW,
        request_id="req-1",
    )
    assert event["version"] == "2.0"
    assert event["routeKey"] == "$default"
    assert event["rawPath"] == "/v1/invoices/inv%201"
    assert event["rawQueryString"] == "status=DRAFT&status=FINALIZED&empty="
    assert event["queryStringParameters"] == {"status": "DRAFT,FINALIZED", "empty": ""}
    assert event["headers"] == {"host": "127.0.0.1:8787", "x-multi": "a,b"}
    assert event["cookies"] == ["k=v", "s=t"]
    assert "body" not in event
    context = event["requestContext"]
    assert context["http"] == {
        "method": "GET",
        "path": "/v1/invoices/inv 1",
        "protocol": "HTTP/1.1",
        "sourceIp": "10.1.2.3",
        "userAgent": "",
    }
    assert context["requestId"] == "req-1"
    assert context["time"] == "01/Mar/2025:12:00:00 +0000"
    assert context["timeEpoch"] == int(NOW.timestamp() * 1000)


def test_http_api_event_base64_encodes_a_binary_body() -> None:
    raw = bytes([0xFF, 0x00, 0x10])
    event = http_api_event(
        method="POST",
        target="/v1/x",
        headers=[("Content-Type", "application/octet-stream")],
        body=raw,
        source_ip="127.0.0.1",
    )
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == raw
    assert "queryStringParameters" not in event


def test_http_response_maps_a_response_object_and_infers_json_from_anything_else() -> None:
    status, headers, body = http_response(
        {"statusCode": 404, "headers": {"a": "b"}, "body": base64.b64encode(b"x").decode(), "isBase64Encoded": True}
    )
    assert (status, headers, body) == (404, [("a", "b")], b"x")
    assert http_response({"data": 1}) == (200, [("Content-Type", "application/json")], b'{"data": 1}')


def message(message_id: str, body: str = '{"invoice_id": "inv_1"}') -> Any:
    return {
        "MessageId": message_id,
        "ReceiptHandle": f"rh-{message_id}",
        "Body": body,
        "MD5OfBody": "md5",
        "Attributes": {"ApproximateReceiveCount": "2", "SentTimestamp": "1"},
        "MessageAttributes": {"invoice_id": {"DataType": "String", "StringValue": "inv_1"}},
    }


def test_sqs_lambda_event_has_the_event_source_mapping_shape() -> None:
    event = sqs_lambda_event([message("m1")], "arn:aws:sqs:us-east-1:123456789012:q", "us-east-1")
    assert event == {
        "Records": [
            {
                "messageId": "m1",
                "receiptHandle": "rh-m1",
                "body": '{"invoice_id": "inv_1"}',
                "attributes": {"ApproximateReceiveCount": "2", "SentTimestamp": "1"},
                "messageAttributes": {
                    "invoice_id": {
                        "stringValue": "inv_1",
                        "stringListValues": [],
                        "binaryListValues": [],
                        "dataType": "String",
                    }
                },
                "md5OfBody": "md5",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
                "awsRegion": "us-east-1",
            }
        ]
    }


@pytest.mark.parametrize(
    ("response", "report", "failed"),
    [
        (None, True, set()),
        ({"batchItemFailures": []}, True, set()),
        ({"batchItemFailures": [{"itemIdentifier": "b"}]}, True, {"b"}),
        ({"batchItemFailures": [{"itemIdentifier": "b"}]}, False, set()),  # not enabled: ignored
        ({"batchItemFailures": [{"itemIdentifier": "zzz"}]}, True, {"a", "b"}),  # unknown id: whole batch
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, True, {"a", "b"}),
        ({"batchItemFailures": "oops"}, True, {"a", "b"}),
    ],
)
def test_failed_message_ids_follows_lambdas_partial_batch_rules(response: Any, report: bool, failed: set[str]) -> None:
    assert failed_message_ids(response, ["a", "b"], report) == failed


def test_schedules_and_their_payloads() -> None:
    assert rate_seconds("rate(3 minutes)") == 180
    assert rate_seconds("rate(1 hour)") == 3600
    assert rate_seconds("cron(0 12 * * ? *)") is None
    event = scheduled_event(
        schedule_arn="arn:s", region="us-east-1", account_id="1", now=NOW, input_text=None, scheduler=True
    )
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.scheduler"
    assert event["resources"] == ["arn:s"]
    given = scheduled_event(
        schedule_arn="arn:s", region="us-east-1", account_id="1", now=NOW, input_text='{"a": 1}', scheduler=True
    )
    assert given == {"a": 1}


def test_functions_are_found_by_directory_or_logical_id() -> None:
    router = find_function("invoice_router")
    assert router is not None
    assert find_function("InvoiceRouterFunction") == router
    assert router.rule_sources
    assert router.on_failure_destination is not None
    assert router.async_max_retries == 2
    stripe = find_function("stripe_sync")
    assert stripe is not None
    assert stripe.sqs_sources[0].queue_logical_id == "StripeSyncQueue"
    assert stripe.sqs_sources[0].report_batch_item_failures
    evaluator = find_function("alert_evaluator")
    assert evaluator is not None
    assert evaluator.sqs_sources[0].queue_logical_id == "AlertEvaluationQueue"
    assert [schedule.expression for schedule in evaluator.schedules] == ["rate(3 minutes)"]
    assert find_function("nightly_report") is None


def test_the_template_is_created_on_moto_and_environments_resolve_against_it(aws: None) -> None:
    clients = AwsClients(
        dynamodb=boto3.client("dynamodb"),
        sqs=boto3.client("sqs"),
        events=boto3.client("events"),
        secretsmanager=boto3.client("secretsmanager"),
        s3=boto3.client("s3"),
    )
    created = create_resources(clients, region="us-east-1", parameters={"StripeApiBase": "http://stripe.local"})
    stripe_queue = created.queues["StripeSyncQueue"]
    attributes = clients.sqs.get_queue_attributes(QueueUrl=stripe_queue.url, AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == "360"
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive == {"deadLetterTargetArn": created.queues["StripeSyncDLQ"].arn, "maxReceiveCount": 5}

    specs = {spec.logical_id: spec for spec in function_specs()}
    router_env = resolve_environment(specs["InvoiceRouterFunction"], created.resolver)
    assert router_env["TABLE_NAME"] == created.table_name
    assert router_env["STRIPE_SYNC_QUEUE_URL"] == stripe_queue.url
    assert router_env["ROUTER_DLQ_URL"] == created.queues["RouterDLQ"].url
    assert router_env["POWERTOOLS_SERVICE_NAME"] == "invoice_router"
    # The claim-check bucket exists, keeps the template's lifecycle, and the router is told its name.
    bucket = created.buckets["ClaimCheckBucket"]
    assert router_env["CLAIM_CHECK_BUCKET"] == bucket
    assert router_env["CLAIM_CHECK_BUCKET_OWNER"] == "123456789012"
    [rule] = clients.s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert (rule["Status"], rule["Expiration"]) == ("Enabled", {"Days": 7})
    blocked = clients.s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(blocked.values())
    stripe_env = resolve_environment(specs["StripeSyncFunction"], created.resolver)
    assert stripe_env["STRIPE_API_BASE"] == "http://stripe.local"
    assert stripe_env["STRIPE_SECRET_NAME"] == created.secrets["StripeApiKeySecret"]


def test_dead_letter_lines_say_why() -> None:
    event = {"source": "downbeat.billing", "detail": {"id": "inv_9", "currency": "US$"}}
    rejected = message("r1", json.dumps(event))
    rejected["MessageAttributes"] = {
        "reason": {"DataType": "String", "StringValue": "detail.currency: bad"},
        "field": {"DataType": "String", "StringValue": "detail.currency"},
    }
    assert dead_letter_entry("RouterDLQ", rejected, None, None) == {
        "queue": "RouterDLQ",
        "message_id": "r1",
        "reason": "detail.currency: bad",
        "field": "detail.currency",
        "body": event,
    }
    on_failure = {
        "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": 3},
        "requestPayload": {},
        "responsePayload": {"errorType": "ConnectionError", "errorMessage": "down"},
    }
    line = dead_letter_entry("RouterDLQ", message("f1", json.dumps(on_failure)), None, None)
    assert line["reason"] == "RetriesExhausted after 3 attempts: ConnectionError: down"
    redriven = dead_letter_entry("StripeSyncDLQ", message("s1"), "StripeSyncQueue", "RuntimeError: x")
    assert redriven == {
        "queue": "StripeSyncDLQ",
        "message_id": "s1",
        "reason": "maxReceiveCount exceeded on StripeSyncQueue; last error: RuntimeError: x",
        "body": {"invoice_id": "inv_1"},
    }


@pytest.mark.parametrize("command", [["local"], ["send-event"], ["invoke"], ["trigger"], ["dlq", "list"]])
def test_every_command_explains_itself(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([*command, "--help"])
    assert exited.value.code == 0
    assert len(capsys.readouterr().out) > 200
