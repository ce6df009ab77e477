"""The dashboards' HTML: pages rendered on the server with the data in them, their headers, assets.

Every value from the store or the URL goes through `html.escape` (names can hold any printable
character, `<script>` included). The only script is the vendored chart library and
static/dashboard.js, which reads the chart's numbers from a data attribute and draws them; both
are served by the API itself (`ASSETS`) under names that carry a digest of their content, so they
can be cached for a year. Headers: a Content-Security-Policy that allows scripts and styles from
the API's own origin only (plus one nonce'd style block that holds the theme's validated colours),
`frame-ancestors` from the deployment's setting, no referrer (the token is in the URL) and no
caching of pages.
"""

from __future__ import annotations

import hashlib
import html
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode

from shared.domain.customers import Customer
from shared.domain.dashboards import Display, SpendChart, UsageRange
from shared.domain.invoice import Invoice
from shared.domain.money import at_least_minor_units
from shared.domain.timestamps import format_timestamp

STATIC = Path(__file__).resolve().parent / "static"
ASSET_CACHE_CONTROL = "public, max-age=31536000, immutable"
PAGE_CACHE_CONTROL = "no-store"
MAX_LINES_SHOWN = 1000  # of one invoice's detail: the page stays far below Lambda's 6 MB


@dataclass(frozen=True)
class Asset:
    name: str  # `<stem>.<digest>.<ext>`: a new content is a new name
    content_type: str
    body: str


def _asset(relative: str, stem: str, content_type: str) -> Asset:
    body = (STATIC / relative).read_text(encoding="utf-8")
    digest = hashlib.sha256(body.encode("utf-8")).hexdigest()[:12]
    extension = relative.rsplit(".", 1)[1]
    return Asset(f"{stem}.{digest}.{extension}", content_type, body)


_JS = "text/javascript; charset=utf-8"
_CSS = "text/css; charset=utf-8"
UPLOT_JS = _asset("vendor/uplot/uPlot.iife.min.js", "uplot", _JS)
UPLOT_CSS = _asset("vendor/uplot/uPlot.min.css", "uplot", _CSS)
DASHBOARD_JS = _asset("dashboard.js", "dashboard", _JS)
DASHBOARD_CSS = _asset("dashboard.css", "dashboard", _CSS)
FAVICON = _asset("favicon.svg", "favicon", "image/svg+xml")  # else a browser asks for /favicon.ico
ASSETS = {asset.name: asset for asset in (UPLOT_JS, UPLOT_CSS, DASHBOARD_JS, DASHBOARD_CSS, FAVICON)}


def content_security_policy(frame_ancestors: str, style_nonce: str) -> str:
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            f"style-src 'self' 'nonce-{style_nonce}'",
            "img-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            f"frame-ancestors {frame_ancestors}",
        )
    )


def page_headers(frame_ancestors: str, style_nonce: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(frame_ancestors, style_nonce),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": PAGE_CACHE_CONTROL,
    }


def asset_headers() -> dict[str, str]:
    return {"X-Content-Type-Options": "nosniff", "Cache-Control": ASSET_CACHE_CONTROL}


def new_nonce() -> str:
    return secrets.token_urlsafe(18)


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _amount(value: Decimal, currency: str) -> str:
    return f"{at_least_minor_units(value, currency):f}"


def _document(title: str, body: str, display: Display, nonce: str, *, chart: bool = False) -> str:
    variables = "".join(f"{name}:{value};" for name, value in display.css_variables())
    theme_style = f'<style nonce="{_e(nonce)}">html:root{{{variables}}}</style>' if variables else ""
    chart_head = (
        f'<link rel="stylesheet" href="assets/{UPLOT_CSS.name}">'
        f'<script src="assets/{UPLOT_JS.name}" defer></script>'
        f'<script src="assets/{DASHBOARD_JS.name}" defer></script>'
        if chart
        else ""
    )
    return (
        "<!DOCTYPE html>"
        f'<html lang="en" data-theme="{_e(display.theme)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="referrer" content="no-referrer"><title>{_e(title)}</title>'
        f'<link rel="icon" href="assets/{FAVICON.name}" type="image/svg+xml">'
        f'<link rel="stylesheet" href="assets/{DASHBOARD_CSS.name}">{theme_style}{chart_head}</head>'
        f"<body>{body}</body></html>"
    )


def _link(token: str, display: Display, **extra: str) -> str:
    """A link to another page of the same dashboard: same path, same token, same display options."""
    return "?" + urlencode([("token", token), *display.query(), *extra.items()])


def _header(customer: Customer, heading: str) -> str:
    return (
        f"<header><h1>{_e(heading)}</h1>"
        f'<p class="customer" data-customer-id="{_e(customer.id)}">{_e(customer.name)}</p></header>'
    )


def invoices_page(
    customer: Customer, invoices: Sequence[Invoice], more: bool, token: str, display: Display, nonce: str
) -> str:
    rows = "".join(
        f'<tr data-invoice-id="{_e(invoice.id)}">'
        f'<td><a href="{_e(_link(token, display, invoice=invoice.id))}">{_e(invoice.id)}</a></td>'
        f"<td>{_e(format_timestamp(invoice.start_timestamp))} &ndash; "
        f"{_e(format_timestamp(invoice.end_timestamp))}</td>"
        f'<td>{_e(invoice.status)}</td><td class="amount">{_e(_amount(invoice.total, invoice.currency))}</td>'
        f"<td>{_e(invoice.currency)}</td></tr>"
        for invoice in invoices
    )
    table = (
        '<table class="invoices"><thead><tr><th>Invoice</th><th>Period</th><th>Status</th>'
        f'<th class="amount">Total</th><th>Currency</th></tr></thead><tbody>{rows}</tbody></table>'
        if invoices
        else '<p class="empty">No invoices yet.</p>'
    )
    note = f'<p class="note">Only the first {len(invoices)} invoices by period are shown.</p>' if more else ""
    body = f"{_header(customer, 'Invoices')}<main>{table}{note}</main>"
    return _document(f"Invoices — {customer.name}", body, display, nonce)


