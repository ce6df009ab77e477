"""A small world for the marketplace meter's tests, fault campaign and bench: a store, the router
that fills its outbox, one in-memory marketplace per provider, and the meter run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from shared.domain.marketplace_metering import cents
from shared.ports.metering import AwsBuyer, AzureBuyer, Buyer, MarketplaceProvider
from shared.ports.store import Store
from shared.services.marketplace_meter import MeterDependencies, MeterRunReport, run_meter
from shared.services.route_invoice import RouterDependencies, route_invoice_event
from tests.builders import configuration, customer, invoice_event
from tests.fakes.marketplace_metering import FakeMarketplace
from tests.fakes.memory_store import InMemoryStore, RecordingQueue

PLENTY_MS = 900_000


@dataclass
class MutableClock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class MeterWorld:
    clock: Callable[[], datetime]
    store: Store = field(default_factory=InMemoryStore)
    markets: dict[MarketplaceProvider, FakeMarketplace] = field(default_factory=dict)
    buyers: dict[str, Buyer] = field(default_factory=dict)
    totals: dict[str, Decimal] = field(default_factory=dict)  # invoice id -> latest total routed
    versions: dict[str, int] = field(default_factory=dict)
    sleeps: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        for provider in ("aws_marketplace", "azure_marketplace"):
            self.markets.setdefault(provider, FakeMarketplace(provider, self.clock))

    def deps(self, **overrides: Any) -> MeterDependencies:
        return MeterDependencies(
            store=self.store, meters=dict(self.markets), clock=self.clock, sleep=self.sleeps.append, **overrides
        )

    def router(self) -> RouterDependencies:
        return RouterDependencies(
            store=self.store, stripe_queue=RecordingQueue(), dead_letters=RecordingQueue(), clock=self.clock
        )

    def add_customer(
        self,
        customer_id: str,
        provider: MarketplaceProvider = "aws_marketplace",
        *,
        product: str = "prod-x",
        licence: bool = False,
        region: str = "us-east-1",
    ) -> None:
        if provider == "azure_marketplace":
            raw: dict[str, Any] = {"azure_subscription_id": f"sub-{customer_id}", "azure_plan_id": "gold"}
            self.buyers[customer_id] = AzureBuyer(f"sub-{customer_id}", "gold")
        elif licence:
            account = str(100000000000 + len(self.buyers))
            arn = f"arn:aws:license-manager::123456789012:license:l-{customer_id}"
            raw = {"aws_customer_account_id": account, "aws_license_arn": arn}
            self.buyers[customer_id] = AwsBuyer(product, region, None, account, arn)
        else:
            raw = {"aws_customer_id": f"c-{customer_id}"}
            self.buyers[customer_id] = AwsBuyer(product, region, customer_identifier=f"c-{customer_id}")
        if provider == "aws_marketplace":
            raw.update(aws_product_code=product, aws_region=region)
        config = {"billing_provider": provider, "delivery_method": "direct_to_billing_provider", "configuration": raw}
        self.store.create_customer(customer(customer_id, configuration(config, default=True)))

    def send_invoice(
        self,
        invoice_id: str,
        customer_id: str,
        total: str,
        *,
        status: str = "FINALIZED",
        currency: str = "USD",
        version: int | None = None,
    ) -> None:
        """Route one invoice event (a new version unless `version` says which)."""
        number = version if version is not None else self.versions.get(invoice_id, 0) + 1
        self.versions[invoice_id] = max(number, self.versions.get(invoice_id, 0))
        event = invoice_event(
            id=invoice_id,
            customer_id=customer_id,
            status=status,
            currency=currency,
            total=total,
            subtotal=total,
            applied_credits=[],
            line_items=[],
            version=number,
        )
        route_invoice_event(event, self.router())
        if number == self.versions[invoice_id] and status != "VOID":
            self.totals[invoice_id] = Decimal(total)

    def run(self, remaining_ms: Callable[[], int] | None = None, **overrides: Any) -> MeterRunReport:
        return run_meter(self.deps(**overrides), remaining_ms or (lambda: PLENTY_MS))

    def market(self, provider: MarketplaceProvider = "aws_marketplace") -> FakeMarketplace:
        return self.markets[provider]

    def held_cents(self, customer_id: str, provider: MarketplaceProvider = "aws_marketplace") -> int:
        return self.market(provider).held_quantity(self.buyers[customer_id])

    def invoice_cents(self, *invoice_ids: str) -> int:
        return sum(cents(self.totals[invoice_id]) for invoice_id in invoice_ids)
