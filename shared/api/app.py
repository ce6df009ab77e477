"""The resolver: routes, the one error shape, failed-call auditing and the OpenAPI document.

`resolve` runs after authentication (see functions/api/handler.py). Powertools validates path,
query and body against the route's models before the route runs; every error, its
RequestValidationError included, becomes `{"message", "field"}` with 400/404/405/409/413 (never
422), so every path, an unknown one included, answers JSON. A mutating route's failure is
audited here, with the route's operationId as the action.
"""

from __future__ import annotations

import functools
import importlib
import json
import re
import threading
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.middlewares.openapi_validation import OpenAPIRequestValidationMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestUnsupportedContentType, RequestValidationError
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic_core import ErrorDetails

from shared.api.auth import PUBLIC_OPERATION_IDS
from shared.api.product_routes import router as product_router
from shared.api.routes import known_id, router
from shared.domain.audit import Caller
from shared.domain.paging import InvalidCursor
from shared.domain.validation import MAX_JSON_DEPTH, FieldError, field_path, too_deep
from shared.observability import logger
from shared.ports.store import AlreadyExists
from shared.services.api_dependencies import AUDITED_ACTIONS, ApiDependencies, record_failed_call
from shared.services.api_errors import Conflict, NotFound, Unavailable

API_TITLE = "downbeat API"
API_VERSION = "1.0.0"
MAX_BODY_BYTES = 1024 * 1024


class BodyTooLarge(Exception):
    """A request body over MAX_BODY_BYTES: 413, before it is parsed."""


def _body_error(message: str) -> RequestValidationError:
    return RequestValidationError([{"type": "model_type", "loc": ("body",), "msg": message, "input": {}}])


class _JsonObjectBodies(OpenAPIRequestValidationMiddleware):
    """Powertools' request validation, with the body read as the JSON object every route takes.

    Powertools picks a parser by Content-Type (a form type parses as a form, so `curl -d '{…}'`
    would be told a field is missing) and unwraps a list body to its first element (meant for
    repeated query parameters): `[{"name": "x"}]` would create a customer. Here any body is
    parsed as JSON, and one that is not a JSON object is a 400 with `field: null`.

    The body's bounds are checked here too, before any model sees it: over MAX_BODY_BYTES → 413;
    nested deeper than MAX_JSON_DEPTH levels → 400 with `field: null`. The parse itself cannot
    fail otherwise (a parser's recursion limit, an integer of more digits than Python converts).
    """

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]

    def _get_body(self, app: Any) -> dict[str, Any]:
        text = app.current_event.decoded_body
        if text and len(text.encode("utf-8", "surrogatepass")) > MAX_BODY_BYTES:
            raise BodyTooLarge
        try:
            body = self._parse_json_data(app)
        except RecursionError:
            raise _body_error(f"the request body is nested deeper than {MAX_JSON_DEPTH} levels") from None
        except RequestValidationError:
            raise
        except ValueError as error:  # e.g. an integer of more than 4300 digits
            raise _body_error(f"malformed JSON in the request body: {str(error)[:200]}") from None
        if too_deep(body) is not None:
            raise _body_error(f"the request body is nested deeper than {MAX_JSON_DEPTH} levels")
        if body is not None and not isinstance(body, dict):
            raise _body_error("the request body must be a JSON object")
        return body


# debug=False: POWERTOOLS_DEV would otherwise print every request, its Authorization header included.
app = APIGatewayHttpResolver(enable_validation=True, debug=False)
# Powertools has no public hook for the middleware that validates before any route or middleware
# runs; it reads this attribute. pyproject.toml pins the Powertools minor release this is tested on.
app._request_validation_middleware = _JsonObjectBodies()
app.include_router(router)
app.include_router(product_router)
_one_request_at_a_time = threading.RLock()  # per-request state; openapi_json re-enters

