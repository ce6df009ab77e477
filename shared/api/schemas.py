"""Response bodies of the API (DESIGN §4, §4a) and the one error shape.

Amounts are decimal strings (lifetime billings at the currency's precision); timestamps are
`YYYY-MM-DDTHH:MM:SSZ`. These models are what the OpenAPI document shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from shared.domain.audit import AuditEntry
from shared.domain.customers import Contract, Customer
from shared.domain.invoice import Invoice
from shared.domain.invoice_listing import InvoiceListing
from shared.domain.money import at_least_minor_units, format_amount
from shared.domain.products import Product
from shared.domain.providers import ProviderConfiguration
from shared.domain.sync import SyncRecord
from shared.domain.timestamps import format_timestamp
from shared.domain.types import CustomFields, DecimalString, Timestamp


class _View(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)


class ErrorBody(_View):
    message: str
    field: str | None = Field(description="dotted path of the offending field (`a.0.b`), or null")


def error_responses(*statuses: int) -> dict[int, Any]:
    """The `responses=` of a route: 200 with the route's return model, each error with the error body."""
    descriptions = {
        400: "Invalid request (validation); `field` names the field",
        401: "Missing or invalid bearer token",
        404: "Not found; `field` names a body id that does not exist",
        409: "Conflict with what is stored",
        413: "The request body is larger than 1 MiB",
        502: "A marketplace refused a step (the message says which); nothing was written",
    }
    errors: dict[int, Any] = {
        status: {"description": descriptions[status], "content": {"application/json": {"model": ErrorBody}}}
        for status in statuses
    }
    return {200: {"description": "Success"}, **errors}


class CustomerView(_View):
    id: str
    name: str
    custom_fields: dict[str, str]
    billing_provider_configurations: list[ProviderConfiguration]
    lifetime_billings: dict[str, str] = Field(description='Σ FINALIZED invoice totals per currency, {"USD": "300.35"}')
    created_at: Timestamp

    @classmethod
    def of(cls, customer: Customer) -> CustomerView:
        return cls(
            id=customer.id,
            name=customer.name,
            custom_fields=dict(customer.custom_fields),
            billing_provider_configurations=list(customer.billing_provider_configurations),
            lifetime_billings={
                currency: format_amount(amount, currency)
                for currency, amount in sorted(customer.lifetime_billings.items())
            },
            created_at=customer.created_at,
        )


class CustomerData(_View):
    data: CustomerView


class CustomerPage(_View):
    data: list[CustomerView]
    next_page: str | None


class ContractData(_View):
    data: Contract


class ContractPage(_View):
    data: list[Contract]
    next_page: str | None


class ContractUpdateData(_View):
    data: Contract
    warnings: list[str] = Field(
        description="what the caller should know about the change, e.g. that finalized invoices stay unchanged"
    )


class ProductView(_View):
    id: str
    name: str
    custom_fields: dict[str, str]
    created_at: Timestamp

    @classmethod
    def of(cls, product: Product) -> ProductView:
        return cls(**product.model_dump())


class ProductData(_View):
    data: ProductView


class InvoiceLineView(_View):
    """A line item as invoice responses show it: without its hourly `buckets` (they are kept for
    usage breakdowns, and a month of them would not fit a response)."""

    id: str
    name: str
    product_id: str | None
    quantity: DecimalString
    unit_price: DecimalString | None
    total: DecimalString
    custom_fields: CustomFields
    product_custom_fields: dict[str, str] = Field(
        description="the custom fields of the product the line names; {} without a product_id or for an unknown product"
    )


class InvoiceView(Invoice):
    line_items: list[InvoiceLineView]  # type: ignore[assignment]
    line_items_uri: SkipJsonSchema[None] = Field(default=None, exclude=True)  # never stored: not shown
    line_items_count: int = Field(description="how many line items the invoice has")
    line_items_truncated: bool = Field(
        description="true when `line_items` shows only the first of them (invoice lists do, to stay small); "
        "GET the invoice itself for all of them"
    )

    @classmethod
    def of(
        cls,
        invoice: Invoice,
        line_items_count: int | None = None,
        product_fields: Mapping[str, Mapping[str, str]] | None = None,
    ) -> InvoiceView:
        """The stored invoice, amounts shown with at least the currency's minor units (DESIGN §4a:
        "7.5" EUR → "7.50", "100" USD → "100.00"); the extra digits §2 allows on `subtotal` and
        line totals stay, and nothing is rounded. `line_items_count` is the invoice's own count
        when `invoice` holds only its first lines (a list item). `product_fields` holds the custom
        fields of the products the lines name (by product id)."""
        products = product_fields or {}
        currency = invoice.currency

        def amount(value: Decimal | None) -> Decimal | None:
            return None if value is None else at_least_minor_units(value, currency)

        lines = [
            InvoiceLineView(
                **{
                    **line.model_dump(exclude={"buckets"}),
                    "unit_price": amount(line.unit_price),
                    "total": amount(line.total),
                },
                product_custom_fields=dict(products.get(line.product_id, {})) if line.product_id else {},
            )
            for line in invoice.line_items
        ]
        count = len(lines) if line_items_count is None else line_items_count
        credits = [{**credit.model_dump(), "amount": amount(credit.amount)} for credit in invoice.applied_credits]
        return cls(
            **{
                **invoice.model_dump(exclude={"line_items_uri"}),
                "subtotal": amount(invoice.subtotal),
                "total": amount(invoice.total),
                "line_items": lines,
                "applied_credits": credits,
                "line_items_count": count,
                "line_items_truncated": count > len(lines),
            }
        )

    @classmethod
    def of_listing(
        cls, listing: InvoiceListing, product_fields: Mapping[str, Mapping[str, str]] | None = None
    ) -> InvoiceView:
        return cls.of(listing.invoice, listing.line_items_count, product_fields)


class InvoiceDetailView(InvoiceView):
    """One invoice read by its id: with its provider's own status (lists leave it out: one more read each)."""

    provider_status: str | None = Field(
        default=None,
        description="the billing provider's own status of the invoice, as its sync status shows it; null until"
        " the provider reports",
    )
    provider_status_at: Timestamp | None = Field(
        default=None, description="when the provider made the newest event applied to `provider_status`"
    )


class InvoiceData(_View):
    data: InvoiceDetailView


class InvoicePage(_View):
    data: list[InvoiceView]
    next_page: str | None


class SyncData(_View):
    data: SyncRecord


class AuditEntryView(_View):
    id: str
    timestamp: str = Field(description="YYYY-MM-DDTHH:MM:SSZ")
    actor: str = Field(description="a stable, non-secret id of the bearer token")
    action: str
    resource_type: str
    resource_id: str | None
    status_code: int
    ip_address: str | None
    user_agent: str | None
    event_id: str | None = Field(
        default=None,
        description="the marketplace event that made the change (AWS event or SNS message id, Azure operation id);"
        " null for API calls",
    )

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditEntryView:
        return cls(
            **entry.model_dump(exclude={"timestamp"}),
            timestamp=format_timestamp(entry.timestamp.replace(microsecond=0)),
        )


class AuditPage(_View):
    data: list[AuditEntryView]
    next_page: str | None
