"""The invoice as upstream rating sends it (docs/architecture.md, docs/bounds.md), validated.

Amounts arrive as decimal strings in major units and are held as `Decimal`; timestamps are
RFC 3339 with an offset and are held as aware UTC datetimes; the service period's end is
exclusive. Unknown keys are ignored so the upstream producer can add fields without breaking us.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.domain.money import is_at_currency_precision, round_to_currency
from shared.domain.timestamps import last_service_date
from shared.domain.types import (
    BoundedInt,
    ClaimCheckUri,
    CurrencyCode,
    CustomFields,
    DecimalString,
    Identifier,
    Name,
    NonNegativeDecimal,
    Timestamp,
    visible_name,
)
from shared.domain.validation import invalid_field, shown, text_is_unicode

InvoiceStatus = Literal["DRAFT", "FINALIZED", "VOID"]
InvoiceType = Literal["USAGE", "SCHEDULED"]
DetailType = Literal["invoice.finalized", "invoice.updated", "invoice.voided"]

STATUS_FOR_DETAIL_TYPE: dict[str, InvoiceStatus] = {
    "invoice.finalized": "FINALIZED",
    "invoice.updated": "DRAFT",
    "invoice.voided": "VOID",
}
DETAIL_TYPES = tuple(STATUS_FOR_DETAIL_TYPE)
MAX_LINE_ITEMS = 10_000
# The router writes one drawdown item per applied commit or credit in the invoice's transaction,
# and deletes the previous version's: 2 x 45 leaves 10 of DynamoDB's 100 items per transaction for
# the invoice, its customer and whatever else that transaction keeps in step with the invoice.
MAX_APPLIED_CREDITS = 45


class _EventModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)


class UsageBucket(_EventModel):
    starting_at: Timestamp
    ending_before: Timestamp
    quantity: DecimalString
    total: DecimalString

    @model_validator(mode="after")
    def _window_is_forward(self) -> UsageBucket:
        if self.ending_before <= self.starting_at:
            raise invalid_field("ending_before", "must be after starting_at")
        return self


class LineItem(_EventModel):
    id: Identifier
    name: Annotated[str, Field(min_length=1, max_length=500), AfterValidator(visible_name)]
    product_id: Identifier | None = None
    quantity: DecimalString
    unit_price: DecimalString | None = None
    total: DecimalString
    custom_fields: CustomFields = Field(default_factory=dict)
    buckets: list[UsageBucket] = Field(default_factory=list)

    @field_validator("quantity")
    @classmethod
    def _quantity_not_negative(cls, value: Decimal) -> Decimal:
        if value < 0:
            raise ValueError("must not be negative")
        return value


class AppliedCredit(_EventModel):
    id: Identifier
    type: Annotated[str, Field(min_length=1, max_length=64)]
    amount: NonNegativeDecimal  # an applied credit reduces the total
    name: Name | None = None


class Invoice(_EventModel):
    id: Identifier
    customer_id: Identifier
    contract_id: Identifier | None
    type: InvoiceType
    status: InvoiceStatus
    currency: CurrencyCode
    start_timestamp: Timestamp
    end_timestamp: Timestamp
    issued_at: Timestamp
    subtotal: NonNegativeDecimal
    total: NonNegativeDecimal
    line_items: Annotated[list[LineItem], Field(max_length=MAX_LINE_ITEMS)]
    # A claim check: the lines are in this S3 object (`line_items` is then `[]`); the router reads
    # them into `line_items`, so a stored invoice never has one (shared/domain/claim_check.py).
    line_items_uri: ClaimCheckUri | None = None
    applied_credits: Annotated[list[AppliedCredit], Field(max_length=MAX_APPLIED_CREDITS)] = Field(default_factory=list)
    custom_fields: CustomFields = Field(default_factory=dict)
    version: BoundedInt

    @model_validator(mode="before")
    @classmethod
    def _unicode(cls, data: object) -> object:
        # JSON can carry a lone surrogate, which neither the store nor a log line can hold.
        return text_is_unicode(data)

    @model_validator(mode="before")
    @classmethod
    def _claim_check_without_lines(cls, data: object) -> object:
        # A claim check may leave `line_items` out rather than send it empty: the lines are elsewhere.
        if isinstance(data, dict) and "line_items" not in data and data.get("line_items_uri") is not None:
            return {**data, "line_items": []}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Invoice:
        if self.end_timestamp <= self.start_timestamp:
            raise invalid_field("end_timestamp", "must be after start_timestamp (the end is exclusive)")
        if not is_at_currency_precision(self.total, self.currency):
            raise invalid_field("total", f"{self.total} has more digits than {self.currency} allows")
        if self.line_items_uri is not None and self.line_items:
            raise invalid_field(
                "line_items_uri",
                "a claim check comes with line_items: [] (the lines are in the object), not with lines",
            )
        seen: set[str] = set()
        for index, line in enumerate(self.line_items):
            if line.id in seen:
                raise invalid_field(f"line_items.{index}.id", f"duplicate line item id {line.id!r}")
            seen.add(line.id)
        return self

    @property
    def last_service_date(self) -> date:
        return last_service_date(self.end_timestamp)

    @property
    def expected_total(self) -> Decimal:
        """`subtotal` at the currency's precision minus the applied credits."""
        credits = sum((credit.amount for credit in self.applied_credits), Decimal(0))
        return round_to_currency(self.subtotal, self.currency) - credits


class InvoiceEvent(_EventModel):
    """The parts of the EventBridge envelope downbeat reads, with the invoice as `detail`."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True, defer_build=True)

    id: str | None = None
    source: Literal["downbeat.billing"]
    detail_type: DetailType = Field(alias="detail-type")
    time: str | None = None
    detail: Invoice

    @field_validator("detail_type", mode="before")
    @classmethod
    def _known_detail_type(cls, value: object) -> object:
        # The router's rule takes every downbeat.billing event, so a renamed or new detail-type
        # arrives here; the reason names it and what we accept, for whoever reads the DLQ.
        if value not in DETAIL_TYPES:  # a tuple: an unhashable value must not raise TypeError
            raise ValueError(f"unknown detail-type {shown(value)}: accepted are {', '.join(DETAIL_TYPES)}")
        return value

    @model_validator(mode="after")
    def _status_matches_detail_type(self) -> InvoiceEvent:
        expected = STATUS_FOR_DETAIL_TYPE[self.detail_type]
        if self.detail.status != expected:
            raise invalid_field(
                "detail.status",
                f"{self.detail.status} does not match detail-type {self.detail_type} ({expected})",
            )
        return self
