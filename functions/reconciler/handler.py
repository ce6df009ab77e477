"""reconciler: daily, what Stripe and the marketplaces hold against what we recorded; counts as
metrics, rows in the log."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions import imports_done
from shared import bootstrap
from shared.domain.reconciliation import counts_by_kind
from shared.observability import count, logger, metrics, tracer
from shared.services.marketplace_sync_status import MARKETPLACES
from shared.services.reconcile import ReconcilerDependencies, Report, reconcile_stripe
from shared.services.reconcile_marketplace import (
    MarketplaceReconcilerDependencies,
    ReadBackUnavailable,
    reconcile_marketplace,
)

imports_done()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(
    event: dict[str, Any],
    context: LambdaContext,
    deps: ReconcilerDependencies | None = None,
    marketplaces: MarketplaceReconcilerDependencies | None = None,
) -> dict[str, Any]:
    stripe_deps = deps or bootstrap.reconciler()
    marketplace_deps = marketplaces or bootstrap.marketplace_reconciler()
    reports: dict[str, Report] = {}
    failures: list[Exception] = []
    # One provider out of reach never keeps the others from being checked; the run still fails.
    try:
        reports["stripe"] = reconcile_stripe(stripe_deps)
    except Exception as error:
        logger.exception("reconciliation with stripe failed", extra={"provider": "stripe"})
        failures.append(error)
    for provider in MARKETPLACES:
        try:
            reports[provider] = reconcile_marketplace(marketplace_deps, provider)
        except ReadBackUnavailable as unavailable:  # no Azure credentials: Azure is not metered either
            logger.warning("not reconciled", extra={"provider": provider, "reason": str(unavailable)})
        except Exception as error:
            logger.exception(f"reconciliation with {provider} failed", extra={"provider": provider})
            failures.append(error)
    differences = [difference for report in reports.values() for difference in report.differences]
    count("ReconciledInvoices", value=sum(report.checked for report in reports.values()))
    count("ReconciliationDifferences", value=len(differences))  # the alarm's metric
    for kind, number in counts_by_kind(differences).items():
        if number:
            count("ReconciliationDifferencesByKind", dimension=("kind", kind), value=number)
    for name, report in reports.items():
        if report.differences:
            count("ReconciliationDifferencesByProvider", dimension=("provider", name), value=len(report.differences))
    for difference in differences:
        logger.warning("reconciliation difference", extra={"difference": difference.__dict__})
    summaries = {name: report.summary() for name, report in reports.items()}
    logger.info("reconciled", extra={"providers": summaries})
    if failures:
        raise failures[0]
    return {"providers": summaries}
