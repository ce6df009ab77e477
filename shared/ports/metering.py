"""What a marketplace's metering API does for the marketplace meter.

Two implementations: `shared.adapters.aws_metering` (boto3 `meteringmarketplace`, BatchMeterUsage)
and `shared.adapters.azure_metering` (azure-identity + HTTPS, `POST /api/batchUsageEvent`); the
tests' in-memory fake is `tests/fakes/marketplace_metering.py`, and `local/` serves doubles of
both wire protocols on loopback.

The meter decides what to send (one record per buyer, dimension and UTC hour, stamped at the
hour's start, inside the provider's window, at most `max_records` per call and, for AWS, one
product and one identifier style per call); an implementation only sends one call and reports
each record's outcome. It never drops a record silently: every record sent comes back with an
outcome, `unprocessed` included.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import date, datetime
    from decimal import Decimal

MarketplaceProvider = Literal["aws_marketplace", "azure_marketplace"]


@dataclass(frozen=True)
class AwsBuyer:
    """An AWS Marketplace buyer: licence-based (account id + licence ARN) or legacy (customer id)."""

    product_code: str
    region: str
    customer_identifier: str | None = None  # legacy: `CustomerIdentifier` + the call's `ProductCode`
    customer_aws_account_id: str | None = None  # with `license_arn`: no `ProductCode` on the call
    license_arn: str | None = None

    @property
    def licence_based(self) -> bool:
        return self.customer_aws_account_id is not None and self.license_arn is not None


@dataclass(frozen=True)
class AzureBuyer:
    """An Azure Marketplace SaaS subscription (its resource id) on a plan."""

    resource_id: str
    plan_id: str


Buyer = AwsBuyer | AzureBuyer


@dataclass(frozen=True)
class UsageRecord:
    record_id: str  # ours, stable per (provider, customer, dimension, hour): the outcome names it
    buyer: Buyer
    dimension: str  # "usage_fee"
    timestamp: datetime  # the UTC hour's start, fixed before the first send
    quantity: int  # whole units (cents for usage_fee), 1..max_quantity


RecordState = Literal["accepted", "duplicate", "not_subscribed", "expired", "failed", "unprocessed"]


@dataclass(frozen=True)
class RecordOutcome:
    """What the provider said about one record.

    - `accepted`: metered (AWS `Success`; Azure `Accepted`, or `Duplicate` of the same quantity);
      `receipt` is the `MeteringRecordId` / `usageEventId`.
    - `duplicate`: the provider already holds a different record for that buyer, dimension and hour
      (AWS `DuplicateRecord`, Azure `Duplicate` of another quantity): a conflict, never success.
    - `not_subscribed`: AWS `CustomerNotSubscribed`; Azure `ResourceNotFound` / `ResourceNotActive`
      / `ResourceNotAuthorized`.
    - `expired`: outside the provider's time window.
    - `failed`: any other per-record refusal; permanent.
    - `unprocessed`: not processed this time (AWS `UnprocessedRecords`): send it again.
    `reason` carries the provider's own words for every state but `accepted`.
    """

    record_id: str
    state: RecordState
    receipt: str | None = None
    reason: str | None = None


class MarketplaceMetering(Protocol):
    provider: MarketplaceProvider
    max_records: int  # per call (25 for both)
    max_quantity: int  # per record

    def meter(self, records: Sequence[UsageRecord]) -> list[RecordOutcome]:
        """Send one call with `records` and return one outcome per record, in order.

        (AWS's adapter sends more than one only when AWS refuses the whole call for one record it
        does not name: it resends halves, which AWS deduplicates, to settle that record alone.)

        Raises `shared.ports.errors.RetryableError` when the call as a whole may be retried
        (throttling, 5xx, timeouts: the provider may already have applied it, so the retry must
        send the identical records), `PermanentError` when it is refused as a whole (for example
        records of two AWS products in one call).
        """
        ...


@dataclass(frozen=True)
class ProviderUsageDay:
    """What a marketplace holds for one resource, dimension and UTC day (Azure's `usageEvents` row)."""

    resource_id: str
    dimension: str
    day: date
    quantity: Decimal  # `submittedQuantity`
    events: int  # `submittedCount`


class UsageReadBack(Protocol):
    """Reading back what a marketplace holds (Azure's `GET /api/usageEvents`; AWS has no such API)."""

    def usage_days(self, start: datetime, dimension: str) -> list[ProviderUsageDay]:
        """One entry per resource and UTC day from `start` (its day included) until now."""
        ...
