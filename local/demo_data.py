"""The demo's sample customers, contracts and invoice events.

`make demo` creates them through the API (`seed_demo_data_via_api`): the API hands out the ids,
and the sample events' placeholder ids (`cust_acme`, `con_acme_2025`, …) are replaced with them,
as a real upstream would send the ids it got from the API. `downbeat local` (unless
`--no-seed`), `downbeat invoke --seed` and the e2e fixture load the same documents straight into the store
under the placeholder ids (`seed_demo_data`), so the sample event files work as they are.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from pydantic import TypeAdapter

from shared.domain.customers import Contract, Customer
from shared.domain.providers import ProviderConfiguration
from shared.ports.store import AlreadyExists

EVENTS_DIR = Path(__file__).resolve().parent.parent / "events" / "invoice_router"
CREATED_AT = datetime(2025, 1, 1, tzinfo=UTC)
DEMO_STRIPE_CUSTOMERS = ("cus_demo_acme",)

# Request bodies as the API takes them (docs/api.md), so the HTTP switch reuses them verbatim.
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


ApiCall = Callable[[str, str, dict[str, Any] | None], dict[str, Any]]  # (method, path, body) → response JSON


def seed_demo_data_via_api(call: ApiCall) -> dict[str, str]:
    """Create the demo customers and contracts with the API; returns placeholder id → API id."""
    ids: dict[str, str] = {}
    for body in CUSTOMERS:
        created = call("POST", "/v1/customers", {key: value for key, value in body.items() if key != "id"})
        ids[body["id"]] = created["data"]["id"]
    for body in CONTRACTS:
        request = {key: value for key, value in body.items() if key != "id"}
        request["customer_id"] = ids[body["customer_id"]]
        created = call("POST", "/v1/contracts/create", request)
        ids[body["id"]] = created["data"]["id"]
    return ids


def demo_event(file_name: str, ids: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A sample event; with `ids`, its placeholder customer and contract ids replaced."""
    loaded: dict[str, Any] = json.loads((EVENTS_DIR / file_name).read_text(encoding="utf-8"))
    detail = loaded.get("detail")
    if ids and isinstance(detail, dict):
        for key in ("customer_id", "contract_id"):
            if isinstance(detail.get(key), str):
                detail[key] = ids.get(detail[key], detail[key])
    return loaded
