"""Embeddable dashboards (docs/dashboards.md).

    POST /v1/dashboards/getEmbeddableUrl   bearer token; → {"data": {"url", "expires_at"}}
    GET  /v1/dashboards/embed?token=…      no bearer token: the link's signature is the credential
    GET  /v1/dashboards/assets/<name>      the pages' scripts and styles (public, cached a year)

The embed page answers HTML on every outcome, its errors included (403 for a link that grants
nothing, 400 naming a bad display parameter, 404 for an invoice the customer does not have), so
the frame that shows it shows a sentence rather than a JSON document. Its query parameters are
read here rather than declared, for that reason: a declared one would fail validation before the
route runs and answer the API's JSON error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, cast

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from shared.api import dashboard_pages as pages
from shared.api.routes import PathId
from shared.api.schemas import error_responses
from shared.domain.audit import Caller
from shared.domain.dashboards import (
    DEFAULT_TTL_SECONDS,
    MAX_TTL_SECONDS,
    Dashboard,
    Display,
    LinkRefused,
    display_options,
)
from shared.domain.timestamps import format_timestamp
from shared.domain.types import Identifier
from shared.domain.validation import FieldError
from shared.observability import logger
from shared.services import api_dashboards
from shared.services.api_dashboards import DashboardsNotConfigured, InvoiceDetail, InvoiceList
from shared.services.api_dependencies import DASHBOARDS_GET_EMBEDDABLE_URL, ApiDependencies
from shared.services.api_errors import NotFound
from shared.services.api_requests import _Body

router = Router()  # type: ignore[no-untyped-call]
HTML = "text/html; charset=utf-8"
# A host name or address with an optional port: what the links' base is built from.
_AUTHORITY = re.compile(r"(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?")
_LOOPBACK = re.compile(r"(?:localhost|127(?:\.[0-9]{1,3}){3}|\[::1\])(?::[0-9]{1,5})?", re.IGNORECASE)
_STAGE = re.compile(r"[A-Za-z0-9_-]{1,128}")


class EmbeddableUrlRequest(_Body):
    customer_id: Identifier
    dashboard: Dashboard
    ttl_seconds: Annotated[StrictInt, Field(ge=1, le=MAX_TTL_SECONDS)] = Field(
        default=DEFAULT_TTL_SECONDS, description=f"how long the link works, seconds (1 to {MAX_TTL_SECONDS})"
    )


class EmbeddableUrlView(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    url: str = Field(description="absolute URL of the dashboard page; open it in an iframe")
    expires_at: str = Field(description="YYYY-MM-DDTHH:MM:SSZ; the page answers 403 from then on")


class EmbeddableUrlData(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    data: EmbeddableUrlView


def _deps() -> ApiDependencies:
    return cast(ApiDependencies, router.context["deps"])


def request_base_url(request_context: Mapping[str, Any]) -> str:
    """The API's own URL as the caller reached it: API Gateway's domain name (locally, the Host the
    client sent), and the stage unless it is `$default` (a stage is part of the path then)."""
    domain = str(request_context.get("domainName") or "")
    if not re.fullmatch(_AUTHORITY, domain):
        raise FieldError(None, "the request's host is not a host name; call the API at its own URL")
    scheme = "http" if _LOOPBACK.fullmatch(domain) else "https"  # only the local stack is plain HTTP
    stage = str(request_context.get("stage") or "$default")
    prefix = "" if stage == "$default" or not _STAGE.fullmatch(stage) else f"/{stage}"
    return f"{scheme}://{domain}{prefix}"


@router.post(
    "/v1/dashboards/getEmbeddableUrl",
    operation_id=DASHBOARDS_GET_EMBEDDABLE_URL.name,
    tags=["dashboards"],
    summary="A signed, expiring URL of a customer's dashboard page",
    description=(
        "`dashboard` is `invoices` (the customer's invoices, each with its detail) or `usage` (daily"
        " spend per product over the last 30 days). The URL works without a bearer token until"
        " `expires_at` (`ttl_seconds`, default 3600, at most 86400) and shows only that customer's"
        " data; `theme` and `color_*` parameters may be added to it. See docs/dashboards.md."
    ),
    responses=error_responses(400, 401, 404, 413),
)
def get_embeddable_url(request: EmbeddableUrlRequest) -> EmbeddableUrlData:
    base = request_base_url(router.current_event.get("requestContext") or {})
    caller = cast(Caller, router.context["caller"])
    link = api_dashboards.embeddable_url(
        _deps(), caller, request.customer_id, request.dashboard, request.ttl_seconds, base
    )
    return EmbeddableUrlData(data=EmbeddableUrlView(url=link.url, expires_at=format_timestamp(link.expires_at)))


def _page(status: int, body: str, nonce: str) -> Response[str]:
    deps = _deps()
    frame_ancestors = deps.dashboards.frame_ancestors if deps.dashboards else "'none'"
    headers = pages.page_headers(frame_ancestors, nonce)
    return Response(status_code=status, content_type=HTML, body=body, headers=headers)


@router.get("/v1/dashboards/embed", operation_id="dashboards.embed", include_in_schema=False)
def embed() -> Response[str]:
    parameters: Mapping[str, str] = router.current_event.query_string_parameters or {}
    nonce = pages.new_nonce()
    display = Display()
    deps = _deps()
    try:
        grant = api_dashboards.grant_of(deps, parameters.get("token"))
        display = display_options(parameters)
        content = api_dashboards.dashboard_content(deps, grant, parameters)
    except LinkRefused as refused:
        return _page(403, pages.error_page(403, refused.message, display, nonce), nonce)
    except FieldError as error:
        return _page(400, pages.error_page(400, str(error), display, nonce), nonce)
    except NotFound as missing:
        return _page(404, pages.error_page(404, missing.message, display, nonce), nonce)
    except DashboardsNotConfigured:
        logger.error("a dashboard page was asked for, but no signing secret is configured")
        return _page(503, pages.error_page(503, "dashboards are not set up here", display, nonce), nonce)
    token = str(parameters["token"])
    if isinstance(content, InvoiceList):
        body = pages.invoices_page(content.customer, content.invoices, content.more, token, display, nonce)
    elif isinstance(content, InvoiceDetail):
        body = pages.invoice_page(content.customer, content.invoice, token, display, nonce)
    else:
        body = pages.usage_page(content.customer, content.charts, content.window, content.partial, display, nonce)
    return _page(200, body, nonce)


@router.get("/v1/dashboards/assets/<name>", operation_id="dashboards.asset", include_in_schema=False)
def asset(name: PathId) -> Response[str]:
    found = pages.ASSETS.get(name)
    if found is None:
        raise NotFound(f"no dashboard asset {name[:64]!r}")
    return Response(status_code=200, content_type=found.content_type, body=found.body, headers=pages.asset_headers())
