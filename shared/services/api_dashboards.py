"""Embeddable dashboards: a signed, expiring link for one customer, and what its page shows.

The usage chart's numbers are the invoice breakdowns (`api_breakdowns.list_breakdowns`, DAY
windows), summed per product and day; the invoice pages read the invoices as the invoice API
does (`api_invoices`), so another customer's invoice is not there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from shared.domain.audit import Caller
from shared.domain.breakdown_json import as_breakdown
from shared.domain.breakdowns import Breakdown, BreakdownQuery
from shared.domain.customers import Customer
from shared.domain.dashboards import (
    Dashboard,
    DashboardGrant,
    LinkRefused,
    SpendChart,
    UsageRange,
    daily_spend,
    grant_for,
    usage_range,
)
from shared.domain.invoice import Invoice
from shared.domain.invoice_listing import InvoiceQuery
from shared.domain.paging import MAX_LIMIT, PageRequest
from shared.domain.types import MAX_ID_LENGTH
from shared.services import api_breakdowns, api_invoices
from shared.services.api_customers import customer_of
from shared.services.api_dependencies import (
    DASHBOARDS_GET_EMBEDDABLE_URL,
    ApiDependencies,
    DashboardConfig,
    audit_entry,
)
from shared.services.api_errors import NotFound

EMBED_PATH = "/v1/dashboards/embed"


# PyJWT costs the API's cold start about 75 ms and most invocations are other routes: the token
# module is imported on the first dashboard request.
def _sign(grant: DashboardGrant, key: str) -> str:
    from shared.adapters.dashboard_tokens import sign  # noqa: PLC0415 - cold start, see above

    return sign(grant, key)


def _verify(token: str | None, key: str, now: datetime) -> DashboardGrant:
    from shared.adapters.dashboard_tokens import verify  # noqa: PLC0415 - cold start, see above

    return verify(token, key, now)


MAX_INVOICES_SHOWN = 500
MAX_BREAKDOWN_PAGES = 20  # x 100 entries (an invoice's usage on one day): the page's share of work


class DashboardsNotConfigured(RuntimeError):
    """The API was started without dashboard settings (a deployment error, never the caller's)."""


def _settings(deps: ApiDependencies) -> DashboardConfig:
    if deps.dashboards is None:
        raise DashboardsNotConfigured("dashboards are not configured: no signing secret")
    return deps.dashboards


@dataclass(frozen=True)
class EmbeddableUrl:
    url: str
    expires_at: datetime


def embeddable_url(
    deps: ApiDependencies, caller: Caller, customer_id: str, dashboard: Dashboard, ttl_seconds: int, base_url: str
) -> EmbeddableUrl:
    """A link to the customer's dashboard under `base_url` (the API's own), valid `ttl_seconds`."""
    settings = _settings(deps)
    customer_of(deps, customer_id)
    grant = grant_for(customer_id, dashboard, deps.clock(), ttl_seconds)
    token = _sign(grant, settings.signing_key())
    deps.store.record_audit(audit_entry(deps, caller, DASHBOARDS_GET_EMBEDDABLE_URL, customer_id, 200))
    base = (settings.base_url or base_url).rstrip("/")
    return EmbeddableUrl(f"{base}{EMBED_PATH}?{urlencode({'token': token})}", grant.expires_at)


def grant_of(deps: ApiDependencies, token: str | None) -> DashboardGrant:
    """What the link's token grants (LinkRefused otherwise)."""
    return _verify(token, _settings(deps).signing_key(), deps.clock())


@dataclass(frozen=True)
class InvoiceList:
    customer: Customer
    invoices: list[Invoice]  # latest versions, newest period first
    more: bool  # the customer has more than MAX_INVOICES_SHOWN


@dataclass(frozen=True)
class InvoiceDetail:
    customer: Customer
    invoice: Invoice


@dataclass(frozen=True)
class Usage:
    customer: Customer
    charts: list[SpendChart]
    window: UsageRange
    partial: bool  # more entries than MAX_BREAKDOWN_PAGES pages: the chart shows the first ones


DashboardContent = InvoiceList | InvoiceDetail | Usage


def dashboard_content(deps: ApiDependencies, grant: DashboardGrant, parameters: Mapping[str, str]) -> DashboardContent:
    """The granted customer's data for the page; which customer is never read from `parameters`."""
    customer = deps.store.get_customer(grant.customer_id)
    if customer is None:  # the link outlived its customer: it grants nothing
        raise LinkRefused("this dashboard link names a customer that does not exist")
    if grant.dashboard == "usage":
        window = usage_range(parameters, deps.clock().date())
        entries, partial = _daily_breakdowns(deps, customer.id, window)
        return Usage(customer, daily_spend(entries, window), window, partial)
    invoice_id = parameters.get("invoice")
    if invoice_id is not None:
        if not 0 < len(invoice_id) <= MAX_ID_LENGTH:  # no invoice has such an id (nor would a key hold it)
            raise NotFound(f"no invoice {invoice_id[:64]!r} for this customer")
        return InvoiceDetail(customer, api_invoices.get_invoice(deps, customer.id, invoice_id))
    return _invoice_list(deps, customer)


def _invoice_list(deps: ApiDependencies, customer: Customer) -> InvoiceList:
    invoices: list[Invoice] = []
    cursor: str | None = None
    while True:
        page = api_invoices.list_invoices(deps, customer.id, InvoiceQuery(), PageRequest(MAX_LIMIT, cursor))
        invoices.extend(listing.invoice for listing in page.items)
        cursor = page.next_page
        if cursor is None or len(invoices) >= MAX_INVOICES_SHOWN:
            break
    more = cursor is not None or len(invoices) > MAX_INVOICES_SHOWN
    shown = invoices[:MAX_INVOICES_SHOWN]
    return InvoiceList(customer, shown[::-1], more)


def _daily_breakdowns(deps: ApiDependencies, customer_id: str, window: UsageRange) -> tuple[list[Breakdown], bool]:
    starting_on, ending_before = window.bounds()
    query = BreakdownQuery(starting_on, ending_before, "DAY")
    entries: list[Breakdown] = []
    cursor: str | None = None
    for _ in range(MAX_BREAKDOWN_PAGES):
        page = api_breakdowns.list_breakdowns(deps, customer_id, query, PageRequest(MAX_LIMIT, cursor))
        entries.extend(as_breakdown(entry) for entry in page.items)
        cursor = page.next_page
        if cursor is None:
            return entries, False
    return entries, True
