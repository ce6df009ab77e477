"""DESIGN §3/§4/§4a checked rule by rule against `downbeat local` over real sockets.

Each test pins a deviation a contract review found (or a rule worth guarding end to end, such as
lifetime billings following invoices that arrive through the router).
"""

from __future__ import annotations

import copy
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.builders import AWS, AZURE, STRIPE, invoice_event
from tests.integration.api_harness import ApiClient, LocalApi

WHOLE_SECONDS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def new_customer(api: ApiClient, *configurations: dict[str, Any]) -> str:
    body = {"name": "Review", "billing_provider_configurations": [copy.deepcopy(c) for c in configurations]}
    customer_id: str = api.post("/v1/customers", body).data["id"]
    return customer_id


def send(local_api: LocalApi, **detail: Any) -> None:
    """An invoice event through the local bus, as `downbeat send-event` sends it."""
    local_api.stack.put_event(invoice_event(**detail))


def eventually(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def timestamps_in(value: Any, path: str = "") -> dict[str, str]:
    """Every value whose key names a moment (`…_at`, `…_timestamp`, `at`, `starting_at`, …)."""
    found: dict[str, str] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            if isinstance(item, str) and (
                key in {"at", "timestamp", "ending_before"} or key.endswith(("_at", "_timestamp"))
            ):
                found[where] = item
            elif key != "custom_fields":
                found |= timestamps_in(item, where)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found |= timestamps_in(item, f"{path}.{index}")
    return found


# -- §4a "Status codes": a body is a JSON object ------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/customers", [{"name": "first element"}]),
        ("/v1/contracts/list", [{"customer_id": "cust_x"}]),
    ],
)
def test_a_json_array_body_is_400_not_its_first_element(api: ApiClient, path: str, body: Any) -> None:
    agent = f"array-{uuid.uuid4().hex}"
    reply = api.post(path, body, user_agent=agent)
    assert reply.error() == (400, None)
    assert "JSON object" in reply.body["message"]


def test_a_json_array_of_configurations_is_400(api: ApiClient) -> None:
    customer_id = new_customer(api, STRIPE)
    reply = api.post(f"/v1/customers/{customer_id}/billingProviderConfigurations", [AWS])
    assert reply.error() == (400, None)
    assert [c["billing_provider"] for c in api.get(f"/v1/customers/{customer_id}").data[
        "billing_provider_configurations"
    ]] == ["stripe"]  # fmt: skip


def test_a_json_body_is_read_as_json_whatever_its_content_type(api: ApiClient) -> None:
    """§4: JSON bodies. A client that omits Content-Type (curl -d sends a form type) is still understood."""
    for content_type in ("application/x-www-form-urlencoded", "text/plain", "application/json; charset=utf-8"):
        reply = api.post("/v1/customers", {"name": "typed"}, headers={"Content-Type": content_type})
        assert reply.status == 200, (content_type, reply.body)
    reply = api.call("POST", "/v1/customers", raw=b"name=typed", headers={"Content-Type": "text/plain"})
    assert reply.error() == (400, None)


# -- §3 validation: a second configuration for the same provider names its index -----------------------
def test_a_duplicate_provider_is_named_past_three_configurations(api: ApiClient) -> None:
    body = {"name": "Dup", "billing_provider_configurations": [STRIPE, AWS, AZURE, STRIPE]}
    assert api.post("/v1/customers", body).error() == (400, "billing_provider_configurations.3.billing_provider")
    body = {"name": "Dup", "billing_provider_configurations": [AZURE, AZURE, AZURE, AZURE]}
    assert api.post("/v1/customers", body).error() == (400, "billing_provider_configurations.1.billing_provider")


# -- §4a "Formats": amounts at the currency's minor units --------------------------------------------
def test_invoice_amounts_are_at_the_currency_precision(local_api: LocalApi, api: ApiClient) -> None:
    customer_id = new_customer(api)
    line = {"id": "li_1", "name": "API calls", "product_id": "prod_api", "quantity": "3", "unit_price": "2.5",
            "total": "7.5", "custom_fields": {}}  # fmt: skip
    fine = {**line, "id": "li_2", "unit_price": "0.001", "total": "1530.0045"}
    send(local_api, id=f"{customer_id}-eur", customer_id=customer_id, currency="EUR", subtotal="7.5", total="7.5",
         line_items=[line], applied_credits=[], version=1)  # fmt: skip
    send(local_api, id=f"{customer_id}-usd", customer_id=customer_id, subtotal="1600", total="100",
         line_items=[fine], applied_credits=[{"id": "commit_1", "type": "PREPAID", "amount": "1500"}],
         version=1)  # fmt: skip
    send(local_api, id=f"{customer_id}-jpy", customer_id=customer_id, currency="JPY", subtotal="12345",
         total="12345", line_items=[{**line, "unit_price": "4115", "total": "12345"}], applied_credits=[],
         version=1)  # fmt: skip

    def three() -> list[dict[str, Any]]:
        invoices: list[dict[str, Any]] = api.get(f"/v1/customers/{customer_id}/invoices").data
        assert len(invoices) == 3
        return invoices

    invoices = {invoice["currency"]: invoice for invoice in eventually(three)}
    eur, usd, jpy = invoices["EUR"], invoices["USD"], invoices["JPY"]
    assert (eur["total"], eur["subtotal"]) == ("7.50", "7.50")
    assert (eur["line_items"][0]["total"], eur["line_items"][0]["unit_price"]) == ("7.50", "2.50")
    assert eur["line_items"][0]["quantity"] == "3"  # a quantity is not an amount
    assert (usd["total"], usd["subtotal"]) == ("100.00", "1600.00")
    assert usd["applied_credits"][0]["amount"] == "1500.00"
    assert usd["line_items"][0]["total"] == "1530.0045"  # line totals may carry more digits (§2): kept
    assert usd["line_items"][0]["unit_price"] == "0.001"
    assert (jpy["total"], jpy["line_items"][0]["total"]) == ("12345", "12345")
    single = api.get(f"/v1/customers/{customer_id}/invoices/{customer_id}-eur").data
    # the invoice read by its id adds what its provider reports (nothing yet: it has no provider)
    assert (single.pop("provider_status"), single.pop("provider_status_at")) == (None, None)
    assert single == eur
    assert api.get(f"/v1/customers/{customer_id}").data["lifetime_billings"] == {
        "EUR": "7.50",
        "JPY": "12345",
        "USD": "100.00",
    }


