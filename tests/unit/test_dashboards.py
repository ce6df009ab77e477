"""Dashboard links and pages without a socket: signing, expiry, display options, escaping, headers."""

from __future__ import annotations

import base64
import itertools
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
import time_machine
from hypothesis import given, settings
from hypothesis import strategies as st

from functions.api.handler import lambda_handler
from local.http_server import http_api_event
from local.lambda_context import LocalLambdaContext
from shared.adapters.dashboard_tokens import AUDIENCE, sign, verify
from shared.api import dashboard_pages as pages
from shared.api.dashboard_routes import request_base_url
from shared.clock import utc_now
from shared.domain.breakdowns import Breakdown, BreakdownLine
from shared.domain.customers import Customer
from shared.domain.dashboards import (
    Display,
    LinkRefused,
    UsageRange,
    daily_spend,
    display_options,
    grant_for,
    usage_range,
)
from shared.domain.invoice import InvoiceEvent
from shared.domain.validation import FieldError
from shared.services.api_dependencies import ApiDependencies, DashboardConfig
from tests.builders import invoice_event
from tests.fakes.memory_store import InMemoryStore

KEY = "k" * 64
OTHER_KEY = "o" * 48
TOKEN = "unit-token"
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
GRANT = grant_for("cust_acme", "invoices", NOW, 3600)


# -- signing ------------------------------------------------------------------------------------------
def test_a_signed_link_grants_its_customer_dashboard_and_expiry() -> None:
    grant = verify(sign(GRANT, KEY), KEY, NOW)
    assert grant == GRANT
    assert grant.expires_at == datetime(2025, 3, 1, 13, 0, tzinfo=UTC)


@settings(max_examples=300)
@given(st.data())
def test_any_change_to_the_token_is_refused(data: st.DataObject) -> None:
    token = sign(GRANT, KEY)
    position = data.draw(st.integers(0, len(token) - 1), label="position")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ "
    replacement = data.draw(st.sampled_from([c for c in alphabet if c != token[position]]), label="replacement")
    tampered = token[:position] + replacement + token[position + 1 :]
    with pytest.raises(LinkRefused, match="not valid"):
        verify(tampered, KEY, NOW)


@given(st.text(max_size=8))
def test_anything_added_or_cut_is_refused(extra: str) -> None:
    token = sign(GRANT, KEY)
    for changed in (token + (extra or "A"), token[: -(len(extra) or 1)]):
        with pytest.raises(LinkRefused):
            verify(changed, KEY, NOW)


