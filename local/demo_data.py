"""The demo's sample customers, contracts and invoice events (also `downbeat invoke --seed`).

Customers and contracts go in through `seed_demo_data`, the one place that knows how: today the
store port; once the API's `POST /v1/customers` and `POST /v1/contracts/create` land, only that
function changes to POST the same documents.
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from pydantic import TypeAdapter

from shared.domain.customers import Contract, Customer
from shared.domain.providers import ProviderConfiguration
from shared.ports import AlreadyExists

EVENTS_DIR = Path(__file__).resolve().parent.parent / "events" / "invoice_router"
CREATED_AT = datetime(2025, 1, 1, tzinfo=UTC)
DEMO_STRIPE_CUSTOMERS = ("cus_demo_acme",)

# Request bodies as the API takes them (DESIGN §3/§4), so the HTTP switch reuses them verbatim.
CUSTOMERS: list[dict[str, Any]] = [
    {
        "id": "cust_acme",
        "name": "Acme Corp",
        "billing_provider_configurations": [
            {
                "billing_provider": "stripe",
                "delivery_method": "direct_to_billing_provider",
                "default": True,
                "configuration": {"stripe_customer_id": DEMO_STRIPE_CUSTOMERS[0]},
            },
            {
                "billing_provider": "aws_marketplace",
                "delivery_method": "direct_to_billing_provider",
                "configuration": {
                    "aws_customer_id": "c-acme",
                    "aws_product_code": "prod-demo",
                    "aws_region": "us-east-1",
                },
            },
        ],
    },
    {
        "id": "cust_globex",
        "name": "Globex",
        "billing_provider_configurations": [
            {
                "billing_provider": "azure_marketplace",
                "delivery_method": "direct_to_billing_provider",
                "configuration": {"azure_subscription_id": "sub-globex", "azure_plan_id": "gold"},
            }
        ],
    },
]
CONTRACTS: list[dict[str, Any]] = [
    {"id": "con_acme_2025", "customer_id": "cust_acme", "name": "Acme 2025", "starting_at": "2025-01-01T00:00:00Z"},
    {
        "id": "con_acme_marketplace",
        "customer_id": "cust_acme",
        "name": "Acme via AWS Marketplace",
        "starting_at": "2025-01-01T00:00:00Z",
        "billing_provider_configuration": {
            "billing_provider": "aws_marketplace",
            "delivery_method": "direct_to_billing_provider",
        },
    },
]
# (what it shows, event file): one invoice per route the demo walks through.
DEMO_EVENTS: list[tuple[str, str]] = [
    ("Stripe: the customer's default configuration", "finalized.json"),
    ("AWS Marketplace outbox: contract override (the customer's default is Stripe)", "marketplace_override.json"),
    ("Azure Marketplace outbox: the customer's only configuration", "azure.json"),
    ("rejected: currency is not an ISO 4217 code", "invalid.json"),
]

_configurations: TypeAdapter[list[ProviderConfiguration]] = TypeAdapter(list[ProviderConfiguration])


class DemoStore(Protocol):
    def create_customer(self, customer: Customer) -> None: ...
    def create_contract(self, contract: Contract) -> None: ...


def seed_demo_data(store: DemoStore) -> None:
    """Create the demo customers and contracts (idempotent: existing ones are left alone)."""
    for body in CUSTOMERS:
        customer = Customer(
            id=body["id"],
            name=body["name"],
            billing_provider_configurations=_configurations.validate_python(body["billing_provider_configurations"]),
            created_at=CREATED_AT,
        )
        _create(store.create_customer, customer)
    for body in CONTRACTS:
        _create(store.create_contract, Contract.model_validate({**body, "created_at": CREATED_AT}))


def _create(create: Any, entity: Any) -> None:
    with contextlib.suppress(AlreadyExists):
        create(entity)


def demo_event(file_name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS_DIR / file_name).read_text(encoding="utf-8"))
    return loaded
