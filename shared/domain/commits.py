"""Commits and credits: money a customer may spend, in segments (its access schedule).

A commit (`type` PREPAID or POSTPAID) and a credit (no type) are the same thing to the ledger;
`kind` tells them apart. Each segment is a grant of `amount` usable from `starting_at` (inclusive)
to `ending_before` (exclusive). Status and balances: `shared.domain.ledger` and docs/ledger.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.domain.money import check_currency, is_at_currency_precision
from shared.domain.types import BoundedInt, CustomFields, Identifier, Name, NonNegativeDecimal, Timestamp
from shared.domain.validation import invalid_field

CommitKind = Literal["commit", "credit"]
CommitType = Literal["PREPAID", "POSTPAID"]
CommitStatus = Literal["upcoming", "active", "expired", "voided", "pending"]
KINDS: tuple[CommitKind, ...] = ("commit", "credit")
MAX_SEGMENTS = 100
MAX_PRODUCT_IDS = 100
MAX_UNIQUENESS_KEY = 128
UniquenessKey = Annotated[Identifier, Field(max_length=MAX_UNIQUENESS_KEY)]


class Segment(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    id: Identifier
    amount: NonNegativeDecimal
    starting_at: Timestamp
    ending_before: Timestamp

    def active_at(self, moment: datetime) -> bool:
        return self.starting_at <= moment < self.ending_before


class Commit(BaseModel):
    """A commit or a credit as stored: its segments carry their ids (the grant entries' segments)."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    id: Identifier
    kind: CommitKind
    customer_id: Identifier
    contract_id: Identifier | None = None
    type: CommitType | None = None
    name: Name
    priority: BoundedInt | None = None
    currency: str
    segments: Annotated[list[Segment], Field(min_length=1, max_length=MAX_SEGMENTS)]
    applicable_product_ids: Annotated[list[Identifier], Field(max_length=MAX_PRODUCT_IDS)] = Field(default_factory=list)
    custom_fields: CustomFields = Field(default_factory=dict)
    uniqueness_key: UniquenessKey | None = None
    invoice_id: Identifier | None = None
    # Set on the commits a contract's recurring item generates (one per period).
    recurring_commit_id: Identifier | None = None
    created_at: Timestamp

    @model_validator(mode="after")
    def _consistent(self) -> Commit:
        check_currency(self.currency)
        if (self.kind == "commit") != (self.type is not None):
            raise invalid_field("type", "a commit has a type (PREPAID or POSTPAID); a credit has none")
        for index, segment in enumerate(self.segments):
            if not is_at_currency_precision(segment.amount, self.currency):
                raise invalid_field(f"segments.{index}.amount", f"has more digits than {self.currency} allows")
        return self

    def segment(self, segment_id: str) -> Segment | None:
        return next((segment for segment in self.segments if segment.id == segment_id), None)

    def active_segments(self, moment: datetime) -> list[Segment]:
        """The segments usable at `moment`, earliest-ending first (the order drawdowns take them)."""
        active = [segment for segment in self.segments if segment.active_at(moment)]
        return sorted(active, key=lambda segment: (segment.ending_before, segment.starting_at, segment.id))

    def status(self, now: datetime, invoice_status: str | None) -> CommitStatus:
        """`voided` / `pending` by the billing invoice's state first (when `invoice_id` names one:
        pending until it is FINALIZED, voided once VOID); else by the segments at `now`."""
        if self.invoice_id is not None:
            if invoice_status == "VOID":
                return "voided"
            if invoice_status != "FINALIZED":
                return "pending"
        if any(segment.active_at(now) for segment in self.segments):
            return "active"
        if any(segment.starting_at > now for segment in self.segments):
            return "upcoming"
        return "expired"


@dataclass(frozen=True)
class CommitQuery:
    """Which of a customer's commits and credits a list keeps."""

    kind: CommitKind | None = None  # None: both
    contract_id: str | None = None

    def matches(self, commit: Commit) -> bool:
        return (self.kind is None or commit.kind == self.kind) and (
            self.contract_id is None or commit.contract_id == self.contract_id
        )
