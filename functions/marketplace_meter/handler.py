"""marketplace_meter: every 10 minutes, the marketplace outbox → usage records at AWS and Azure Marketplace.

One run meters what it can before Lambda's time limit and leaves the rest for the next run
(`shared.services.marketplace_meter`); a raised error is retried by the schedule, then dead-lettered.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions import imports_done
from shared import bootstrap
from shared.observability import logger, metrics, tracer
from shared.services.marketplace_meter import LEASE_KIND, MeterDependencies, MeterRunReport, run_meter

imports_done()


def report_metrics(report: MeterRunReport, deps: MeterDependencies) -> None:
    # Emitted every run, zeros included, so the alarms always have data to judge.
    for name, value in (
        ("MarketplaceRecordsAccepted", report.accepted),
        ("MarketplaceRecordsExpired", report.expired),
        ("MarketplaceRecordConflicts", report.conflicts),
        ("MarketplaceRecordsFailed", report.failed),
        ("MarketplaceMeterCalls", report.calls),
    ):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    oldest = deps.store.oldest_unsettled(LEASE_KIND)
    age = 0.0 if oldest is None else max(0.0, (deps.clock() - oldest).total_seconds())
    metrics.add_metric(name="OldestUnmeteredWorkAge", unit=MetricUnit.Seconds, value=age)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, deps: MeterDependencies | None = None
) -> dict[str, Any]:
    dependencies = deps or bootstrap.marketplace_meter()
    report = run_meter(dependencies, context.get_remaining_time_in_millis)
    report_metrics(report, dependencies)
    summary = dataclasses.asdict(report)
    if report.expired or report.conflicts or report.failed:
        logger.error("marketplace meter run: records expired, in conflict or failed", extra=summary)
    else:
        logger.info("marketplace meter run", extra=summary)
    return summary
