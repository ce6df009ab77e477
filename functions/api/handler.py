"""api: the HTTP API (payload 2.0). Authenticate first, then let the resolver validate and route."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions import imports_done
from shared import bootstrap
from shared.api.app import resolve
from shared.api.auth import Refusal, authenticate, is_public, unauthorized
from shared.observability import count, logger, metrics, tracer
from shared.services.api_dependencies import ApiDependencies

imports_done()


# log_event=False: POWERTOOLS_LOGGER_LOG_EVENT would otherwise log each request's Authorization header.
@logger.inject_lambda_context(clear_state=True, log_event=False)
@tracer.capture_lambda_handler(capture_response=False)  # responses carry customer data
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext, deps: ApiDependencies | None = None) -> Any:
    deps = deps or bootstrap.api()
    count("ApiRequests")
    http = event.get("requestContext", {}).get("http", {})
    logger.append_keys(method=http.get("method"), path=event.get("rawPath"))
    caller = None
    if not is_public(event):  # 401 before any validation (docs/api.md "Request life cycle")
        outcome = authenticate(event, deps.api_token())
        if isinstance(outcome, Refusal):
            count("ApiUnauthorized")
            logger.info("request refused", extra={"reason": outcome.message})
            return unauthorized(outcome)
        caller = outcome
    response = resolve(event, context, deps, caller)
    logger.info("request served", extra={"status": response.get("statusCode")})
    return response
