"""`downbeat trigger` runs any scheduled function the template declares, with its schedule's payload.

No scheduled function exists yet, so this adds one to a copy of the template (`lambda_handler`
below, a probe that echoes its event) and starts a local stack on that template.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from local.cli import main
from local.stack import LocalStack, StackOptions
from local.template import load_template

PROBE = {
    "Type": "AWS::Serverless::Function",
    "Properties": {
        "Handler": "tests.integration.test_local_schedules.lambda_handler",
        "Events": {"Every": {"Type": "ScheduleV2", "Properties": {"ScheduleExpression": "rate(3 minutes)"}}},
    },
}


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    """The probe's handler: what the schedule handed it."""
    return {"received": event, "function_name": context.function_name}


@pytest.fixture(scope="module")
def stack_with_schedule() -> Iterator[LocalStack]:
    template: dict[str, Any] = copy.deepcopy(load_template())
    template["Resources"]["ProbeScheduledFunction"] = PROBE
    options = StackOptions(port=0, run_schedules=False, environ={"AWS_DEFAULT_REGION": "us-east-1"})
    with LocalStack(options, template=template) as stack:
        yield stack


def test_trigger_runs_the_scheduled_function_with_a_scheduler_payload(
    stack_with_schedule: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["trigger", "--api", stack_with_schedule.url, "ProbeScheduledFunction"]) == 0
    result = json.loads(capsys.readouterr().out)
    event = result["received"]
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.scheduler"
    assert event["resources"][0].startswith("arn:aws:scheduler:us-east-1:")
    assert result["function_name"] == "downbeat-local-ProbeScheduledFunction"


def test_trigger_of_a_function_without_a_schedule_exits_2(
    stack_with_schedule: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["trigger", "--api", stack_with_schedule.url, "invoice_router"]) == 2
    assert "no scheduled function invoice_router in this build" in capsys.readouterr().err
