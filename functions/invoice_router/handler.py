"""invoice_router: EventBridge `downbeat.billing` invoice events → store → provider queue/outbox."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions import imports_done
from shared import bootstrap
from shared.observability import count, logger, metrics, tracer
from shared.services.route_invoice import RouterDependencies, route_invoice_event

imports_done()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)  # responses carry customer data
@metrics.log_metrics
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, deps: RouterDependencies | None = None
) -> dict[str, Any]:
    detail = event.get("detail")
    if isinstance(detail, dict):  # only text: an id may arrive as anything, nested any depth
        keys = {"invoice_id": detail.get("id"), "customer_id": detail.get("customer_id")}
        logger.append_keys(**{name: value[:256] for name, value in keys.items() if isinstance(value, str)})
    try:
        result = route_invoice_event(event, deps or bootstrap.invoice_router())
    except Exception:
        # Raised for Lambda to retry (then the on-failure destination, RouterDLQ); the sync status
        # already says so, and the traceback is here, in the log line.
        count("InvoiceRoutingErrors")
        logger.exception("invoice event failed; Lambda retries it, then sends it to the router DLQ")
        raise
    count("InvoiceEventsReceived")
    if result.outcome == "rejected":
        count("InvalidInvoiceEvents")
        logger.warning("invoice event rejected to the router DLQ", extra={"reason": result.reason})
    elif result.outcome in {"duplicate", "stale"}:
        count("IgnoredInvoiceEvents", dimension=("outcome", result.outcome))
        logger.info("invoice event ignored", extra={"outcome": result.outcome, "reason": result.reason})
    else:
        count("InvoicesRouted", dimension=("provider", result.provider or "none"))
        logger.info("invoice event routed", extra={"outcome": result.outcome, "provider": result.provider})
    if result.unapplied_credits:
        count("UnappliedCredits", value=len(result.unapplied_credits))
        logger.warning(
            "applied credits of the invoice drew down no commit or credit", extra={"why": result.unapplied_credits}
        )
    return asdict(result)
