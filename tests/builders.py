"""Builders for test data: valid by default, overridable field by field."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pydantic import TypeAdapter

from shared.domain.customers import Contract, Customer
from shared.domain.providers import ContractProviderOverride, ProviderConfiguration
from shared.services.api_dependencies import DashboardConfig

CREATED_AT = datetime(2025, 1, 1, tzinfo=UTC)
_configuration_adapter: TypeAdapter[ProviderConfiguration] = TypeAdapter(ProviderConfiguration)

STRIPE = {
    "billing_provider": "stripe",
    "delivery_method": "direct_to_billing_provider",
    "configuration": {"stripe_customer_id": "cus_N1"},
}
AWS = {
    "billing_provider": "aws_marketplace",
    "delivery_method": "direct_to_billing_provider",
    "configuration": {"aws_customer_id": "c-123", "aws_product_code": "prod-x", "aws_region": "us-east-1"},
}
AZURE = {
    "billing_provider": "azure_marketplace",
    "delivery_method": "direct_to_billing_provider",
    "configuration": {"azure_subscription_id": "sub-1", "azure_plan_id": "gold"},
}


def configuration(raw: dict[str, Any], *, default: bool = False) -> ProviderConfiguration:
    return _configuration_adapter.validate_python({**copy.deepcopy(raw), "default": default})


def dashboard_links(signing_key: str = "test-dashboard-signing-secret-0123456789abcdef") -> DashboardConfig:
    """The dashboard settings of an API under test: a fixed signing key, pages framed by their own origin."""
    return DashboardConfig(signing_key=lambda: signing_key)


def customer(customer_id: str = "cust_acme", *configurations: ProviderConfiguration) -> Customer:
    return Customer(
        id=customer_id,
        name=f"Customer {customer_id}",
        billing_provider_configurations=list(configurations),
        created_at=CREATED_AT,
    )


def contract(
    contract_id: str = "con_acme_2025", customer_id: str = "cust_acme", override: str | None = None
) -> Contract:
    return Contract(
        id=contract_id,
        customer_id=customer_id,
        name="2025",
        starting_at=CREATED_AT,
        billing_provider_configuration=ContractProviderOverride.model_validate({"billing_provider": override})
        if override
        else None,
        created_at=CREATED_AT,
    )


def invoice_detail(**overrides: Any) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "id": "inv_1",
        "customer_id": "cust_acme",
        "contract_id": None,
        "type": "USAGE",
        "status": "FINALIZED",
        "currency": "USD",
        "start_timestamp": "2025-02-01T00:00:00Z",
        "end_timestamp": "2025-03-01T00:00:00Z",
        "issued_at": "2025-03-01T00:04:10Z",
        "subtotal": "1530.0045",
        "total": "1234.56",
        "line_items": [
            {
                "id": "li_1",
                "name": "API calls",
                "product_id": "prod_api",
                "quantity": "1530004.5",
                "unit_price": "0.001",
                "total": "1530.0045",
                "custom_fields": {},
                "buckets": [
                    {
                        "starting_at": "2025-02-01T00:00:00Z",
                        "ending_before": "2025-02-01T01:00:00Z",
                        "quantity": "410.0",
                        "total": "0.41",
                    }
                ],
            }
        ],
        "applied_credits": [{"id": "commit_9", "type": "PREPAID", "amount": "295.44"}],
        "custom_fields": {"region": "eu"},
        "version": 7,
    }
    detail.update(overrides)
    return detail


DETAIL_TYPES = {"FINALIZED": "invoice.finalized", "DRAFT": "invoice.updated", "VOID": "invoice.voided"}


def invoice_event(detail_type: str | None = None, **overrides: Any) -> dict[str, Any]:
    detail = invoice_detail(**overrides)
    return {
        "version": "0",
        "id": "evt-1",
        "detail-type": detail_type or DETAIL_TYPES[detail["status"]],
        "source": "downbeat.billing",
        "account": "123456789012",
        "time": "2025-03-01T00:04:10Z",
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }


def hourly_lines(count: int, hours: int, *, products: int = 10, prefix: str = "li") -> list[dict[str, Any]]:
    """`count` line items over `products` products, each with `hours` hourly buckets from
    2025-02-01; quantities and totals add up (a line's total is the sum of its buckets')."""
    start = datetime(2025, 2, 1, tzinfo=UTC)
    stamps = [f"{start + timedelta(hours=hour):%Y-%m-%dT%H:%M:%SZ}" for hour in range(hours + 1)]
    lines = []
    for index in range(count):
        quantities = [Decimal((hour * 7 + index) % 1000) + Decimal("0.5") for hour in range(hours)]
        buckets = [
            {
                "starting_at": stamps[hour],
                "ending_before": stamps[hour + 1],
                "quantity": str(quantity),
                "total": str(quantity * Decimal("0.001")),
            }
            for hour, quantity in enumerate(quantities)
        ]
        quantity = sum(quantities, Decimal(0)) if hours else Decimal(1000)
        lines.append(
            {
                "id": f"{prefix}_{index}",
                "name": f"Product {index % products} usage",
                "product_id": f"prod_{index % products}",
                "quantity": str(quantity),
                "unit_price": "0.001",
                "total": str(quantity * Decimal("0.001")),
                "custom_fields": {},
                "buckets": buckets,
            }
        )
    return lines


def large_invoice_event(count: int, hours: int, *, products: int = 10, **overrides: Any) -> dict[str, Any]:
    """An invoice event whose lines are `hourly_lines(count, hours)`, its totals agreeing with them."""
    lines = hourly_lines(count, hours, products=products)
    subtotal = sum((Decimal(line["total"]) for line in lines), Decimal(0))
    end = datetime(2025, 2, 1, tzinfo=UTC) + timedelta(hours=max(hours, 24 * 28))
    detail = {
        "line_items": lines,
        "subtotal": str(subtotal),
        "total": str(subtotal.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)),
        "applied_credits": [],
        "end_timestamp": f"{end:%Y-%m-%dT%H:%M:%SZ}",
        **overrides,
    }
    return invoice_event(**detail)
