"""data_export: daily, every commit and credit to the export bucket as the `commits` and `balances` tables.

Parquet files under a run prefix, then the date's manifest switched to them (docs/export.md); a
raised error is retried by the schedule, then dead-lettered, and leaves the previous export as it was.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions import imports_done
from shared import bootstrap
from shared.observability import count, logger, metrics, tracer
from shared.services.data_export import DataExportDependencies, export_tables

imports_done()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, deps: DataExportDependencies | None = None
) -> dict[str, Any]:
    result = export_tables(deps or bootstrap.data_export())
    count("ExportedCommits", value=result.manifest.tables["commits"].rows)
    logger.info("data exported", extra=result.summary())
    return result.summary()
