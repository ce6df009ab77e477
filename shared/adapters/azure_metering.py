"""Azure Marketplace metering: `POST /api/batchUsageEvent` with an azure-identity token.

The token comes from a `TokenCredential` (a `ClientSecretCredential` from `azure_credential`) for
the marketplace API's scope; azure-identity caches it until shortly before it expires. The call
goes through one `requests.Session` with timeouts and a bounded urllib3 retry (connection errors,
read timeouts, 429 and 5xx; a short back-off, never a server's long `Retry-After`, since the meter
runs inside a Lambda time limit and tries again ten minutes later anyway). Resending is safe:
Azure keeps one event per resource, dimension and hour, and answers a resent event `Duplicate`
with the event it accepted, which is success when the quantity is ours. Microsoft's page
(https://learn.microsoft.com/partner-center/marketplace-offers/marketplace-metering-service-apis)
is the contract; docs/marketplaces.md has the tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import requests

from shared.adapters.azure_marketplace_http import (
    API_VERSION,
    DEFAULT_BASE_URL,
    MARKETPLACE_SCOPE,
    MarketplaceClient,
    azure_credential,
    said,
)
from shared.adapters.entra_authority import LOOPBACK_HOSTS
from shared.ports.errors import PermanentError, RetryableError
from shared.ports.metering import (
    AzureBuyer,
    MarketplaceProvider,
    ProviderUsageDay,
    RecordOutcome,
    RecordState,
    UsageRecord,
)

__all__ = ["API_VERSION", "DEFAULT_BASE_URL", "LOOPBACK_HOSTS", "MARKETPLACE_SCOPE", "AzureMarketplaceMetering",
           "azure_credential"]  # fmt: skip

MAX_EVENTS = 25
# Microsoft documents no maximum for `quantity` (a number > 0); AWS's int32 cap keeps both
# providers' carry-over alike, and every integer below it is exact in a JSON double.
MAX_QUANTITY = 2_147_483_647

_NOT_SUBSCRIBED = frozenset({"ResourceNotFound", "ResourceNotActive", "ResourceNotAuthorized"})
_STATUS_WORDS = {  # Microsoft's descriptions, for a result that carries no message of its own
    "Expired": "the usage is older than 24 hours",
    "ResourceNotFound": "the usage resource is invalid",
    "ResourceNotAuthorized": "this publisher may not report usage for the resource",
    "ResourceNotActive": "the resource is suspended or was never activated",
    "InvalidDimension": "the dimension is not valid for the offer's plan",
    "InvalidQuantity": "the quantity is 0 or less",
    "BadArgument": "the event is missing a field or malformed",
}


class AzureMarketplaceMetering(MarketplaceClient):
    provider: MarketplaceProvider = "azure_marketplace"
    max_records = MAX_EVENTS
    max_quantity = MAX_QUANTITY

    # Resending an event is answered Duplicate, so POST is retried like GET (MarketplaceClient's default).

    def meter(self, records: Sequence[UsageRecord]) -> list[RecordOutcome]:
        """One `batchUsageEvent` call; one outcome per record, in order (see the module docstring)."""
        if not records:
            return []
        events = [self._event(record) for record in records]
        reply = self._post({"request": events})
        results = reply.get("result") if isinstance(reply, dict) else None
        if not isinstance(results, list):
            raise RetryableError("Azure Marketplace answered batchUsageEvent without a result list; it will be retried")
        return _outcomes(records, results)

    def usage_days(self, start: datetime, dimension: str) -> list[ProviderUsageDay]:
        """`GET /api/usageEvents?usageStartDate=…&dimension=…`: Azure's rows, one per day, resource,
        dimension and plan, summed per resource and day (a plan change within a day splits a row)."""
        params = {"api-version": API_VERSION, "usageStartDate": start.astimezone(UTC).strftime("%Y-%m-%d"),
                  "dimension": dimension}  # fmt: skip
        rows = self._request("GET", "usageEvents", params=params)
        if not isinstance(rows, list):
            raise RetryableError("Azure Marketplace answered usageEvents without a list of rows; it will be retried")
        days: dict[tuple[str, date], ProviderUsageDay] = {}
        for row in rows:
            day = _row_day(row)
            quantity = _decimal(row.get("submittedQuantity")) if isinstance(row, dict) else None
            if day is None or quantity is None or not isinstance(row.get("usageResourceId"), str):
                raise PermanentError(f"Azure Marketplace answered usageEvents with a row it cannot read: {row!r:.200}")
            key = (row["usageResourceId"], day)
            held = days.get(key)
            events = int(row.get("submittedCount") or 0)
            days[key] = ProviderUsageDay(
                key[0],
                str(row.get("dimension") or dimension),
                day,
                quantity + (held.quantity if held else 0),
                events + (held.events if held else 0),
            )
        return list(days.values())

    def _event(self, record: UsageRecord) -> dict[str, Any]:
        if not isinstance(record.buyer, AzureBuyer):
            raise PermanentError(f"record {record.record_id} is not for an Azure Marketplace buyer")
        if not 1 <= record.quantity <= self.max_quantity:
            raise PermanentError(
                f"record {record.record_id}: quantity {record.quantity} is outside 1..{self.max_quantity}"
            )
        return {
            "resourceId": record.buyer.resource_id,
            "quantity": record.quantity,
            "dimension": record.dimension,
            "effectiveStartTime": _azure_time(record),
            "planId": record.buyer.plan_id,
        }

    def _post(self, body: dict[str, Any]) -> Any:
        if len(body["request"]) > MAX_EVENTS:
            raise PermanentError(
                f"batchUsageEvent takes at most {MAX_EVENTS} events; {len(body['request'])} were given"
            )
        return self._request("POST", "batchUsageEvent", params={"api-version": API_VERSION}, json=body)

    def _request(self, method: str, operation: str, **options: Any) -> Any:
        return _reply_body(self._http.send(method, f"/api/{operation}", operation, **options), operation)


def _reply_body(response: requests.Response, operation: str) -> Any:
    status = response.status_code
    if status == 200:
        try:
            return response.json()
        except ValueError:
            return None
    said_ = said(response)
    if status == 401:
        raise PermanentError(
            f"Azure Marketplace refused the token (401: {said_}): check that AZURE_CLIENT_ID is the app registration "
            "the offer was published with and that its token is for the marketplace API",
            code="401",
        )
    if status == 403:
        raise PermanentError(
            f"Azure Marketplace forbade the call (403: {said_}): the offer was published with another Microsoft "
            "Entra app registration than AZURE_CLIENT_ID, or the token is not for the marketplace API",
            code="403",
        )
    if status == 400:
        raise PermanentError(
            f"Azure Marketplace refused the whole {operation} request (400: {said_}): a bug in downbeat's request",
            code="400",
        )
    raise PermanentError(f"Azure Marketplace answered {operation} {status} ({said_})", code=str(status))


def _outcomes(records: Sequence[UsageRecord], results: Sequence[Any]) -> list[RecordOutcome]:
    by_identity: dict[tuple[str, str, str], list[Any]] = {}
    for result in results:
        if isinstance(result, dict):
            by_identity.setdefault(_identity(result), []).append(result)
    outcomes: list[RecordOutcome] = []
    for record in records:
        assert isinstance(record.buyer, AzureBuyer)
        key = (record.buyer.resource_id, record.dimension, _hour(record))
        found = by_identity.get(key)
        if found:
            outcomes.append(_outcome(record, found.pop(0)))
        else:
            outcomes.append(
                RecordOutcome(
                    record.record_id, "unprocessed", reason="Azure's reply did not mention this event; send it again"
                )
            )
    return outcomes


def _outcome(record: UsageRecord, result: dict[str, Any]) -> RecordOutcome:
    status = str(result.get("status") or "")
    if status == "Accepted":
        return RecordOutcome(record.record_id, "accepted", receipt=_text(result.get("usageEventId")))
    error: dict[str, Any] = result["error"] if isinstance(result.get("error"), dict) else {}
    if status == "Duplicate":
        accepted = (error.get("additionalInfo") or {}).get("acceptedMessage") or {}
        held = _decimal(accepted.get("quantity"))
        if held is not None and held == Decimal(record.quantity):
            return RecordOutcome(record.record_id, "accepted", receipt=_text(accepted.get("usageEventId")))
        return RecordOutcome(
            record.record_id,
            "duplicate",
            reason=f"Duplicate: Azure already holds an event of this resource, dimension and hour with quantity "
            f"{accepted.get('quantity')} (usageEventId {accepted.get('usageEventId')}); we sent {record.quantity}",
        )
    message = _text(error.get("message")) or _STATUS_WORDS.get(status, "Azure did not accept the event")
    reason = f"{status or 'no status'}: {message}"
    state: RecordState = "failed"
    if status == "Expired":
        state = "expired"
    elif status in _NOT_SUBSCRIBED:
        state = "not_subscribed"
    return RecordOutcome(record.record_id, state, reason=reason)


def _identity(result: dict[str, Any]) -> tuple[str, str, str]:
    """Which resource, dimension and UTC hour a result is for (Azure echoes what was sent)."""
    return (str(result.get("resourceId")), str(result.get("dimension")), _result_hour(result.get("effectiveStartTime")))


def _result_hour(value: Any) -> str:
    if not isinstance(value, str):
        return ""
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return ""
    parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    return parsed.strftime("%Y-%m-%dT%H")


def _row_day(row: Any) -> date | None:
    if not isinstance(row, dict) or not isinstance(row.get("usageDate"), str):
        return None
    try:
        return datetime.fromisoformat(row["usageDate"].strip().replace("Z", "+00:00")).date()
    except ValueError:
        return None


def _azure_time(record: UsageRecord) -> str:
    return record.timestamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _hour(record: UsageRecord) -> str:
    return record.timestamp.astimezone(UTC).strftime("%Y-%m-%dT%H")


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None
