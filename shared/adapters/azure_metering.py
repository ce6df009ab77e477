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

import re
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

import requests
from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.identity import ClientSecretCredential
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from shared.ports.errors import PermanentError, RetryableError
from shared.ports.metering import (
    AzureBuyer,
    MarketplaceProvider,
    ProviderUsageDay,
    RecordOutcome,
    RecordState,
    UsageRecord,
)

DEFAULT_BASE_URL = "https://marketplaceapi.microsoft.com"
MARKETPLACE_SCOPE = "20e940b3-4c77-4b0b-9a53-9e16a1b010a7/.default"
API_VERSION = "2018-08-31"
MAX_EVENTS = 25
# Microsoft documents no maximum for `quantity` (a number > 0); AWS's int32 cap keeps both
# providers' carry-over alike, and every integer below it is exact in a JSON double.
MAX_QUANTITY = 2_147_483_647
DEFAULT_MAX_RETRIES = 2
_MSAL_HTTP_ERROR = re.compile(r"HTTP Error: (\d{3})")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

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


def azure_credential(
    tenant_id: str, client_id: str, client_secret: str, authority_host: str | None
) -> ClientSecretCredential:
    """The app registration's credential; `authority_host` as `AZURE_AUTHORITY_HOST` holds it.

    azure-identity's own default host comes without a scheme ("login.microsoftonline.com"), so a
    scheme-less host becomes `https://host`. A loopback authority (the local double) turns
    instance discovery off: with it on, MSAL would ask the public cloud whether the host is known.
    """
    # azure-identity's pipeline retries the token call itself; bounded and quick, inside a Lambda.
    kwargs: dict[str, Any] = {
        "retry_total": 2,
        "retry_backoff_factor": 0.2,
        "retry_backoff_max": 2,
        "connection_timeout": 5,
        "read_timeout": 10,
    }
    if authority_host:
        authority = authority_host if "://" in authority_host else f"https://{authority_host}"
        kwargs["authority"] = authority.rstrip("/")
        if urlsplit(kwargs["authority"]).hostname in LOOPBACK_HOSTS:
            kwargs["disable_instance_discovery"] = True
    return ClientSecretCredential(tenant_id, client_id, client_secret, **kwargs)


class AzureMarketplaceMetering:
    provider: MarketplaceProvider = "azure_marketplace"
    max_records = MAX_EVENTS
    max_quantity = MAX_QUANTITY

    def __init__(
        self,
        credential: TokenCredential,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout_seconds: float = 10.0,
        max_retries: int = DEFAULT_MAX_RETRIES,
    ) -> None:
        self._credential = credential
        self._base_url = base_url.rstrip("/")
        self._timeout = (min(timeout_seconds, 5.0), timeout_seconds)  # (connect, read)
        retry = Retry(
            total=max_retries,
            connect=max_retries,
            read=max_retries,
            status=max_retries,
            other=0,
            allowed_methods=frozenset({"GET", "POST"}),  # resending an event is answered Duplicate
            status_forcelist=(429, 500, 502, 503, 504),
            backoff_factor=0.2,
            backoff_max=2.0,
            respect_retry_after_header=False,
            raise_on_status=False,  # the last reply is mapped below, with its body
        )
        self._http = requests.Session()
        adapter = HTTPAdapter(max_retries=retry)
        self._http.mount("https://", adapter)
        self._http.mount("http://", adapter)

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
        token = self._token()
        url = f"{self._base_url}/api/{operation}"
        headers = {
            "Authorization": f"Bearer {token}",
            "x-ms-requestid": str(uuid.uuid4()),
            "x-ms-correlationid": str(uuid.uuid4()),
        }
        try:
            response = self._http.request(method, url, headers=headers, timeout=self._timeout, **options)
        except (requests.Timeout, requests.ConnectionError) as error:
            raise RetryableError(
                f"Azure Marketplace {operation} did not answer ({type(error).__name__}); it will be retried",
                code="connection",
            ) from error
        except requests.RequestException as error:
            raise RetryableError(f"Azure Marketplace {operation} failed ({error}); it will be retried") from error
        return _reply_body(response, operation)

    def _token(self) -> str:
        try:
            return self._credential.get_token(MARKETPLACE_SCOPE).token
        except ClientAuthenticationError as error:
            status = _issuer_unavailable(error)
            if status is not None:
                said = f"HTTP {status}" if status else "no answer"
                raise RetryableError(f"Microsoft Entra ID gave no token ({said}); it will be retried") from error
            raise PermanentError(
                "Microsoft Entra ID refused the app's credentials for the marketplace API: check AZURE_TENANT_ID, "
                f"AZURE_CLIENT_ID and AZURE_CLIENT_SECRET ({_first_line(error.message)})",
                code="ClientAuthenticationError",
            ) from error
        except (ServiceRequestError, HttpResponseError) as error:
            raise RetryableError(
                f"Microsoft Entra ID did not answer ({_first_line(str(error))}); it will be retried"
            ) from error


def _issuer_unavailable(error: ClientAuthenticationError) -> int | None:
    """Why the issuer gave no token when trying again may help: its HTTP status (429, 5xx), or 0
    when it did not answer at all (a transport error behind azure-identity's wrapping); `None`
    when it answered with a refusal (an `AADSTS…` error: bad secret, unknown app or tenant)."""
    seen: BaseException | None = error
    while seen is not None:
        response = getattr(seen, "response", None)
        status = getattr(response, "status_code", None) if response is not None else None
        if not isinstance(status, int) and (said := _MSAL_HTTP_ERROR.fullmatch(str(seen))):
            status = int(said.group(1))  # MSAL keeps only the status of a reply it could not read
        if isinstance(status, int):
            return status if status == 429 or status >= 500 else None
        if isinstance(seen, ServiceRequestError | ServiceResponseError | requests.RequestException | OSError):
            return 0
        seen = seen.__cause__ or seen.__context__
    return None


def _reply_body(response: requests.Response, operation: str) -> Any:
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    said = _said(body) or response.reason or ""
    if status == 200:
        return body
    if status == 429 or status >= 500:
        raise RetryableError(
            f"Azure Marketplace answered {operation} {status} ({said}); it will be retried", code=str(status)
        )
    if status == 401:
        raise PermanentError(
            f"Azure Marketplace refused the token (401: {said}): check that AZURE_CLIENT_ID is the app registration "
            "the offer was published with and that its token is for the marketplace API",
            code="401",
        )
    if status == 403:
        raise PermanentError(
            f"Azure Marketplace forbade the call (403: {said}): the offer was published with another Microsoft "
            "Entra app registration than AZURE_CLIENT_ID, or the token is not for the marketplace API",
            code="403",
        )
    if status == 400:
        raise PermanentError(
            f"Azure Marketplace refused the whole {operation} request (400: {said}): a bug in downbeat's request",
            code="400",
        )
    raise PermanentError(f"Azure Marketplace answered {operation} {status} ({said})", code=str(status))


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


def _said(body: Any) -> str:
    if isinstance(body, dict):
        details = body.get("details")
        message = str(body.get("message") or body.get("error_description") or "")
        if isinstance(details, list) and details and isinstance(details[0], dict):
            message = f"{message} {details[0].get('message', '')}".strip()
        code = body.get("code")
        return f"{code}: {message}" if code else message
    return ""


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "no details"