def invoice_page(customer: Customer, invoice: Invoice, token: str, display: Display, nonce: str) -> str:
    currency = invoice.currency
    shown = invoice.line_items[:MAX_LINES_SHOWN]
    lines = "".join(
        f'<tr data-line-id="{_e(line.id)}"><td>{_e(line.name)}</td><td class="amount">{_e(line.quantity)}</td>'
        f'<td class="amount">{_e("" if line.unit_price is None else _amount(line.unit_price, currency))}</td>'
        f'<td class="amount">{_e(_amount(line.total, currency))}</td></tr>'
        for line in shown
    )
    credits = "".join(
        f'<tr class="credit"><td colspan="3">{_e(credit.name or credit.type)}</td>'
        f'<td class="amount">&minus;{_e(_amount(credit.amount, currency))}</td></tr>'
        for credit in invoice.applied_credits
    )
    more = (
        f'<p class="note">The first {len(shown)} of {len(invoice.line_items)} line items are shown.</p>'
        if len(shown) < len(invoice.line_items)
        else ""
    )
    body = (
        f"{_header(customer, 'Invoice ' + invoice.id)}<main>"
        f'<p><a href="{_e(_link(token, display))}">All invoices</a></p>'
        f'<dl class="invoice" data-invoice-id="{_e(invoice.id)}"><dt>Status</dt><dd>{_e(invoice.status)}</dd>'
        f"<dt>Period</dt><dd>{_e(format_timestamp(invoice.start_timestamp))} &ndash; "
        f"{_e(format_timestamp(invoice.end_timestamp))}</dd>"
        f"<dt>Issued</dt><dd>{_e(format_timestamp(invoice.issued_at))}</dd></dl>"
        '<table class="lines"><thead><tr><th>Item</th><th class="amount">Quantity</th>'
        f'<th class="amount">Unit price</th><th class="amount">Total ({_e(currency)})</th></tr></thead>'
        f"<tbody>{lines}</tbody><tfoot>"
        f'<tr><td colspan="3">Subtotal</td><td class="amount">{_e(_amount(invoice.subtotal, currency))}</td></tr>'
        f'{credits}<tr class="total"><td colspan="3">Total</td>'
        f'<td class="amount">{_e(_amount(invoice.total, currency))}</td></tr></tfoot></table>{more}</main>'
    )
    return _document(f"Invoice {invoice.id} — {customer.name}", body, display, nonce)


def chart_data(chart: SpendChart) -> str:
    """What dashboard.js draws: days as epoch seconds (uPlot's x axis) and each series' totals as
    decimal strings (the script turns them into numbers only to draw them)."""
    return json.dumps(
        {
            "currency": chart.currency,
            "days": [_midnight(day) for day in chart.days],
            "series": [
                {"label": series.label, "totals": [_amount(total, chart.currency) for total in series.totals]}
                for series in chart.series
            ],
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def _midnight(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def usage_page(
    customer: Customer, charts: Sequence[SpendChart], window: UsageRange, partial: bool, display: Display, nonce: str
) -> str:
    last_day = window.days[-1]
    sections = []
    for chart in charts:
        head = "".join(f'<th class="amount">{_e(series.label)}</th>' for series in chart.series)
        rows = "".join(
            f"<tr><td>{_e(day.isoformat())}</td>"
            + "".join(f'<td class="amount">{_e(_amount(s.totals[i], chart.currency))}</td>' for s in chart.series)
            + f'<td class="amount">{_e(_amount(chart.daily_totals[i], chart.currency))}</td></tr>'
            for i, day in enumerate(chart.days)
        )
        sections.append(
            f'<section class="usage" data-currency="{_e(chart.currency)}">'
            f"<h2>Daily spend ({_e(chart.currency)})</h2>"
            f'<div class="spend-chart" role="img" aria-label="daily spend per product in {_e(chart.currency)}"'
            f' data-points="{len(chart.days)}" data-series="{len(chart.series)}"'
            f' data-chart="{_e(chart_data(chart))}"></div>'
            f'<table class="spend"><thead><tr><th>Day (UTC)</th>{head}<th class="amount">Total</th></tr></thead>'
            f"<tbody>{rows}</tbody></table></section>"
        )
    if not sections:
        sections.append('<p class="empty">No usage in these days.</p>')
    note = (
        '<p class="note">Only part of the usage in these days is shown (there is more than one page can hold).</p>'
        if partial
        else ""
    )
    period = f"{window.starting_on.isoformat()} to {last_day.isoformat()} (UTC)"
    body = f'{_header(customer, "Usage")}<main><p class="period">{_e(period)}</p>{"".join(sections)}{note}</main>'
    return _document(f"Usage — {customer.name}", body, display, nonce, chart=True)


def error_page(status: int, message: str, display: Display, nonce: str) -> str:
    titles = {400: "Bad request", 403: "Link not valid", 404: "Not found"}
    title = titles.get(status, "Error")
    body = f'<main class="error" data-status="{status}"><h1>{_e(title)}</h1><p>{_e(message)}</p></main>'
    return _document(title, body, display, nonce)