def _b64(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def test_unsigned_other_algorithm_and_other_key_tokens_are_refused() -> None:
    claims = {"aud": AUDIENCE, "sub": "cust_acme", "dsh": "invoices", "iat": 1, "exp": 2**33}
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    for token in (
        unsigned,
        unsigned + "x",
        jwt.encode(claims, KEY.encode(), algorithm="HS512"),
        jwt.encode(claims, OTHER_KEY.encode(), algorithm="HS256"),
        jwt.encode({**claims, "aud": "something-else"}, KEY.encode(), algorithm="HS256"),
        jwt.encode({k: v for k, v in claims.items() if k != "exp"}, KEY.encode(), algorithm="HS256"),
        jwt.encode({**claims, "dsh": "admin"}, KEY.encode(), algorithm="HS256"),
        "",
        None,
        "a" * 5000,
    ):
        with pytest.raises(LinkRefused):
            verify(token, KEY, NOW)


def test_a_claim_edited_in_the_payload_is_refused() -> None:
    header, _, signature = sign(GRANT, KEY).split(".")
    forged = {"aud": AUDIENCE, "sub": "cust_globex", "dsh": "invoices", "iat": 1, "exp": 2**33}
    with pytest.raises(LinkRefused):
        verify(f"{header}.{_b64(forged)}.{signature}", KEY, NOW)


def test_a_short_signing_secret_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        sign(GRANT, "short")


def _deps(store: InMemoryStore, frame_ancestors: str = "'self'") -> ApiDependencies:
    counter = itertools.count(1)
    return ApiDependencies(
        store,
        utc_now,
        lambda prefix: f"{prefix}_{next(counter)}",
        lambda: TOKEN,
        DashboardConfig(signing_key=lambda: KEY, frame_ancestors=frame_ancestors),
    )


def _call(deps: ApiDependencies, method: str, target: str, body: Any = None, **headers: str) -> dict[str, Any]:
    sent = {
        "authorization": f"Bearer {TOKEN}",
        "content-type": "application/json",
        "host": "api.example.com",
        **headers,
    }
    raw = b"" if body is None else json.dumps(body).encode()
    event = http_api_event(method=method, target=target, headers=sent.items(), body=raw, source_ip="192.0.2.1")
    response: dict[str, Any] = lambda_handler(event, LocalLambdaContext("ApiFunction"), deps=deps)
    return response


def _store() -> InMemoryStore:
    store = InMemoryStore()
    store.create_customer(Customer(id="cust_acme", name="Acme <b>Corp</b>", created_at=NOW))
    store.create_customer(Customer(id="cust_globex", name="Globex", created_at=NOW))
    for invoice_id, customer_id in (("inv_acme", "cust_acme"), ("inv_globex", "cust_globex")):
        event = invoice_event(id=invoice_id, customer_id=customer_id)
        store.save_invoice(InvoiceEvent.model_validate(event).detail, NOW)
    return store


def _link(deps: ApiDependencies, dashboard: str = "invoices", **body: Any) -> dict[str, Any]:
    response = _call(
        deps, "POST", "/v1/dashboards/getEmbeddableUrl", {"customer_id": "cust_acme", "dashboard": dashboard, **body}
    )
    assert response["statusCode"] == 200, response
    data: dict[str, Any] = json.loads(response["body"])["data"]
    return data


def _embed(deps: ApiDependencies, url: str, **params: str) -> dict[str, Any]:
    parts = urlsplit(url)
    query = parts.query + ("&" + urlencode(params) if params else "")
    return _call(deps, "GET", f"{parts.path}?{query}", authorization="")


def test_the_link_expires_by_the_clock() -> None:
    with time_machine.travel(NOW, tick=False) as traveller:
        deps = _deps(_store())
        link = _link(deps, ttl_seconds=60)
        assert link["expires_at"] == "2025-03-01T12:01:00Z"
        traveller.shift(timedelta(seconds=59))
        assert _embed(deps, link["url"])["statusCode"] == 200
        traveller.shift(timedelta(seconds=1))
        expired = _embed(deps, link["url"])
        assert expired["statusCode"] == 403
        assert "expired at 2025-03-01T12:01:00Z" in expired["body"]


# -- the API routes (handler, in-memory store) -----------------------------------------------------------
def test_get_embeddable_url_answers_an_absolute_url_on_the_callers_host_and_is_audited() -> None:
    store = _store()
    deps = _deps(store)
    with time_machine.travel(NOW, tick=False):
        link = _link(deps, "usage")
    parts = urlsplit(link["url"])
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "api.example.com", "/v1/dashboards/embed")
    assert list(parse_qs(parts.query)) == ["token"]
    assert link["expires_at"] == "2025-03-01T13:00:00Z"
    entry = store.audit_entries[-1]
    assert (entry.action, entry.resource_type, entry.resource_id, entry.status_code) == (
        "dashboards.getEmbeddableUrl",
        "customer",
        "cust_acme",
        200,
    )


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"customer_id": "cust_nobody", "dashboard": "invoices"}, 404, "customer_id"),
        ({"customer_id": "cust_acme", "dashboard": "billing"}, 400, "dashboard"),
        ({"customer_id": "cust_acme"}, 400, "dashboard"),
        ({"customer_id": "cust_acme", "dashboard": "usage", "ttl_seconds": 0}, 400, "ttl_seconds"),
        ({"customer_id": "cust_acme", "dashboard": "usage", "ttl_seconds": 86401}, 400, "ttl_seconds"),
        ({"customer_id": "cust_acme", "dashboard": "usage", "ttl_seconds": "60"}, 400, "ttl_seconds"),
        ({"customer_id": "cust_acme", "dashboard": "usage", "theme": "dark"}, 400, "theme"),
    ],
)
def test_get_embeddable_url_refusals_name_the_field(body: dict[str, Any], status: int, field: str) -> None:
    store = _store()
    response = _call(_deps(store), "POST", "/v1/dashboards/getEmbeddableUrl", body)
    assert (response["statusCode"], json.loads(response["body"])["field"]) == (status, field)
    assert [(e.action, e.status_code) for e in store.audit_entries] == [("dashboards.getEmbeddableUrl", status)]


