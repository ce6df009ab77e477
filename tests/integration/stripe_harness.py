"""Drive the Stripe worker (real SDK) against the Stripe double, with one manual clock for both.

Used by the Stripe sync tests, the fault campaign and `bench/stripe_calls.py`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from local.stripe_double import ManualClock, StripeDouble
from shared.adapters.stripe_gateway import StripeGateway, stripe_client
from shared.domain.invoice import InvoiceEvent
from shared.domain.stripe_plan import METADATA_INVOICE_ID
from shared.ports.stripe import StripeInvoices, StripeInvoiceView, StripeLineView
from shared.services.stripe_sync import sync_stripe_invoice
from shared.services.stripe_sync_dependencies import StripeSyncDependencies, StripeSyncMessage, StripeSyncResult
from tests.builders import configuration as provider_configuration
from tests.builders import customer, invoice_event
from tests.fakes.memory_store import InMemoryStore
from tests.fakes.stripe_sdk import TEST_API_KEY

STRIPE_CUSTOMER = "cus_N1"


class SimulatedCrash(BaseException):
    """The worker process dies (not an Exception: nothing in the worker may catch it)."""


class CrashingStripe:
    """A StripeInvoices that lets `survive` calls through, then "kills the process" on the next."""

    def __init__(self, inner: StripeInvoices, survive: int | None = None) -> None:
        self._inner = inner
        self.survive = survive
        self._made = 0

    @property
    def calls(self) -> int:
        return self._inner.calls

    @calls.setter
    def calls(self, value: int) -> None:  # the Protocol declares a plain attribute
        raise AttributeError("read-only")

    def _enter(self) -> None:
        if self.survive is not None and self._made >= self.survive:
            raise SimulatedCrash(f"crash before Stripe call {self._made + 1}")
        self._made += 1

    def list_invoices(self, customer: str) -> list[StripeInvoiceView]:
        self._enter()
        return self._inner.list_invoices(customer)

    def find_invoices(self, customer: str, metadata_key: str, metadata_value: str) -> list[StripeInvoiceView]:
        self._enter()
        return self._inner.find_invoices(customer, metadata_key, metadata_value)

    def retrieve_invoice(self, invoice_id: str) -> StripeInvoiceView | None:
        self._enter()
        return self._inner.retrieve_invoice(invoice_id)

    def list_lines(self, invoice_id: str) -> list[StripeLineView]:
        self._enter()
        return self._inner.list_lines(invoice_id)

    def create_invoice(self, params: Mapping[str, Any], *, idempotency_key: str) -> StripeInvoiceView:
        self._enter()
        return self._inner.create_invoice(params, idempotency_key=idempotency_key)

    def add_lines(
        self, invoice_id: str, lines: Sequence[Mapping[str, Any]], *, idempotency_key: str
    ) -> StripeInvoiceView:
        self._enter()
        return self._inner.add_lines(invoice_id, lines, idempotency_key=idempotency_key)

    def update_invoice(self, invoice_id: str, params: Mapping[str, Any], *, idempotency_key: str) -> StripeInvoiceView:
        self._enter()
        return self._inner.update_invoice(invoice_id, params, idempotency_key=idempotency_key)

    def remove_lines(
        self, invoice_id: str, lines: Sequence[tuple[str, str]], *, idempotency_key: str
    ) -> StripeInvoiceView:
        self._enter()
        return self._inner.remove_lines(invoice_id, lines, idempotency_key=idempotency_key)

    def create_invoice_item(self, params: Mapping[str, Any], *, idempotency_key: str) -> None:
        self._enter()
        self._inner.create_invoice_item(params, idempotency_key=idempotency_key)

    def finalize_invoice(self, invoice_id: str, *, idempotency_key: str) -> StripeInvoiceView:
        self._enter()
        return self._inner.finalize_invoice(invoice_id, idempotency_key=idempotency_key)

    def void_invoice(self, invoice_id: str, *, idempotency_key: str) -> StripeInvoiceView:
        self._enter()
        return self._inner.void_invoice(invoice_id, idempotency_key=idempotency_key)

    def delete_invoice(self, invoice_id: str) -> None:
        self._enter()
        self._inner.delete_invoice(invoice_id)


@dataclass
class Harness:
    double: StripeDouble
    clock: ManualClock
    store: InMemoryStore = field(default_factory=InMemoryStore)
    slept: list[float] = field(default_factory=list)
    max_network_retries: int = 2

    def __post_init__(self) -> None:
        client = stripe_client(
            TEST_API_KEY,
            api_base=self.double.url,
            max_network_retries=self.max_network_retries,
            retry_delay=lambda retry: 0.0,  # the SDK's retry decisions stay real; its pauses are zero
            timeout=10.0,
        )
        self.gateway = StripeGateway(client)
        self.stripe = CrashingStripe(self.gateway)
        self.deps = StripeSyncDependencies(
            store=self.store, stripe=self.stripe, clock=self.now, sleep=self.sleep, jitter=lambda: 0.5
        )

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.clock.advance(seconds)

    def add_customer(self, customer_id: str = "cust_acme", **stripe: Any) -> None:
        raw = {
            "billing_provider": "stripe",
            "delivery_method": "direct_to_billing_provider",
            "configuration": {"stripe_customer_id": STRIPE_CUSTOMER, **stripe},
        }
        self.store.customers.pop(customer_id, None)
        self.store.create_customer(customer(customer_id, provider_configuration(raw, default=True)))

    def save_invoice(self, **overrides: Any) -> str:
        detail_type = overrides.pop("detail_type", None)
        invoice = InvoiceEvent.model_validate(invoice_event(detail_type, **overrides)).detail
        self.store.save_invoice(invoice, self.now())
        return invoice.id

    def deliver(self, invoice_id: str, action: str = "sync", version: int = 0) -> StripeSyncResult:
        message = StripeSyncMessage(invoice_id=invoice_id, version=version, action=action)
        return sync_stripe_invoice(message, self.deps)

    def stripe_invoices(self, invoice_id: str) -> list[dict[str, Any]]:
        return [i for i in self.double.invoices() if i["metadata"].get(METADATA_INVOICE_ID) == invoice_id]

    def only_stripe_invoice(self, invoice_id: str) -> dict[str, Any]:
        found = self.stripe_invoices(invoice_id)
        assert len(found) == 1, f"{len(found)} Stripe invoices for {invoice_id}"
        return found[0]


@contextmanager
def harness(*, seed: int = 7, **options: Any) -> Iterator[Harness]:
    clock = ManualClock()
    with StripeDouble(clock=clock, seed=seed) as double:
        double.add_customer(STRIPE_CUSTOMER)
        yield Harness(double=double, clock=clock, **options)


def lines(count: int, *, products: int | None = None, total: str = "1.00") -> list[dict[str, Any]]:
    """`count` line items; with `products`, spread round-robin over that many products."""
    return [
        {
            "id": f"li_{index}",
            "name": f"Usage {index}",
            "product_id": f"prod_{index % products if products else index}",
            "quantity": "1",
            "unit_price": total,
            "total": total,
        }
        for index in range(count)
    ]
