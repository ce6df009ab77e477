"""Invoice breakdowns over a socket: the route is not an invoice id, required parameters and bad
ranges are 400s naming the field, another customer is 404, and the same request answers the same bytes."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import urlencode

import pytest

from shared.domain.invoice import InvoiceEvent
from tests.builders import STRIPE, large_invoice_event
from tests.integration.api_harness import ApiClient, LocalApi

RANGE = {"starting_on": "2025-02-01", "ending_before": "2025-03-01", "window_size": "DAY"}


@pytest.fixture(scope="module")
def customer_id(local_api: LocalApi) -> str:
    api = ApiClient(local_api.url)
    created = api.post("/v1/customers", {"name": "Hourly", "billing_provider_configurations": [STRIPE]}).data["id"]
    invoice = InvoiceEvent.model_validate(large_invoice_event(3, 48, id="inv_breakdown", customer_id=created)).detail
    local_api.store.save_invoice(invoice, datetime(2025, 3, 1, tzinfo=UTC))
    return str(created)


def path(customer_id: str, **params: str) -> str:
    return f"/v1/customers/{customer_id}/invoices/breakdowns?{urlencode({**RANGE, **params})}"


def test_daily_breakdowns_add_up_to_the_invoice(api: ApiClient, customer_id: str) -> None:
    reply = api.get(path(customer_id))
    entries = reply.data
    assert [(e["invoice_id"], e["breakdown_start_timestamp"], e["breakdown_end_timestamp"]) for e in entries] == [
        ("inv_breakdown", "2025-02-01T00:00:00Z", "2025-02-02T00:00:00Z"),
        ("inv_breakdown", "2025-02-02T00:00:00Z", "2025-02-03T00:00:00Z"),
    ]
    assert reply.body["next_page"] is None
    assert [line["id"] for line in entries[0]["line_items"]] == ["li_0", "li_1", "li_2"]
    assert set(entries[0]["line_items"][0]) == {"id", "name", "product_id", "quantity", "total"}
    whole = api.get(f"/v1/customers/{customer_id}/invoices/inv_breakdown").data
    assert sum(Decimal(e["subtotal"]) for e in entries) == Decimal(whole["subtotal"])


def test_hourly_pages_and_the_same_request_answers_the_same_bytes(api: ApiClient, customer_id: str) -> None:
    first = api.call("GET", path(customer_id, window_size="HOUR", limit="30"))
    again = api.call("GET", path(customer_id, window_size="HOUR", limit="30"))
    assert first.body == again.body
    assert len(first.body["data"]) == 30
    rest = api.get(path(customer_id, window_size="HOUR", limit="30", next_page=first.body["next_page"]))
    assert len(rest.data) == 18
    assert rest.body["next_page"] is None
    hours = [e["breakdown_start_timestamp"] for e in first.body["data"] + rest.data]
    assert hours == sorted(set(hours))
    assert len(hours) == 48


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"window_size": "WEEK"}, "window_size"),
        ({"starting_on": "yesterday"}, "starting_on"),
        ({"ending_before": "2025-02-01"}, "ending_before"),  # empty range
        ({"ending_before": "2025-01-01"}, "ending_before"),  # inverted
        ({"currency": "usd"}, "currency"),
        ({"status": "PAID"}, "status"),
        ({"limit": "0"}, "limit"),
        ({"next_page": "tampered"}, "next_page"),
    ],
)
def test_bad_parameters_are_400_naming_the_field(
    api: ApiClient, customer_id: str, params: dict[str, str], field: str
) -> None:
    assert api.get(path(customer_id, **params)).error() == (400, field)


@pytest.mark.parametrize("missing", sorted(RANGE))
def test_each_required_parameter_is_named_when_missing(api: ApiClient, customer_id: str, missing: str) -> None:
    params = {name: value for name, value in RANGE.items() if name != missing}
    reply = api.get(f"/v1/customers/{customer_id}/invoices/breakdowns?{urlencode(params)}")
    assert reply.error() == (400, missing)


def test_an_unknown_customer_is_404(api: ApiClient) -> None:
    assert api.get(path("cust_nobody")).error() == (404, None)


def test_another_customers_invoice_usage_is_not_there(api: ApiClient, customer_id: str) -> None:
    other = api.post("/v1/customers", {"name": "Other", "billing_provider_configurations": [STRIPE]}).data["id"]
    assert api.get(path(other)).data == []
