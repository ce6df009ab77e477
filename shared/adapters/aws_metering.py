"""AWS Marketplace metering: `BatchMeterUsage` through boto3's `meteringmarketplace` client.

One call per `meter()` (see below for the one exception), one client per buyer region, created
without an `endpoint_url`: boto3 reads `AWS_ENDPOINT_URL_MARKETPLACE_METERING` (else
`AWS_ENDPOINT_URL`) itself, which is how the local stack points it at its double. Every client is
wrapped by `aws_errors`, so throttling, 5xx and timeouts arrive as `RetryableError` (botocore's
own retries — standard mode, three attempts — run first; a retried call sends identical records,
which AWS deduplicates). The rules followed are botocore's service model
(`botocore/data/meteringmarketplace/2016-01-14/service-2.json`); docs/marketplaces.md has the
tables.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from datetime import UTC
from typing import TYPE_CHECKING, Any

import boto3
import botocore.config
import botocore.loaders

from shared.adapters.aws_errors import with_mapped_errors
from shared.ports.errors import AdapterError, PermanentError
from shared.ports.metering import AwsBuyer, MarketplaceProvider, RecordOutcome, RecordState, UsageRecord

if TYPE_CHECKING:
    from mypy_boto3_meteringmarketplace import MarketplaceMeteringClient
    from mypy_boto3_meteringmarketplace.type_defs import UsageRecordTypeDef

SERVICE = "meteringmarketplace"
MAX_RECORDS = 25  # UsageRecordList "max" in the model
DEFAULT_CONFIG = botocore.config.Config(
    connect_timeout=5,
    read_timeout=10,
    retries={"mode": "standard", "total_max_attempts": 3},
)

# Per-record Status (UsageRecordResultStatus) → our state.
_STATUS: dict[str, RecordState] = {
    "Success": "accepted",
    "DuplicateRecord": "duplicate",
    "CustomerNotSubscribed": "not_subscribed",
}
# Whole-call refusals that name a bad record without saying which: the batch is split to find it.
_ONE_BAD_RECORD = frozenset({"InvalidCustomerIdentifierException", "InvalidLicenseException"})
# What a person can do about a whole-call refusal.
_HINTS = {
    "InvalidProductCodeException": "check the customer's aws_product_code against the product's listing",
    "InvalidUsageDimensionException": "add the usage_fee dimension to the product's listing in AWS Marketplace",
    "DisabledApiException": "the metering API is disabled in this region; check the customer's aws_region",
    "InvalidTagException": "downbeat sends no usage allocations; this is a bug",
    "InvalidUsageAllocationsException": "downbeat sends no usage allocations; this is a bug",
    "ValidationException": "the request broke the API's rules; this is a bug in downbeat",
}


@functools.cache
def model_max_quantity() -> int:
    """`UsageQuantity`'s maximum in the installed botocore's model (2,147,483,647 today)."""
    model = botocore.loaders.Loader().load_service_model(SERVICE, "service-2")
    return int(model["shapes"]["UsageQuantity"]["max"])


class AwsMarketplaceMetering:
    provider: MarketplaceProvider = "aws_marketplace"
    max_records = MAX_RECORDS

    def __init__(self, session: boto3.Session | None = None, *, config: botocore.config.Config | None = None) -> None:
        self._session = session or boto3.Session()
        self._config = DEFAULT_CONFIG.merge(config) if config is not None else DEFAULT_CONFIG
        self._clients: dict[str, MarketplaceMeteringClient] = {}
        self._lock = threading.Lock()
        self.max_quantity = model_max_quantity()

    def meter(self, records: Sequence[UsageRecord]) -> list[RecordOutcome]:
        """One `BatchMeterUsage` call with `records` (one region, product and identifier style).

        `TimestampOutOfBoundsException` refuses the whole call, so every record of it comes back
        `expired` with AWS's message; the meter takes records past their window out before
        sending, so this only happens at the window's very edge. `InvalidCustomerIdentifierException`
        and `InvalidLicenseException` also refuse the whole call for one record AWS does not name:
        then the records are sent again in halves (AWS deduplicates identical records, so resending
        is safe) until the one refused is alone and becomes `failed` — the only case where one
        `meter()` makes more than one call. Any other refusal of the whole call is a
        `PermanentError` naming AWS's code and what to do.
        """
        if not records:
            return []
        buyers = self._check(records)
        return self._send(list(records), buyers[0])

    def _check(self, records: Sequence[UsageRecord]) -> list[AwsBuyer]:
        if len(records) > MAX_RECORDS:
            raise PermanentError(f"BatchMeterUsage takes at most {MAX_RECORDS} records; {len(records)} were given")
        buyers: list[AwsBuyer] = []
        for record in records:
            if not isinstance(record.buyer, AwsBuyer):
                raise PermanentError(f"record {record.record_id} is not for an AWS Marketplace buyer")
            if not 1 <= record.quantity <= self.max_quantity:
                raise PermanentError(
                    f"record {record.record_id}: quantity {record.quantity} is outside 1..{self.max_quantity}"
                )
            if record.buyer.licence_based and record.buyer.customer_identifier is not None:
                raise PermanentError(
                    f"record {record.record_id}: a buyer has a licence or a customer identifier, not both"
                )
            if not record.buyer.licence_based and record.buyer.customer_identifier is None:
                raise PermanentError(
                    f"record {record.record_id}: the buyer has neither a customer identifier nor an account id "
                    "with a licence ARN"
                )
            buyers.append(record.buyer)
        for what, values in (
            ("regions", {b.region for b in buyers}),
            ("product codes", {b.product_code for b in buyers}),
            ("identifier styles", {"licence-based" if b.licence_based else "legacy" for b in buyers}),
        ):
            if len(values) > 1:
                raise PermanentError(
                    f"one BatchMeterUsage call is for one region, one product and one identifier style; "
                    f"these records mix {what}: {', '.join(sorted(values))}"
                )
        return buyers

    def _send(self, records: list[UsageRecord], first: AwsBuyer) -> list[RecordOutcome]:
        request: dict[str, Any] = {"UsageRecords": [_usage_record(record) for record in records]}
        if not first.licence_based:
            request["ProductCode"] = first.product_code  # never with LicenseArn records: that bills twice
        try:
            response = self._client(first.region).batch_meter_usage(**request)
        except AdapterError as error:
            said = _aws_message(error)
            if error.code == "TimestampOutOfBoundsException":
                return [
                    RecordOutcome(r.record_id, "expired", reason=f"TimestampOutOfBoundsException: {said}")
                    for r in records
                ]
            if error.code in _ONE_BAD_RECORD:
                if len(records) == 1:
                    return [RecordOutcome(records[0].record_id, "failed", reason=f"{error.code}: {said}")]
                middle = len(records) // 2
                return self._send(records[:middle], first) + self._send(records[middle:], first)
            if isinstance(error, PermanentError) and error.code in _HINTS:
                raise PermanentError(
                    f"AWS Marketplace refused BatchMeterUsage for product {first.product_code} in {first.region} "
                    f"({error.code}: {said}): {_HINTS[error.code]}",
                    code=error.code,
                ) from error
            raise
        return _outcomes(records, response.get("Results", []), response.get("UnprocessedRecords", []))

    def _client(self, region: str) -> MarketplaceMeteringClient:
        with self._lock:
            client = self._clients.get(region)
            if client is None:
                raw = self._session.client("meteringmarketplace", region_name=region, config=self._config)
                client = with_mapped_errors(raw, service="AWS Marketplace Metering", resource=f"region {region}")
                self._clients[region] = client
            return client


def _usage_record(record: UsageRecord) -> UsageRecordTypeDef:
    buyer = record.buyer
    assert isinstance(buyer, AwsBuyer)
    item: UsageRecordTypeDef = {
        "Timestamp": record.timestamp.astimezone(UTC),
        "Dimension": record.dimension,
        "Quantity": record.quantity,
    }
    if buyer.licence_based:
        assert buyer.customer_aws_account_id is not None
        assert buyer.license_arn is not None
        item["CustomerAWSAccountId"] = buyer.customer_aws_account_id
        item["LicenseArn"] = buyer.license_arn
    else:
        assert buyer.customer_identifier is not None
        item["CustomerIdentifier"] = buyer.customer_identifier
    return item


def _identity(item: Any) -> tuple[str, str, int]:
    """Who, which dimension and which second a record (sent, or echoed in the reply) is for."""
    customer = item.get("CustomerIdentifier") or f"{item.get('CustomerAWSAccountId')} {item.get('LicenseArn')}"
    return (str(customer), str(item.get("Dimension")), int(item["Timestamp"].timestamp()))


def _outcomes(
    records: Sequence[UsageRecord], results: Sequence[Any], unprocessed: Sequence[Any]
) -> list[RecordOutcome]:
    by_identity: dict[tuple[str, str, int], list[RecordOutcome]] = {}
    for result in results:
        record = result.get("UsageRecord") or {}
        if "Timestamp" not in record:
            continue
        status = str(result.get("Status") or "")
        state = _STATUS.get(status, "failed")
        receipt = result.get("MeteringRecordId") if state == "accepted" else None
        reason = None if state == "accepted" else _status_reason(status)
        by_identity.setdefault(_identity(record), []).append(RecordOutcome("", state, receipt, reason))
    for item in unprocessed:
        if "Timestamp" in item:
            outcome = RecordOutcome("", "unprocessed", reason="AWS returned it in UnprocessedRecords; send it again")
            by_identity.setdefault(_identity(item), []).append(outcome)
    outcomes: list[RecordOutcome] = []
    for record in records:
        found = by_identity.get(_identity(_usage_record(record)))
        if found:
            outcome = found.pop(0)
            outcomes.append(RecordOutcome(record.record_id, outcome.state, outcome.receipt, outcome.reason))
        else:
            reason = "AWS's reply did not mention this record; send it again"
            outcomes.append(RecordOutcome(record.record_id, "unprocessed", reason=reason))
    return outcomes


def _status_reason(status: str) -> str:
    if status == "DuplicateRecord":
        return "DuplicateRecord: AWS already holds a record of this customer, dimension and hour with another quantity"
    if status == "CustomerNotSubscribed":
        return "CustomerNotSubscribed: the customer is not subscribed to the product (or the account is suspended)"
    return f"{status or 'no Status'}: AWS did not honour the record"


def _aws_message(error: AdapterError) -> str:
    cause: Any = error.__cause__
    response = getattr(cause, "response", None)
    if isinstance(response, dict):
        message = str(response.get("Error", {}).get("Message") or "").strip()
        if message:
            return message
    return str(error)