# -- §4a "Formats": date filters accept a timestamp or a date ----------------------------------------
def test_a_date_filter_offset_sent_unencoded_still_parses(local_api: LocalApi, api: ApiClient) -> None:
    """`+00:00` typed straight into a query string arrives as a space (form decoding)."""
    customer_id = new_customer(api)
    base = f"/v1/customers/{customer_id}/invoices"
    assert api.get(f"{base}?starting_on=2025-02-01T00:00:00+00:00").status == 200
    assert api.get(f"{base}?ending_before=2025-02-01T01:00:00+01:00").status == 200
    assert api.get("/v1/auditLogs?starting_on=2025-02-01T00:00:00+00:00").status == 200
    assert api.get(f"{base}?starting_on=2025-02-01T00:00:00%2000").error() == (400, "starting_on")


# -- §4a "Formats": timestamps are YYYY-MM-DDTHH:MM:SSZ ----------------------------------------------
def test_contract_timestamps_are_whole_seconds(api: ApiClient) -> None:
    customer_id = new_customer(api)
    body = {
        "customer_id": customer_id,
        "name": "ms",
        "starting_at": "2025-01-01T00:00:00.000Z",
        "ending_before": "2026-01-01T00:00:00.250+00:00",
    }
    created = api.post("/v1/contracts/create", body).data
    assert (created["starting_at"], created["ending_before"]) == ("2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z")
    fetched = api.post("/v1/contracts/get", {"customer_id": customer_id, "contract_id": created["id"]}).data
    assert fetched == created


def test_sync_status_timestamps_are_whole_seconds(local_api: LocalApi, api: ApiClient) -> None:
    customer_id = new_customer(api)  # no provider: the router records `skipped`
    invoice_id = f"inv_{uuid.uuid4().hex}"
    send(local_api, id=invoice_id, customer_id=customer_id, version=1)

    def skipped() -> dict[str, Any]:
        reply = api.get(f"/v1/invoices/{invoice_id}/sync")
        assert reply.status == 200
        record: dict[str, Any] = reply.data
        assert record["status"] == "skipped"
        return record

    record = eventually(skipped)
    assert {"invoice_id", "provider", "status", "reason", "provider_ids", "attempts"} <= set(record)
    assert (record["provider"], record["provider_ids"]) == (None, {})
    assert record["reason"]
    assert record["attempts"]
    assert all(set(attempt) == {"at", "outcome", "detail"} for attempt in record["attempts"])
    moments = timestamps_in(record)
    assert moments
    assert {where: value for where, value in moments.items() if not WHOLE_SECONDS.match(value)} == {}


# -- §4 lifetime_billings through the router: re-versioned and voided invoices -----------------------
def test_lifetime_billings_follow_invoices_sent_through_the_router(local_api: LocalApi, api: ApiClient) -> None:
    customer_id = new_customer(api)

    def billings(expected: dict[str, str]) -> Callable[[], None]:
        def check() -> None:
            assert api.get(f"/v1/customers/{customer_id}").data["lifetime_billings"] == expected

        return check

    send(local_api, id=f"{customer_id}-a", customer_id=customer_id, total="100.10", applied_credits=[], version=1)
    send(local_api, id=f"{customer_id}-b", customer_id=customer_id, total="200.25", applied_credits=[], version=1)
    send(local_api, id=f"{customer_id}-d", customer_id=customer_id, status="DRAFT", total="55.00", version=1)
    eventually(billings({"USD": "300.35"}))
    send(local_api, id=f"{customer_id}-a", customer_id=customer_id, total="110.10", applied_credits=[], version=2)
    send(local_api, id=f"{customer_id}-b", customer_id=customer_id, status="VOID", total="200.25", version=2)
    send(local_api, id=f"{customer_id}-d", customer_id=customer_id, total="60.00", applied_credits=[], version=3)
    eventually(billings({"USD": "170.10"}))
    send(local_api, id=f"{customer_id}-a", customer_id=customer_id, total="999.99", applied_credits=[], version=1)
    time.sleep(1)  # a stale version changes nothing
    billings({"USD": "170.10"})()
    voided = api.get(f"/v1/customers/{customer_id}/invoices?status=VOID").data
    assert [invoice["id"] for invoice in voided] == [f"{customer_id}-b"]


# -- §4a: GET /openapi.json without a token -----------------------------------------------------
def test_openapi_document_is_served_even_with_a_wrong_token(api: ApiClient) -> None:
    reply = api.get("/openapi.json", authorization="Bearer not-the-token")
    assert reply.status == 200
    assert reply.body["openapi"].startswith("3.")
