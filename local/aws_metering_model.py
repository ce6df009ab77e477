"""AWS Marketplace Metering's rules for `BatchMeterUsage`, without HTTP (see local/aws_metering_double.py).

What it follows (botocore's service model `meteringmarketplace/2016-01-14/service-2.json`, the
shapes `BatchMeterUsageRequest`, `UsageRecord`, `UsageRecordResult`, `UsageRecordList` and the
operation's errors; paraphrased, nothing copied):

- at most 25 `UsageRecords` a call; `Timestamp` and `Dimension` required; `Quantity` 0..2^31-1;
- legacy records carry `CustomerIdentifier` and the request a `ProductCode`; licence-based
  records carry `CustomerAWSAccountId` + `LicenseArn` and the request no `ProductCode` (sending
  both bills twice, so the double refuses it outright);
- a record is accepted until 24 hours after its timestamp, and a previous month's record only
  until 06:00 UTC on the 1st; one record out of range refuses the whole call
  (`TimestampOutOfBoundsException`). A timestamp more than five minutes ahead of the clock is out
  of range too (AWS documents no future tolerance; five minutes is the double's choice);
- per record `Status`: `Success` (with a `MeteringRecordId`), `CustomerNotSubscribed`,
  `DuplicateRecord` (an earlier record of that customer, dimension and hour had another
  quantity); an identical record again is `Success` with the original `MeteringRecordId`
  ("identical requests are idempotent and can be retried with the same records or a subset");
- whole-call refusals: `InvalidProductCodeException` (unknown product),
  `InvalidUsageDimensionException`, `InvalidLicenseException` (a licence the double does not hold,
  or held for another account).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

JSON = dict[str, Any]
MAX_RECORDS = 25
MAX_QUANTITY = 2_147_483_647
WINDOW = timedelta(hours=24)
INVALID_LICENSE = (
    "Ensure the LicenseArn is valid, matches the customer, and usage is within the license activation period."
)
MONTH_END_GRACE = timedelta(hours=6)
FUTURE_TOLERANCE = timedelta(minutes=5)


class AwsError(Exception):
    """A whole-call refusal: HTTP status, error code (`__type`) and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def body(self) -> JSON:
        return {"__type": self.code, "message": self.message}


def validation(message: str) -> AwsError:
    return AwsError(400, "ValidationException", message)


@dataclass
class Product:
    code: str
    dimensions: set[str] = field(default_factory=lambda: {"usage_fee"})


@dataclass
class Subscriber:
    """A buyer: legacy (`customer_identifier`) or licence-based (`account_id` + `license_arn`)."""

    product_code: str
    customer_identifier: str | None = None
    account_id: str | None = None
    license_arn: str | None = None
    active: bool = True


@dataclass
class MeteredRecord:
    """One record the double accepted: what a reconciliation or an assertion reads back."""

    metering_record_id: str
    region: str
    product_code: str
    customer: str  # CustomerIdentifier, or "<account id> <licence ARN>"
    dimension: str
    timestamp: str  # ISO 8601 UTC, as sent
    hour: str  # the UTC hour it counts against
    quantity: int
    accepted_at: str

    def to_json(self) -> JSON:
        return asdict(self)


def in_window(timestamp: datetime, now: datetime) -> bool:
    """AWS's window: 24 hours after the timestamp, and a previous month only until 06:00 on the 1st."""
    if timestamp > now + FUTURE_TOLERANCE or now - timestamp >= WINDOW:
        return False
    if (timestamp.year, timestamp.month) != (now.year, now.month):
        return now < now.replace(day=1, hour=0, minute=0, second=0, microsecond=0) + MONTH_END_GRACE
    return True


