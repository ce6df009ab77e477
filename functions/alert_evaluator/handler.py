"""alert_evaluator: every 3 minutes, and after every ledger-changing write, alerts → webhook notifications.

A scheduled run evaluates every customer it has time for and fans the rest out on its own queue
(`shared.services.alert_evaluator`); the queue's messages (a customer after a write or an invoice,
a page of customers fanned out) come back here as an SQS batch, each record on its own: a failing
one is retried by SQS, then dead-lettered. A customer several records name is evaluated once, for
the last of them. Each transition's webhook body goes to the notifications queue.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from functions import imports_done
from shared import bootstrap
from shared.observability import logger, metrics, tracer
from shared.services.alert_evaluation import AlertEvaluatorDependencies, EvaluationReport
from shared.services.alert_evaluator import EvaluationRequest, RequestBatch, run_scheduled

imports_done()

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def report_metrics(report: EvaluationReport) -> None:
    for name, value in (
        ("AlertCustomersEvaluated", report.customers),
        ("AlertTransitions", report.transitions),
        ("AlertNotificationsQueued", report.notifications + report.requeued),
        ("AlertNotificationsRequeued", report.requeued),
        ("AlertEvaluationsFannedOut", report.fanned_out),
        ("AlertEvaluationsCoalesced", report.coalesced),
    ):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def evaluate_record(record: SQSRecord, batch: RequestBatch) -> None:
    request = EvaluationRequest.model_validate_json(record.body)  # unreadable: retried, then the DLQ
    batch.handle(record.message_id, request)


def readable_requests(records: list[Any]) -> list[tuple[str, EvaluationRequest]]:
    """The batch's records that parse (the others fail on their own in `evaluate_record`)."""
    readable = []
    for record in records:
        with contextlib.suppress(ValidationError, TypeError, KeyError):
            readable.append((str(record["messageId"]), EvaluationRequest.model_validate_json(record["body"])))
    return readable


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, deps: AlertEvaluatorDependencies | None = None
) -> dict[str, Any]:
    dependencies = deps or bootstrap.alert_evaluator()
    report = EvaluationReport()
    response: dict[str, Any] = {}
    if isinstance(event.get("Records"), list):
        batch = RequestBatch(dependencies, context.get_remaining_time_in_millis, report)
        batch.plan(readable_requests(event["Records"]))
        handler = functools.partial(evaluate_record, batch=batch)
        response = dict(
            process_partial_response(event=event, record_handler=handler, processor=processor, context=context)
        )
    else:  # the schedule (a Scheduler payload or a "Scheduled Event"): anything else is one too
        report = run_scheduled(dependencies, context.get_remaining_time_in_millis)
    report_metrics(report)
    summary = dataclasses.asdict(report)
    logger.info("alert evaluation", extra=summary)
    return {**summary, **response}