def test_get_embeddable_url_needs_the_bearer_token() -> None:
    store = _store()
    response = _call(
        _deps(store), "POST", "/v1/dashboards/getEmbeddableUrl", {"customer_id": "cust_acme"}, authorization=""
    )
    assert response["statusCode"] == 401
    assert store.audit_entries == []


def test_the_base_url_is_the_request_host_and_stage() -> None:
    assert request_base_url({"domainName": "abc.execute-api.eu-west-1.amazonaws.com", "stage": "$default"}) == (
        "https://abc.execute-api.eu-west-1.amazonaws.com"
    )
    assert request_base_url({"domainName": "abc.example.com", "stage": "prod"}) == "https://abc.example.com/prod"
    assert request_base_url({"domainName": "127.0.0.1:8787", "stage": "$default"}) == "http://127.0.0.1:8787"
    assert request_base_url({"domainName": "localhost:9", "stage": "$default"}) == "http://localhost:9"
    for bad in ("", "evil.com/path", "a b", "x@y"):
        with pytest.raises(FieldError):
            request_base_url({"domainName": bad})


def test_the_invoices_page_shows_only_the_signed_customer() -> None:
    deps = _deps(_store())
    url = _link(deps)["url"]
    page = _embed(deps, url, customer_id="cust_globex", sub="cust_globex")
    assert page["statusCode"] == 200
    assert 'data-invoice-id="inv_acme"' in page["body"]
    assert "inv_globex" not in page["body"]
    assert "Globex" not in page["body"]
    assert "Acme &lt;b&gt;Corp&lt;/b&gt;" in page["body"]
    detail = _embed(deps, url, invoice="inv_acme")
    assert detail["statusCode"] == 200
    assert 'data-line-id="li_1"' in detail["body"]
    for missing in ("", "x" * 10_000, "inv_nobody"):
        assert _embed(deps, url, invoice=missing)["statusCode"] == 404
    other = _embed(deps, url, invoice="inv_globex")
    assert other["statusCode"] == 404
    assert other["headers"]["Content-Type"].startswith("text/html")
    assert "Globex" not in other["body"]


def test_page_errors_are_html_with_the_pages_headers() -> None:
    deps = _deps(_store(), frame_ancestors="https://app.example.com")
    url = _link(deps)["url"]
    for params, status in (({"color_accent": "red"}, 400), ({"color_shadow": "#000000"}, 400), ({"theme": "x"}, 400)):
        page = _embed(deps, url, **params)
        assert page["statusCode"] == status, params
        assert page["headers"]["Content-Type"] == "text/html; charset=utf-8"
        assert "frame-ancestors https://app.example.com" in page["headers"]["Content-Security-Policy"]
    missing = _call(deps, "GET", "/v1/dashboards/embed", authorization="")
    assert missing["statusCode"] == 403
    assert "has no token" in missing["body"]


