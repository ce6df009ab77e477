"""Embeddable dashboards in headless Chromium (Debian's package, driven by Playwright) on the local stack.

The browser is installed by `make test`'s set-up (`make browser`: apt-get, as root); where it is
missing these tests skip, saying so. Screenshots go to test-output/dashboards/ (gitignored).
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from local.cli import request_json
from local.stack import LocalStack
from shared.adapters.dynamodb import DynamoDBStore
from shared.domain.invoice import InvoiceEvent
from tests.builders import invoice_event
from tests.e2e.helpers import poll_until, sample_event

CHROMIUM = Path("/usr/bin/chromium")
OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / "dashboards"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} is missing and could not be installed here (`make test` installs Debian's chromium"
        " with apt-get when it runs as root)",
        allow_module_level=True,
    )

from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright  # noqa: E402


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1000, "height": 800})
    opened = context.new_page()
    yield opened
    context.close()


class Problems:
    """Console errors and uncaught exceptions of one page (a CSP violation is a console error)."""

    def __init__(self, page: Page) -> None:
        self.seen: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.seen.append(f"pageerror: {error}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.seen.append(f"console: {message.text}")


def embeddable_url(stack: LocalStack, customer_id: str, dashboard: str) -> str:
    body = {"customer_id": customer_id, "dashboard": dashboard}
    reply = request_json(stack.url, "POST", "/v1/dashboards/getEmbeddableUrl", body, token=stack.api_token)
    url: str = reply["data"]["url"]
    assert url.startswith(stack.url + "/v1/dashboards/embed?token=")
    return url


def screenshot(page: Page, name: str) -> Path:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    path = OUTPUT / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 1000
    return path


def send(stack: LocalStack, store: DynamoDBStore, event: dict[str, Any]) -> str:
    request_json(stack.url, "POST", "/_local/events", event, token=stack.api_token)
    invoice_id = str(event["detail"]["id"])
    poll_until(lambda: store.get_invoice(invoice_id, buckets=False), what=f"{invoice_id} stored")
    return invoice_id


def daily_usage_invoice(customer_id: str, days: int, products: int) -> dict[str, Any]:
    """An invoice whose lines have one bucket per day over the last `days` days (today included)."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - timedelta(days=days - 1)
    lines: list[dict[str, Any]] = []
    for product in range(products):
        buckets = [
            {
                "starting_at": f"{start + timedelta(days=day, hours=5):%Y-%m-%dT%H:%M:%SZ}",
                "ending_before": f"{start + timedelta(days=day, hours=6):%Y-%m-%dT%H:%M:%SZ}",
                "quantity": str(day + 1),
                "total": str(Decimal(day + 1) * (product + 1)),
            }
            for day in range(days)
        ]
        total = sum((Decimal(bucket["total"]) for bucket in buckets), Decimal(0))
        lines.append(
            {
                "id": f"li_{product}",
                "name": f"Product {product}",
                "product_id": f"prod_{product}",
                "quantity": str(sum(range(1, days + 1))),
                "unit_price": str(product + 1),
                "total": str(total),
                "custom_fields": {},
                "buckets": buckets,
            }
        )
    subtotal = sum((Decimal(line["total"]) for line in lines), Decimal(0))
    return invoice_event(
        id=f"inv_usage_{uuid.uuid4().hex[:8]}",
        customer_id=customer_id,
        start_timestamp=f"{start:%Y-%m-%dT%H:%M:%SZ}",
        end_timestamp=f"{today + timedelta(days=1):%Y-%m-%dT%H:%M:%SZ}",
        line_items=lines,
        subtotal=str(subtotal),
        total=str(subtotal),
        applied_credits=[],
    )


def new_customer(stack: LocalStack, name: str) -> str:
    reply = request_json(stack.url, "POST", "/v1/customers", {"name": name}, token=stack.api_token)
    return str(reply["data"]["id"])


