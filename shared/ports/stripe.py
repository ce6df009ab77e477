"""The Stripe port: the calls the Stripe worker makes, as plain data (no SDK types).

`shared/adapters/stripe_gateway.py` implements it with the official SDK; tests may hand the
service anything with these methods. Errors are `shared.ports.errors` types.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from shared.ports.errors import RetryableError


class StripeBackOff(RetryableError):
    """Back off with jitter, then hand the record back to its queue (DESIGN §3 "Errors")."""


class StripeRateLimited(StripeBackOff):
    """A 429 `rate_limit`: the SDK does not retry it (Stripe sends no Retry-After); we back off."""


class StripeConflict(StripeBackOff):
    """A 409 still failing once the SDK's own retries are spent; treated like a 429 `rate_limit`."""


class WebhookSignatureInvalid(Exception):
    """A webhook whose `Stripe-Signature` is missing, malformed, stale or made with no secret we hold."""


@dataclass(frozen=True)
class StripeInvoiceView:
    id: str
    status: str  # draft, open, paid, uncollectible, void
    customer: str
    currency: str
    total: int
    total_excluding_tax: int | None
    metadata: dict[str, str] = field(default_factory=dict)
    effective_at: int | None = None
    auto_advance: bool | None = None
    created: int | None = None  # Unix seconds
    attempted: bool | None = None  # whether Stripe has tried to collect it
    amount_remaining: int | None = None
    from_invoice: str | None = None  # the invoice this one revises (`from_invoice.invoice`)

    def amount(self, total_field: str) -> int:
        if total_field == "total_excluding_tax" and self.total_excluding_tax is not None:
            return self.total_excluding_tax
        return self.total


@dataclass(frozen=True)
class StripeLineView:
    id: str
    amount: int
    metadata: dict[str, str] = field(default_factory=dict)
    invoice_item: str | None = None


class StripeInvoices(Protocol):
    calls: int  # Stripe calls made through this gateway (not counting the SDK's own retries)

    def list_invoices(self, customer: str) -> list[StripeInvoiceView]:
        """Every invoice of the Stripe customer, all pages (a deleted draft is gone from Stripe's list)."""
        ...

    def find_invoices(self, customer: str, metadata_key: str, metadata_value: str) -> list[StripeInvoiceView]:
        """The customer's invoices whose metadata[key] == value (a list call, never search)."""
        ...

    def retrieve_invoice(self, invoice_id: str) -> StripeInvoiceView | None:
        """None when Stripe no longer has it (a deleted draft)."""
        ...

    def list_lines(self, invoice_id: str) -> list[StripeLineView]: ...

    def create_invoice(self, params: Mapping[str, Any], *, idempotency_key: str) -> StripeInvoiceView: ...

    def add_lines(
        self, invoice_id: str, lines: Sequence[Mapping[str, Any]], *, idempotency_key: str
    ) -> StripeInvoiceView: ...

    def update_invoice(self, invoice_id: str, params: Mapping[str, Any], *, idempotency_key: str) -> StripeInvoiceView:
        """Change a draft's own fields (metadata, description, effective_at)."""
        ...

    def remove_lines(
        self, invoice_id: str, lines: Sequence[tuple[str, str]], *, idempotency_key: str
    ) -> StripeInvoiceView:
        """Bulk-remove a draft's lines: (line id, `delete` | `unassign`) pairs."""
        ...

    def create_invoice_item(self, params: Mapping[str, Any], *, idempotency_key: str) -> None:
        """The fallback to `add_lines`: one invoice item made with `invoice=`."""
        ...

    def finalize_invoice(self, invoice_id: str, *, idempotency_key: str) -> StripeInvoiceView:
        """Finalize with `auto_advance: true` so Stripe collects as usual."""
        ...

    def void_invoice(self, invoice_id: str, *, idempotency_key: str) -> StripeInvoiceView: ...

    def delete_invoice(self, invoice_id: str) -> None:
        """Delete a draft; already gone is fine."""
        ...