def test_the_page_is_public_but_other_routes_are_not() -> None:
    deps = _deps(_store())
    assert _call(deps, "GET", "/v1/dashboards/embed?token=x", authorization="")["statusCode"] == 403
    assert _call(deps, "GET", "/v1/customers", authorization="")["statusCode"] == 401
    assert _call(deps, "POST", "/v1/dashboards/embed", authorization="")["statusCode"] == 401


def test_assets_are_served_with_a_long_cache_and_unknown_ones_are_404_json() -> None:
    deps = _deps(_store())
    for asset in pages.ASSETS.values():
        response = _call(deps, "GET", f"/v1/dashboards/assets/{asset.name}", authorization="")
        assert response["statusCode"] == 200
        assert response["body"] == asset.body
        assert response["headers"]["Cache-Control"] == "public, max-age=31536000, immutable"
        assert response["headers"]["Content-Type"] == asset.content_type
    missing = _call(deps, "GET", "/v1/dashboards/assets/uplot.js", authorization="")
    assert missing["statusCode"] == 404
    assert set(json.loads(missing["body"])) == {"message", "field"}


def test_without_a_signing_secret_the_page_says_so() -> None:
    deps = ApiDependencies(_store(), utc_now, lambda prefix: prefix, lambda: TOKEN)
    page = _call(deps, "GET", "/v1/dashboards/embed?token=x", authorization="")
    assert page["statusCode"] == 503
    assert "not set up" in page["body"]


# -- display options and the usage range --------------------------------------------------------------
def test_display_options() -> None:
    assert display_options({}) == Display()
    shown = display_options({"theme": "dark", "color_accent": "#A1b2C3", "color_text": "#000000"})
    assert shown.theme == "dark"
    assert shown.css_variables() == [("--accent", "#a1b2c3"), ("--text", "#000000")]
    assert shown.query() == [("theme", "dark"), ("color_accent", "#a1b2c3"), ("color_text", "#000000")]


@given(st.text(max_size=40))
def test_a_colour_is_six_hex_digits_or_refused(value: str) -> None:
    hexdigits = "0123456789abcdefABCDEF"
    valid = len(value) == 7 and value[0] == "#" and all(c in hexdigits for c in value[1:])
    if valid:
        assert display_options({"color_background": value}).colors == (("color_background", value.lower()),)
    else:
        with pytest.raises(FieldError) as refused:
            display_options({"color_background": value})
        assert refused.value.field == "color_background"


def test_usage_range() -> None:
    today = date(2025, 3, 1)
    assert usage_range({}, today) == UsageRange(date(2025, 1, 31), date(2025, 3, 2))
    assert len(usage_range({}, today).days) == 30
    assert usage_range({"days": "7", "ending_before": "2025-02-08"}, today) == UsageRange(
        date(2025, 2, 1), date(2025, 2, 8)
    )
    for params, field in (
        ({"days": "0"}, "days"),
        ({"days": "367"}, "days"),
        ({"days": "٣"}, "days"),
        ({"days": "1e3"}, "days"),
        ({"ending_before": "2025-02-30"}, "ending_before"),
        ({"ending_before": "2025-2-3"}, "ending_before"),
        ({"ending_before": "0001-01-01"}, "ending_before"),
    ):
        with pytest.raises(FieldError) as refused:
            usage_range(params, today)
        assert refused.value.field == field


def _entry(day: int, currency: str, *lines: tuple[str | None, str, str]) -> Breakdown:
    start = datetime(2025, 2, day, tzinfo=UTC)
    return Breakdown(
        invoice_id=f"inv_{day}",
        status="FINALIZED",
        currency=currency,
        breakdown_start_timestamp=start,
        breakdown_end_timestamp=start + timedelta(days=1),
        line_items=tuple(
            BreakdownLine(f"li_{i}", name, product, Decimal(1), Decimal(total))
            for i, (product, name, total) in enumerate(lines)
        ),
    )


