"""An in-memory marketplace (`shared.ports.metering.MarketplaceMetering`) that behaves as the
providers document: at most 25 records a call, the time window (AWS refuses the whole call for one
record out of it; Azure answers per record), one record per buyer, dimension and hour (the same
quantity again is accepted with the first receipt; another quantity is a duplicate), buyers not
subscribed, records left unprocessed, and whole-call faults — among them a call the provider applied
and whose answer never arrived.

What it holds (`held`) is the ground truth the fault campaign checks the meter against.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from shared.domain.marketplace_metering import window_closes
from shared.ports.errors import PermanentError, RetryableError
from shared.ports.metering import AwsBuyer, AzureBuyer, Buyer, MarketplaceProvider, RecordOutcome, UsageRecord

Fault = Literal["throttle", "server_error", "timeout_before", "timeout_after_apply", "unprocessed", "crash_after_apply"]


class ProviderCrash(Exception):
    """A test's stand-in for the meter's process dying while a call is in flight."""


@dataclass
class HeldRecord:
    quantity: int
    receipt: str
    record_id: str


@dataclass
class FakeMarketplace:
    provider: MarketplaceProvider
    clock: Callable[[], datetime]
    max_records: int = 25
    max_quantity: int = 1_000_000
    not_subscribed: set[str] = field(default_factory=set)  # buyer labels (`buyer_key`)
    faults: list[Fault] = field(default_factory=list)  # consumed one per call, in order
    fault_for_call: Callable[[int], Fault | None] | None = None  # or decided per call number
    held: dict[tuple[str, str, datetime], HeldRecord] = field(default_factory=dict)
    calls: list[list[UsageRecord]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)  # each call as the wire would carry it
    _receipts: itertools.count[int] = field(default_factory=itertools.count)

    def meter(self, records: Sequence[UsageRecord]) -> list[RecordOutcome]:
        number = len(self.calls)
        self.calls.append(list(records))
        self.requests.append(self._request(records))
        self._check_call(records)
        fault = self.faults.pop(0) if self.faults else (self.fault_for_call(number) if self.fault_for_call else None)
        if fault == "throttle":
            raise RetryableError(f"{self.provider}: throttled", code="ThrottlingException")
        if fault == "server_error":
            raise RetryableError(f"{self.provider}: 500 internal error", code="InternalServiceErrorException")
        if fault == "timeout_before":
            raise RetryableError(f"{self.provider}: read timed out", code="timeout")
        now = self.clock()
        late = any(now >= window_closes(self.provider, record.timestamp) for record in records)
        if self.provider == "aws_marketplace" and late:
            raise PermanentError("aws_marketplace: TimestampOutOfBoundsException", code="TimestampOutOfBoundsException")
        outcomes = [
            RecordOutcome(record.record_id, "unprocessed", reason="UnprocessedRecords")
            if fault == "unprocessed" and index % 2 == 1
            else self._apply(record, now)
            for index, record in enumerate(records)
        ]
        if fault == "timeout_after_apply":
            raise RetryableError(f"{self.provider}: read timed out after the call was applied", code="timeout")
        if fault == "crash_after_apply":
            raise ProviderCrash("the meter died while its call was in flight")
        return outcomes

    def held_quantity(self, buyer: Buyer) -> int:
        key = buyer_key(buyer)
        return sum(held.quantity for (holder, _, _), held in self.held.items() if holder == key)

    def _check_call(self, records: Sequence[UsageRecord]) -> None:
        if not 1 <= len(records) <= self.max_records:
            raise PermanentError(f"{self.provider}: {len(records)} records in one call (1..{self.max_records})")
        for record in records:
            if not 1 <= record.quantity <= self.max_quantity:
                raise PermanentError(f"{self.provider}: quantity {record.quantity} out of range")
            if record.timestamp.minute or record.timestamp.second or record.timestamp.microsecond:
                raise PermanentError(f"{self.provider}: timestamp {record.timestamp} is not an hour's start")
        if self.provider == "aws_marketplace":
            styles = {_aws_call_style(record.buyer) for record in records}
            if len(styles) != 1:
                raise PermanentError(f"aws_marketplace: one call mixes products or identifier styles: {sorted(styles)}")
        keys = [(buyer_key(record.buyer), record.dimension, record.timestamp) for record in records]
        if len(set(keys)) != len(keys):
            raise PermanentError(f"{self.provider}: one call carries two records of one buyer, dimension and hour")

    def _apply(self, record: UsageRecord, now: datetime) -> RecordOutcome:
        key = (buyer_key(record.buyer), record.dimension, record.timestamp)
        if self.provider == "azure_marketplace" and now >= window_closes(self.provider, record.timestamp):
            return RecordOutcome(record.record_id, "expired", reason="Expired: usage event older than 24 hours")
        if key[0] in self.not_subscribed:
            reason = "CustomerNotSubscribed" if self.provider == "aws_marketplace" else "ResourceNotFound"
            return RecordOutcome(record.record_id, "not_subscribed", reason=reason)
        held = self.held.get(key)
        if held is not None:
            if held.quantity == record.quantity:
                return RecordOutcome(record.record_id, "accepted", receipt=held.receipt)
            reason = f"DuplicateRecord: {held.quantity} already metered for that hour"
            return RecordOutcome(record.record_id, "duplicate", reason=reason)
        receipt = f"{'mrid' if self.provider == 'aws_marketplace' else 'uev'}-{next(self._receipts):06d}"
        self.held[key] = HeldRecord(record.quantity, receipt, record.record_id)
        return RecordOutcome(record.record_id, "accepted", receipt=receipt)

    def _request(self, records: Sequence[UsageRecord]) -> dict[str, Any]:
        """The call as the real adapter would send it (AWS: `ProductCode` on legacy calls only)."""
        if self.provider == "azure_marketplace":
            events = [{"resourceId": getattr(r.buyer, "resource_id", None), "quantity": r.quantity} for r in records]
            return {"request": events}
        first = records[0].buyer if records else None
        request: dict[str, Any] = {"UsageRecords": [_aws_usage_record(r) for r in records]}
        if isinstance(first, AwsBuyer) and not first.licence_based:
            request["ProductCode"] = first.product_code
        return request


def buyer_key(buyer: Buyer) -> str:
    if isinstance(buyer, AzureBuyer):
        return f"azure:{buyer.resource_id}"
    if buyer.licence_based:
        return f"aws:{buyer.customer_aws_account_id}:{buyer.license_arn}"
    return f"aws:{buyer.product_code}:{buyer.customer_identifier}"


def _aws_call_style(buyer: Buyer) -> tuple[str, str, bool]:
    assert isinstance(buyer, AwsBuyer)
    return (buyer.region, buyer.product_code, buyer.licence_based)


def _aws_usage_record(record: UsageRecord) -> dict[str, Any]:
    buyer = record.buyer
    assert isinstance(buyer, AwsBuyer)
    identity = (
        {"CustomerAWSAccountId": buyer.customer_aws_account_id, "LicenseArn": buyer.license_arn}
        if buyer.licence_based
        else {"CustomerIdentifier": buyer.customer_identifier}
    )
    return {**identity, "Dimension": record.dimension, "Timestamp": record.timestamp, "Quantity": record.quantity}