def test_the_sample_customers_invoices_render_and_another_customers_never_appear(
    local_stack: LocalStack, store: DynamoDBStore, page: Page
) -> None:
    ours = send(local_stack, store, sample_event("finalized.json"))
    theirs = send(local_stack, store, sample_event("azure.json"))  # cust_globex's
    problems = Problems(page)
    url = embeddable_url(local_stack, "cust_acme", "invoices")

    response = page.goto(url + "&" + urlencode({"customer_id": "cust_globex", "invoice_customer": "cust_globex"}))
    assert response is not None
    assert response.status == 200
    assert page.locator("header .customer").inner_text() == "Acme Corp"
    listed = page.locator("tr[data-invoice-id]").evaluate_all("rows => rows.map(r => r.dataset.invoiceId)")
    assert ours in listed
    assert theirs not in listed
    assert "Globex" not in page.content()
    screenshot(page, "invoices")

    page.locator(f'tr[data-invoice-id="{ours}"] a').click()
    page.wait_for_selector(f'dl.invoice[data-invoice-id="{ours}"]')
    assert page.locator("tr[data-line-id]").count() == 1
    assert "1234.56" in page.locator("tr.total").inner_text()
    screenshot(page, "invoice-detail")
    assert problems.seen == []

    other = page.goto(url + "&" + urlencode({"invoice": theirs}))
    assert other is not None
    assert other.status == 404
    assert "Globex" not in page.content()


def _forged(url: str, customer_id: str) -> str:
    """The URL with the token's payload rewritten to name another customer (signature unchanged)."""
    base, token = url.split("?token=")
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = customer_id
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{base}?token={header}.{forged}.{signature}"


def test_a_tampered_url_is_403(local_stack: LocalStack, page: Page) -> None:
    url = embeddable_url(local_stack, "cust_acme", "invoices")
    last = url[-1]
    for tampered in (url[:-1] + ("A" if last != "A" else "B"), _forged(url, "cust_globex"), url.split("?")[0]):
        response = page.goto(tampered)
        assert response is not None
        assert response.status == 403, tampered
        assert page.locator("main.error h1").inner_text() == "Link not valid"
        assert "Acme" not in page.content()
        assert "Globex" not in page.content()
    screenshot(page, "tampered")


def test_the_usage_chart_has_a_point_per_day_for_each_product(
    local_stack: LocalStack, store: DynamoDBStore, page: Page
) -> None:
    customer_id = new_customer(local_stack, "Usage <b>Co</b>")
    send(local_stack, store, daily_usage_invoice(customer_id, days=30, products=2))
    problems = Problems(page)
    url = embeddable_url(local_stack, customer_id, "usage")

    response = page.goto(url + "&theme=dark&color_accent=%23ff6600")
    assert response is not None
    assert response.status == 200
    page.wait_for_selector("html[data-charts-drawn='1']")
    points = page.evaluate("window.downbeatCharts.map(c => [c.data[0].length, c.series.length - 1])")
    assert points == [[30, 2]]
    drawn = page.evaluate("window.downbeatCharts[0].data.slice(1).map(s => s.reduce((a, b) => a + b, 0))")
    assert drawn == [sum(range(1, 31)), 2 * sum(range(1, 31))]  # the table's numbers, drawn
    assert page.locator(".spend-chart canvas").count() == 1
    assert page.locator("header .customer").inner_text() == "Usage <b>Co</b>"
    accent = page.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--accent').trim()")
    assert accent == "#ff6600"
    screenshot(page, "usage")
    assert problems.seen == []


def test_a_fifty_invoice_customer_loads_without_console_errors(
    local_stack: LocalStack, store: DynamoDBStore, page: Page
) -> None:
    customer_id = new_customer(local_stack, "Fifty Invoices Ltd")
    month = datetime(2021, 1, 1, tzinfo=UTC)
    for number in range(50):
        start = month + timedelta(days=31 * number)
        event = invoice_event(
            id=f"inv_fifty_{number:02d}_{uuid.uuid4().hex[:6]}",
            customer_id=customer_id,
            start_timestamp=f"{start:%Y-%m-%dT%H:%M:%SZ}",
            end_timestamp=f"{start + timedelta(days=30):%Y-%m-%dT%H:%M:%SZ}",
        )
        store.save_invoice(InvoiceEvent.model_validate(event).detail, datetime.now(UTC))
    for dashboard in ("invoices", "usage"):
        problems = Problems(page)
        response = page.goto(embeddable_url(local_stack, customer_id, dashboard))
        assert response is not None
        assert response.status == 200
        page.wait_for_load_state("load")
        if dashboard == "invoices":
            assert page.locator("tr[data-invoice-id]").count() == 50
        screenshot(page, f"fifty-{dashboard}")
        assert problems.seen == [], dashboard
