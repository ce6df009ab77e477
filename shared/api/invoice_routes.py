"""A customer's invoices: the list, one invoice, and `…/invoices/breakdowns` (usage per UTC hour or
day) — one route family, loaded on the first request for one of its paths (shared/api/app.py).

The breakdowns route is registered first: `…/invoices/breakdowns` would otherwise be read as the
invoice whose id is "breakdowns".
"""

from __future__ import annotations

from typing import Annotated, Literal, cast

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BaseModel, ConfigDict, Field

from shared.api.routes import DateQuery, LimitQuery, NextPageQuery, PathId, path_id
from shared.api.routes import current_deps as _deps
from shared.api.schemas import (
    InvoiceData,
    InvoiceDetailView,
    InvoicePage,
    InvoiceView,
    error_responses,
)
from shared.domain.breakdown_json import page_json
from shared.domain.breakdowns import BreakdownQuery, WindowSize
from shared.domain.invoice import InvoiceStatus
from shared.domain.invoice_listing import InvoiceQuery
from shared.domain.paging import DEFAULT_LIMIT, PageRequest
from shared.domain.types import DecimalString, Timestamp
from shared.services import api_breakdowns, api_invoices, api_products
from shared.services.api_dependencies import ApiDependencies
from shared.services.api_requests import DateFilter

router = Router()  # type: ignore[no-untyped-call]
Currency = Annotated[str, Query(min_length=3, max_length=3, pattern="^[A-Z]{3}$", description="ISO 4217 code")]


class BreakdownLineView(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    id: str
    name: str
    product_id: str | None
    quantity: DecimalString
    total: DecimalString


class BreakdownView(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    invoice_id: str
    status: InvoiceStatus
    currency: str
    breakdown_start_timestamp: Timestamp
    breakdown_end_timestamp: Timestamp
    line_items: list[BreakdownLineView]
    subtotal: DecimalString = Field(description="Σ of the window's line totals; applied credits are not spread")


class BreakdownPage(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    data: list[BreakdownView]
    next_page: str | None


@router.get(
    "/v1/customers/<customer_id>/invoices/breakdowns",
    operation_id="invoices.breakdowns",
    tags=["invoices"],
    summary="Invoice usage per UTC hour or day",
    description=(
        "One entry per invoice per window that has usage, from the lines' hourly buckets. A bucket"
        " counts in the window holding its `starting_at`; a line without buckets counts in the window"
        " holding its invoice's `start_timestamp`. Only usage inside [`starting_on`, `ending_before`)"
        " counts. Entries follow the invoice list's order (by `start_timestamp`), then the window."
        " Applied credits are not spread over windows. The same request answers the same bytes."
    ),
    # The answer is written by breakdown_json (the same bytes, without building the models); the
    # model still declares it in the OpenAPI document.
    responses={
        **error_responses(400, 401, 404),
        200: {"description": "Success", "content": {"application/json": {"model": BreakdownPage}}},
    },
)
def list_breakdowns(
    customer_id: PathId,
    starting_on: Annotated[DateFilter, Query()],
    ending_before: Annotated[DateFilter, Query()],
    window_size: Annotated[WindowSize, Query()],
    status: Annotated[Literal["DRAFT", "FINALIZED", "VOID"] | None, Query()] = None,
    currency: Currency | None = None,
    limit: LimitQuery = DEFAULT_LIMIT,
    next_page: NextPageQuery = None,
) -> Response[str]:
    query = BreakdownQuery(starting_on, ending_before, window_size, status, currency)
    deps = cast(ApiDependencies, router.context["deps"])
    page = api_breakdowns.list_breakdowns(deps, path_id(customer_id), query, PageRequest(limit, next_page))
    return Response(200, content_types.APPLICATION_JSON, page_json(page.items, page.next_page))


# -- the list and one invoice (after the breakdowns: see above) ------------------------------------
@router.get(
    "/v1/customers/<customer_id>/invoices",
    operation_id="invoices.list",
    tags=["invoices"],
    responses=error_responses(400, 401, 404),
)
def list_invoices(
    customer_id: PathId,
    status: Annotated[Literal["DRAFT", "FINALIZED", "VOID"] | None, Query()] = None,
    starting_on: DateQuery = None,
    ending_before: DateQuery = None,
    limit: LimitQuery = DEFAULT_LIMIT,
    next_page: NextPageQuery = None,
) -> InvoicePage:
    query = InvoiceQuery(status=status, starting_on=starting_on, ending_before=ending_before)
    page = api_invoices.list_invoices(_deps(), path_id(customer_id), query, PageRequest(limit, next_page))
    products = api_products.product_fields(_deps(), (listing.invoice for listing in page.items))
    return InvoicePage(
        data=[InvoiceView.of_listing(listing, products) for listing in page.items], next_page=page.next_page
    )


@router.get(
    "/v1/customers/<customer_id>/invoices/<invoice_id>",
    operation_id="invoices.get",
    tags=["invoices"],
    responses=error_responses(400, 401, 404),
)
def get_invoice(customer_id: PathId, invoice_id: PathId) -> InvoiceData:
    invoice = api_invoices.get_invoice(_deps(), path_id(customer_id), path_id(invoice_id))
    view = InvoiceDetailView.of(invoice, product_fields=api_products.product_fields(_deps(), [invoice]))
    status, status_at = api_invoices.provider_status(_deps(), invoice.id)
    return InvoiceData(data=view.model_copy(update={"provider_status": status, "provider_status_at": status_at}))