# Route families the API imports on the first request for one of their paths (each pattern covers
# every path of its module: tests/unit/test_api_route_families.py), so a cold start builds only
# what its first request needs. No path of the routes above matches a family's pattern.
ROUTE_FAMILIES: dict[str, re.Pattern[str]] = {
    "shared.api.ledger_routes": re.compile(
        r"/v1/contracts/(create|addManualBalanceLedgerEntry|customerCommits/[^/]*|customerCredits/[^/]*"
        r"|customerBalances/[^/]*)"
    ),
    "shared.api.dashboard_routes": re.compile(r"/v1/dashboards/.*"),
    "shared.api.invoice_routes": re.compile(r"/v1/customers/[^/]+/invoices(/[^/]+)?"),
    "shared.api.alert_routes": re.compile(r"/v1/(alerts|customer-alerts)/[^/]*"),
    "shared.api.marketplace_routes": re.compile(
        r"/v1/(marketplaceRegistrations(/complete)?|marketplaces/aws/fulfillment)"
    ),
    "shared.api.azure_marketplace_routes": re.compile(r"/v1/marketplaces/azure/(landing|webhook)"),
}
_included: set[str] = set()
# What Powertools cannot say of an operation that reads its body raw (a form): a route module puts
# the operation's `requestBody` and `responses` here, by operationId, and the document takes them.
OPERATION_DOCUMENTS: dict[str, dict[str, Any]] = {}


def include_route_families(path: str | None = None) -> None:
    """Include the families whose pattern matches `path` (all of them for None), once each."""
    for module, pattern in ROUTE_FAMILIES.items():
        if module not in _included and (path is None or pattern.fullmatch(path)):
            app.include_router(importlib.import_module(module).router)
            _included.add(module)


def resolve(event: Mapping[str, Any], context: LambdaContext, deps: ApiDependencies, caller: Caller | None) -> Any:
    with _one_request_at_a_time:
        include_route_families(str(event.get("rawPath") or ""))
        app.append_context(deps=deps, caller=caller)  # type: ignore[no-untyped-call]
        return app.resolve(event, context)


# -- the one error shape ----------------------------------------------------------------------------
def _error(
    status: int,
    message: str,
    field: str | None = None,
    headers: Mapping[str, str] | None = None,
    *,
    audited: bool = False,
) -> Response[str]:
    if not audited:
        _audit_failure(status)
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps({"message": message, "field": field}),
        headers=dict(headers or {}),
    )


def _audit_failure(status: int) -> None:
    """A failed mutating call is audited too (its entry alone: nothing changed)."""
    route = app.context.get("_route")
    action = AUDITED_ACTIONS.get(getattr(route, "operation_id", None) or "")
    deps, caller = app.context.get("deps"), app.context.get("caller")
    if action is None or deps is None or caller is None:
        return
    path_ids = app.context.get("_route_args") or {}
    resource_id = known_id(str(path_ids.get("customer_id") or "")) if action.resource_type == "customer" else None
    try:
        record_failed_call(deps, caller, action, resource_id, status)
    except Exception:  # the caller still gets the real error; the log and the alarm say the rest
        logger.exception("could not record the audit entry of a failed call", extra={"action": action.name})


def request_field_error(error: RequestValidationError, body: str | None) -> FieldError:
    """The first validation error as a FieldError whose path is what the user sent.

    Powertools locates errors as ("body", …) or ("query", name); the prefix goes, and the rest is
    walked against the JSON body so pydantic's own parts (union tags, validator names) go too.
    """
    detail = dict(error.errors()[0])
    if detail.get("type") == "json_invalid":
        reason = (detail.get("ctx") or {}).get("error", "")
        return FieldError(None, f"malformed JSON in the request body: {reason}".rstrip(": "))
    location = tuple(detail.get("loc") or ())
    where, rest = (location[0], location[1:]) if location else ("body", ())
    if where == "body":
        if detail.get("type") == "missing" and not rest:
            return FieldError(None, "a JSON request body is required")
        try:
            data: object = json.loads(body or "null") if rest else None
        except (ValueError, RecursionError):  # what the body's own parse refused already
            data = None
        found = field_path(ErrorDetails(**{**detail, "loc": rest}), data)  # type: ignore[typeddict-item]
        path = ".".join(part for part in (found or "").split(".") if part) or None  # an empty key names its map
    else:
        path = ".".join(str(part) for part in rest) or None
    message = str(detail.get("msg", "invalid value")).removeprefix("Value error, ")
    if detail.get("type") == "extra_forbidden":
        message = "unknown field (not supported)"
    return FieldError(path, message)