class MeteringModel:
    """Products, buyers and metered records. Not thread-safe: the double locks around it."""

    def __init__(self, clock: Callable[[], float], *, auto_subscribe: bool = False) -> None:
        self.clock = clock
        # The local stack's customers name AWS ids the double has never seen: with auto_subscribe
        # every product, customer and licence is taken as subscribed on first sight.
        self.auto_subscribe = auto_subscribe
        self.reset()

    def reset(self) -> None:
        self.products: dict[str, Product] = {}
        self.subscribers: list[Subscriber] = []
        self.records: dict[tuple[str, str, str, str], MeteredRecord] = {}  # (product, customer, dimension, hour)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    # -- seeding ------------------------------------------------------------------------------

    def add_product(self, code: str, dimensions: set[str] | None = None) -> Product:
        product = self.products.get(code) or Product(code)
        if dimensions is not None:
            product.dimensions = set(dimensions)
        self.products[code] = product
        return product

    def subscribe(self, subscriber: Subscriber) -> None:
        self.add_product(subscriber.product_code)
        self.subscribers = [s for s in self.subscribers if not _same_buyer(s, subscriber)]
        self.subscribers.append(subscriber)

    # -- BatchMeterUsage ----------------------------------------------------------------------

    def batch_meter_usage(self, payload: JSON, region: str) -> JSON:
        records = payload.get("UsageRecords")
        if not isinstance(records, list):
            raise validation(
                "1 validation error detected: Value null at 'usageRecords' failed to satisfy constraint: "
                "Member must not be null"
            )
        if len(records) > MAX_RECORDS:
            raise validation(
                f"1 validation error detected: Value '{len(records)}' at 'usageRecords' failed to satisfy "
                f"constraint: Member must have length less than or equal to {MAX_RECORDS}"
            )
        product_code = payload.get("ProductCode")
        parsed = [self._parse(record, index) for index, record in enumerate(records)]
        licence_based = {record["LicenseArn"] is not None for record in parsed}
        if len(licence_based) > 1:
            raise validation(
                "UsageRecords must all use CustomerIdentifier or all use CustomerAWSAccountId with LicenseArn."
            )
        if True in licence_based and product_code:
            raise validation(
                "ProductCode must not be sent with LicenseArn records: the LicenseArn identifies the product."
            )
        if False in licence_based and not product_code:
            raise validation("ProductCode is required for records that carry CustomerIdentifier.")
        now = self.now()
        if any(not in_window(record["at"], now) for record in parsed):
            raise AwsError(
                400,
                "TimestampOutOfBoundsException",
                "The timestamp value passed in the UsageRecord is out of allowed range.",
            )
        products = {self._product_of(record, product_code) for record in parsed}
        for code in products:
            product = self._product(code)
            for record in parsed:
                if record["Dimension"] not in product.dimensions:
                    raise AwsError(
                        400,
                        "InvalidUsageDimensionException",
                        "The usage dimension does not match one of the UsageDimensions associated with products.",
                    )
        results = [self._meter(record, str(product_code or ""), region, now) for record in parsed]
        return {"Results": results, "UnprocessedRecords": []}

    def _parse(self, record: Any, index: int) -> JSON:
        if not isinstance(record, dict):
            raise validation(f"UsageRecords.{index} must be a structure.")
        if "Timestamp" not in record or not isinstance(record["Timestamp"], int | float):
            raise validation(
                f"1 validation error detected: Value null at 'usageRecords.{index + 1}.member.timestamp' "
                "failed to satisfy constraint: Member must not be null"
            )
        dimension = record.get("Dimension")
        if not isinstance(dimension, str) or not 1 <= len(dimension) <= 255:
            raise validation(
                f"1 validation error detected: Value at 'usageRecords.{index + 1}.member.dimension' "
                "failed to satisfy constraint: Member must have length between 1 and 255"
            )
        quantity = record.get("Quantity", 0)
        if not isinstance(quantity, int) or not 0 <= quantity <= MAX_QUANTITY:
            raise validation(
                f"1 validation error detected: Value '{quantity}' at 'usageRecords.{index + 1}.member.quantity' "
                f"failed to satisfy constraint: Member must be between 0 and {MAX_QUANTITY}"
            )
        legacy = record.get("CustomerIdentifier")
        account, licence = record.get("CustomerAWSAccountId"), record.get("LicenseArn")
        if legacy is not None and (account is not None or licence is not None):
            raise validation(
                f"UsageRecords.{index}: CustomerIdentifier cannot be combined with CustomerAWSAccountId or LicenseArn."
            )
        if legacy is None and (account is None or licence is None):
            raise validation(f"UsageRecords.{index}: send CustomerIdentifier, or CustomerAWSAccountId with LicenseArn.")
        try:
            at = datetime.fromtimestamp(float(record["Timestamp"]), UTC)
        except (OverflowError, OSError, ValueError):
            raise validation(f"UsageRecords.{index}: Timestamp {record['Timestamp']!r} is not a time.") from None
        return {
            "raw": record,
            "at": at,
            "Dimension": dimension,
            "Quantity": quantity,
            "CustomerIdentifier": legacy,
            "CustomerAWSAccountId": account,
            "LicenseArn": licence,
        }

    def _product_of(self, record: JSON, product_code: Any) -> str:
        if record["LicenseArn"] is None:
            return str(product_code)
        holder = self._licence(record["LicenseArn"], record["CustomerAWSAccountId"])
        return holder.product_code

    def _product(self, code: str) -> Product:
        product = self.products.get(code)
        if product is None and self.auto_subscribe:
            product = self.add_product(code)
        if product is None:
            raise AwsError(
                400,
                "InvalidProductCodeException",
                "The product code passed does not match the product code used for publishing the product.",
            )
        return product

    def _licence(self, licence_arn: str, account_id: str) -> Subscriber:
        for subscriber in self.subscribers:
            if subscriber.license_arn == licence_arn:
                if subscriber.account_id != account_id:
                    raise AwsError(
                        400,
                        "InvalidLicenseException",
                        INVALID_LICENSE,
                    )
                return subscriber
        if self.auto_subscribe:
            subscriber = Subscriber(
                product_code=f"prod-{licence_arn.rsplit('/', 1)[-1]}", account_id=account_id, license_arn=licence_arn
            )
            self.subscribe(subscriber)
            return subscriber
        raise AwsError(
            400,
            "InvalidLicenseException",
            INVALID_LICENSE,
        )

    def _subscribed(self, record: JSON, product_code: str) -> bool:
        if record["LicenseArn"] is not None:
            return self._licence(record["LicenseArn"], record["CustomerAWSAccountId"]).active
        for subscriber in self.subscribers:
            if (
                subscriber.customer_identifier == record["CustomerIdentifier"]
                and subscriber.product_code == product_code
            ):
                return subscriber.active
        if self.auto_subscribe:
            self.subscribe(Subscriber(product_code=product_code, customer_identifier=record["CustomerIdentifier"]))
            return True
        return False

    def _meter(self, record: JSON, product_code: str, region: str, now: datetime) -> JSON:
        echo = dict(record["raw"])
        if not self._subscribed(record, product_code):
            return {"UsageRecord": echo, "Status": "CustomerNotSubscribed"}
        customer = record["CustomerIdentifier"] or f"{record['CustomerAWSAccountId']} {record['LicenseArn']}"
        product = self._product_of(record, product_code)
        hour = record["at"].replace(minute=0, second=0, microsecond=0)
        key = (product, customer, record["Dimension"], hour.isoformat())
        held = self.records.get(key)
        if held is not None:
            if held.quantity == record["Quantity"]:
                return {"UsageRecord": echo, "MeteringRecordId": held.metering_record_id, "Status": "Success"}
            return {"UsageRecord": echo, "Status": "DuplicateRecord"}
        metered = MeteredRecord(
            metering_record_id=_record_id(),
            region=region,
            product_code=product,
            customer=customer,
            dimension=record["Dimension"],
            timestamp=record["at"].isoformat(),
            hour=hour.isoformat(),
            quantity=record["Quantity"],
            accepted_at=now.isoformat(),
        )
        self.records[key] = metered
        return {"UsageRecord": echo, "MeteringRecordId": metered.metering_record_id, "Status": "Success"}


def _same_buyer(a: Subscriber, b: Subscriber) -> bool:
    if a.license_arn is not None or b.license_arn is not None:
        return a.license_arn == b.license_arn
    return (a.customer_identifier, a.product_code) == (b.customer_identifier, b.product_code)


def _record_id() -> str:
    raw = secrets.token_hex(16)
    return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"
