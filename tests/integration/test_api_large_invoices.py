"""Large invoices through the API over a socket: the invoice has every line, without buckets; a
list shows each invoice's first lines and says so; every answer stays far below 6 MB."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from shared.domain.invoice import InvoiceEvent
from shared.domain.invoice_listing import LIST_LINE_ITEMS_MAX
from tests.builders import STRIPE, large_invoice_event
from tests.integration.api_harness import ApiClient, LocalApi

LAMBDA_RESPONSE_BYTES = 6 * 1024 * 1024


def save(local_api: LocalApi, count: int, hours: int, **overrides: Any) -> None:
    invoice = InvoiceEvent.model_validate(large_invoice_event(count, hours, **overrides)).detail
    local_api.store.save_invoice(invoice, datetime(2025, 3, 1, tzinfo=UTC))


def test_a_large_invoice_reads_back_with_every_line_and_no_buckets(local_api: LocalApi, api: ApiClient) -> None:
    customer_id = api.post("/v1/customers", {"name": "Big", "billing_provider_configurations": [STRIPE]}).data["id"]
    save(local_api, 50, 720, id="inv_hourly", customer_id=customer_id)
    reply = api.get(f"/v1/customers/{customer_id}/invoices/inv_hourly")
    invoice = reply.data
    assert [line["id"] for line in invoice["line_items"]] == [f"li_{n}" for n in range(50)]
    assert all("buckets" not in line for line in invoice["line_items"])
    assert (invoice["line_items_count"], invoice["line_items_truncated"]) == (50, False)
    assert "line_items_uri" not in invoice
    assert len(json.dumps(reply.body)) < 100_000  # 36,000 buckets stay out of it


def test_an_invoice_list_shows_first_lines_and_stays_small(local_api: LocalApi, api: ApiClient) -> None:
    customer_id = api.post("/v1/customers", {"name": "Many", "billing_provider_configurations": [STRIPE]}).data["id"]
    for month in range(1, 4):
        save(
            local_api,
            2_000,
            1,
            id=f"inv_{month}",
            customer_id=customer_id,
            start_timestamp=f"2025-02-0{month}T00:00:00Z",
        )
    reply = api.get(f"/v1/customers/{customer_id}/invoices?limit=100")
    page = reply.data
    assert [invoice["id"] for invoice in page] == ["inv_1", "inv_2", "inv_3"]
    for invoice in page:
        assert 0 < len(invoice["line_items"]) <= LIST_LINE_ITEMS_MAX
        assert (invoice["line_items_count"], invoice["line_items_truncated"]) == (2_000, True)
        assert all("buckets" not in line for line in invoice["line_items"])
    assert len(json.dumps(reply.body)) < LAMBDA_RESPONSE_BYTES // 10
    whole = api.get(f"/v1/customers/{customer_id}/invoices/inv_2").data
    assert len(whole["line_items"]) == 2_000
    assert whole["line_items"][: len(page[1]["line_items"])] == page[1]["line_items"]