def _describe(error: Exception) -> tuple[int, str, str | None]:
    """Status, message and field of any error a request ends with."""
    if isinstance(error, RequestValidationError):
        problem = request_field_error(error, _request_body())
        return 400, problem.message, problem.field
    if isinstance(error, UnicodeDecodeError):  # a body that is not UTF-8 text (sent base64-encoded)
        return 400, "the request body must be UTF-8 JSON", None
    if isinstance(error, RequestUnsupportedContentType):
        return 400, "the request body must be JSON (Content-Type: application/json)", None
    if isinstance(error, FieldError):
        return 400, error.message, error.field
    if isinstance(error, InvalidCursor):
        return 400, str(error), "next_page"
    if isinstance(error, NotFound | Conflict):
        return (404 if isinstance(error, NotFound) else 409), error.message, error.field
    if isinstance(error, Unavailable):
        return error.status, error.message, error.field
    if isinstance(error, NotFoundError):
        allowed = _methods_for_path()
        if allowed:
            return 405, f"method not allowed here; this path takes {', '.join(allowed)}", None
        return 404, "no such path (see GET /openapi.json)", None
    if isinstance(error, BodyTooLarge):
        return 413, f"the request body is larger than {MAX_BODY_BYTES} bytes", None
    if isinstance(error, AlreadyExists):
        return 409, "already exists; retry the request", None
    logger.exception("unexpected error")
    return 500, "internal error; the request may be retried", None


def _methods_for_path() -> list[str]:
    """The methods of the routes whose path matches the current one (none: the path is unknown)."""
    path = app.context.get("_path") or ""
    routes = [*app._static_routes, *app._dynamic_routes]
    return sorted({route.method for route in routes if route.rule.match(path)})


def _request_body() -> str | None:
    try:
        return app.current_event.decoded_body
    except (UnicodeDecodeError, ValueError):
        return None


def _error_response(error: Exception) -> Response[str]:
    status, message, field = _describe(error)
    headers = {"Allow": ", ".join(_methods_for_path())} if status == 405 else None
    return _error(status, message, field, headers, audited=isinstance(error, Unavailable) and error.audited)


# Every exception, Powertools' own validation and not-found included, ends here.
app.exception_handler(Exception)(_error_response)


# -- the OpenAPI document ---------------------------------------------------------------------------
@app.get("/openapi.json", include_in_schema=False)
def openapi_document() -> Response[str]:
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=openapi_json())


@functools.cache
def openapi_json() -> str:
    """Powertools' document, generated from the routes and models, minus the 422 it always adds
    (validation errors are 400 here, declared on every route)."""
    with _one_request_at_a_time:
        include_route_families()
    document = json.loads(
        app.get_openapi_json_schema(
            title=API_TITLE,
            version=API_VERSION,
            description=(
                "downbeat: customers, contracts, products, invoices, sync status and audit log. Every route but "
                "GET /openapi.json takes Authorization: Bearer <token>; an error is JSON "
                '{"message", "field"}, field being the dotted path of the value at fault, or null. What each '
                "field may hold (timestamps, integers, decimals, ids, names, nesting, body size): docs/bounds.md."
            ),
            security_schemes={"bearer": HTTPBearer(description="the API token")},
            security=[{"bearer": []}],
        )
    )
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
            if operation.get("operationId") in PUBLIC_OPERATION_IDS:  # Powertools drops an empty list
                operation["security"] = []
            extra = OPERATION_DOCUMENTS.get(str(operation.get("operationId")), {})
            operation.update({key: value for key, value in extra.items() if key != "responses"})
            operation.get("responses", {}).update(extra.get("responses", {}))
    schemas = document.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return json.dumps(document, separators=(",", ":"))