def test_daily_spend_sums_per_currency_product_and_day() -> None:
    window = UsageRange(date(2025, 2, 1), date(2025, 2, 4))
    entries = [
        _entry(1, "USD", ("prod_api", "API", "1.50"), ("prod_api", "API again", "0.25"), (None, "Seats", "10")),
        _entry(3, "USD", ("prod_api", "API", "2.00")),
        _entry(2, "EUR", ("prod_api", "API", "7.5")),
        _entry(9, "USD", ("prod_api", "API", "99")),  # outside the range
    ]
    eur, usd = daily_spend(entries, window)
    assert (eur.currency, usd.currency) == ("EUR", "USD")
    assert [(s.label, s.totals) for s in usd.series] == [
        ("Seats", (Decimal(10), Decimal(0), Decimal(0))),
        ("prod_api", (Decimal("1.75"), Decimal(0), Decimal("2.00"))),
    ]
    assert usd.daily_totals == (Decimal("11.75"), Decimal(0), Decimal("2.00"))
    assert eur.series[0].totals == (Decimal(0), Decimal("7.5"), Decimal(0))


def test_beyond_twelve_products_the_smallest_share_one_line() -> None:
    window = UsageRange(date(2025, 2, 1), date(2025, 2, 3))
    lines = [(f"prod_{n:02d}", "x", str(n + 1)) for n in range(20)]  # prod_19 is the largest
    [chart] = daily_spend([_entry(1, "USD", *lines), _entry(2, "USD", ("prod_00", "x", "5"))], window)
    labels = [series.label for series in chart.series]
    assert labels == [*(f"prod_{n:02d}" for n in range(9, 20)), "other products"]
    others = chart.series[-1].totals
    assert others == (Decimal(sum(range(1, 10))), Decimal(5))  # prod_00..prod_08, and prod_00 on day 2
    assert chart.daily_totals == (Decimal(sum(range(1, 21))), Decimal(5))


# -- escaping and headers -----------------------------------------------------------------------------
class _Text(HTMLParser):
    """The text of the first element carrying `class="customer"`, and every tag opened."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.inside = False
        self.text = ""
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.inside = ("class", "customer") in attrs

    def handle_endtag(self, tag: str) -> None:
        self.inside = False

    def handle_data(self, data: str) -> None:
        if self.inside:
            self.text += data


PRINTABLE = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=60)


@given(name=PRINTABLE, invoice_id=PRINTABLE)
def test_names_and_ids_are_text_whatever_they_hold(name: str, invoice_id: str) -> None:
    customer = Customer(id="cust_x", name="x", created_at=NOW).model_copy(update={"name": name})
    invoice = InvoiceEvent.model_validate(invoice_event(customer_id="cust_x")).detail.model_copy(
        update={"id": invoice_id}
    )
    html_text = pages.invoices_page(customer, [invoice], False, "tok", Display(), "nonce")
    parser = _Text()
    parser.feed(html_text)
    assert parser.text == name
    assert set(parser.tags) <= {"html", "head", "meta", "title", "link", "body", "header", "h1", "p", "main",
                                "table", "thead", "tr", "th", "tbody", "td", "a"}  # fmt: skip


def test_the_content_security_policy() -> None:
    headers = pages.page_headers("https://app.example.com https://*.example.org", "n0nce")
    directives = dict(d.split(" ", 1) for d in headers["Content-Security-Policy"].split("; "))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self' 'nonce-n0nce'"
    assert directives["frame-ancestors"] == "https://app.example.com https://*.example.org"
    assert "unsafe" not in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store"


def test_theme_colours_go_only_into_the_nonced_style() -> None:
    customer = Customer(id="cust_x", name="x", created_at=NOW)
    text = pages.invoices_page(customer, [], False, "tok", display_options({"color_accent": "#123456"}), "n0nce")
    assert '<style nonce="n0nce">html:root{--accent:#123456;}</style>' in text
    assert text.count("<style") == 1
    assert "style=" not in text
