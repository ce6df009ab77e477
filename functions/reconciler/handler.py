"""reconciler: daily, what Stripe holds against what we recorded; counts as metrics, rows in the log."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions import imports_done
from shared import bootstrap
from shared.domain.reconciliation import counts_by_kind
from shared.observability import count, logger, metrics, tracer
from shared.services.reconcile import ReconcilerDependencies, reconcile_stripe

imports_done()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, deps: ReconcilerDependencies | None = None
) -> dict[str, Any]:
    report = reconcile_stripe(deps or bootstrap.reconciler())
    count("ReconciledInvoices", value=report.checked)
    count("ReconciliationDifferences", value=len(report.differences))  # the alarm's metric
    for kind, number in counts_by_kind(report.differences).items():
        if number:
            count("ReconciliationDifferencesByKind", dimension=("kind", kind), value=number)
    for difference in report.differences:
        logger.warning("reconciliation difference", extra={"difference": difference.__dict__})
    logger.info("reconciled with Stripe", extra=report.summary())
    return {"provider": "stripe", "summary": report.summary()}
