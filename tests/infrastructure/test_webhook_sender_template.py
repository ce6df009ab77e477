"""The alert webhook sender in the template: on NotificationsQueue with partial batch failures, its
own backoff (ChangeMessageVisibility on that queue alone) and dead-lettering (SendMessage to its DLQ
alone), a generated secret only it reads, an HTTPS-only URL parameter."""

from __future__ import annotations

import re

import pytest

from local.resources import function_specs
from tests.infrastructure.test_template import (
    Json,
    environments,
    getatt_target,
    props,
    ref_target,
    resources,
    secret_readers,
)
from tests.infrastructure.test_template import template as template  # noqa: PLC0414 - the fixture
from tests.infrastructure.test_template import transformed as transformed  # noqa: PLC0414 - the fixture

pytestmark = pytest.mark.template
FUNCTION_ID = "WebhookSenderFunction"
SECRET = "WebhookSecret"


def statements_with(transformed: dict[str, Json], action: str) -> dict[str, list[Json]]:
    """Role (function logical id) → the resources of its inline statements that allow `action`."""
    found: dict[str, list[Json]] = {}
    for lid, role in resources(transformed, "AWS::IAM::Role").items():
        for policy in props(role).get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                if action in actions:
                    targets = (
                        statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
                    )
                    found.setdefault(lid.removesuffix("Role"), []).extend(targets)
    return found


def test_the_sender_consumes_the_notifications_queue_with_partial_batch_failures(template: dict[str, Json]) -> None:
    function = props(template["Resources"][FUNCTION_ID])
    (event,) = function["Events"].values()
    assert event["Type"] == "SQS"
    assert getatt_target(event["Properties"]["Queue"]) == ("NotificationsQueue", "Arn")
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # Every attempt of a batch (3 s connect + 10 s read each) fits the function's timeout.
    assert event["Properties"]["BatchSize"] * 13.05 < function["Timeout"]
    variables = environments(template)[FUNCTION_ID]
    assert ref_target(variables["NOTIFICATIONS_QUEUE_URL"]) == "NotificationsQueue"
    assert ref_target(variables["NOTIFICATIONS_DLQ_URL"]) == "NotificationsDLQ"
    assert ref_target(variables["WEBHOOK_URL"]) == "WebhookUrl"
    assert ref_target(variables["WEBHOOK_SECRET_NAME"]) == SECRET


def test_only_the_sender_sets_visibility_on_its_queue_and_sends_to_its_dlq(transformed: dict[str, Json]) -> None:
    visibility = statements_with(transformed, "sqs:ChangeMessageVisibility")
    assert [getatt_target(r) for r in visibility[FUNCTION_ID]] == [("NotificationsQueue", "Arn")]
    senders = {
        lid: [getatt_target(r) for r in targets]
        for lid, targets in statements_with(transformed, "sqs:SendMessage").items()
    }
    assert senders[FUNCTION_ID] == [("NotificationsDLQ", "Arn")]


def test_the_secret_is_generated_and_read_by_the_sender_alone(
    template: dict[str, Json], transformed: dict[str, Json]
) -> None:
    secret = props(template["Resources"][SECRET])
    assert "SecretString" not in secret
    assert secret["GenerateSecretString"]["PasswordLength"] >= 32
    assert secret_readers(transformed, SECRET) == {FUNCTION_ID}


def test_the_url_parameter_takes_https_or_nothing(template: dict[str, Json]) -> None:
    pattern = re.compile(template["Parameters"]["WebhookUrl"]["AllowedPattern"])
    assert pattern.fullmatch("https://hooks.example.com/downbeat")
    assert pattern.fullmatch("")
    for refused in ("http://hooks.example.com/", "ftp://x", "https://", "https://a b"):
        assert not pattern.fullmatch(refused), refused


def test_the_local_poller_leaves_the_sender_s_visibility_alone_and_only_the_sender_s() -> None:
    managed = {
        (spec.logical_id, source.queue_logical_id): source.handler_sets_visibility
        for spec in function_specs()
        for source in spec.sqs_sources
    }
    assert managed[(FUNCTION_ID, "NotificationsQueue")] is True
    assert managed[("StripeSyncFunction", "StripeSyncQueue")] is False
