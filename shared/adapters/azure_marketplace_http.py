"""What the Azure Marketplace adapters share: the app's credential and one HTTP client.

Metering (`azure_metering.py`) and the SaaS Fulfillment API (`azure_fulfillment.py`) are the same
service to Microsoft: one host, one `api-version`, one token scope (the marketplace API's
resource `20e940b3-4c77-4b0b-9a53-9e16a1b010a7`), the same `x-ms-requestid` /
`x-ms-correlationid` headers. `MarketplaceHttp` gets the token from azure-identity, sends through
one `requests.Session` with timeouts and a bounded urllib3 retry, and turns what cannot be
answered (no token, no connection, 429, 5xx) into `RetryableError` / `PermanentError`; each
adapter reads the rest of its replies itself.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection
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

from shared.adapters.entra_authority import LOOPBACK_HOSTS, MARKETPLACE_APP_ID, authority_url
from shared.ports.errors import PermanentError, RetryableError

DEFAULT_BASE_URL = "https://marketplaceapi.microsoft.com"
MARKETPLACE_SCOPE = f"{MARKETPLACE_APP_ID}/.default"
API_VERSION = "2018-08-31"
DEFAULT_MAX_RETRIES = 2
_MSAL_HTTP_ERROR = re.compile(r"HTTP Error: (\d{3})")


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
        kwargs["authority"] = authority_url(authority_host)
        if urlsplit(kwargs["authority"]).hostname in LOOPBACK_HOSTS:
            kwargs["disable_instance_discovery"] = True
    return ClientSecretCredential(tenant_id, client_id, client_secret, **kwargs)


class MarketplaceHttp:
    """Token + session + transport errors for one marketplace API base URL."""

    def __init__(
        self,
        credential: TokenCredential,
        base_url: str,
        *,
        timeout_seconds: float = 10.0,
        max_retries: int = DEFAULT_MAX_RETRIES,
        retry_methods: Collection[str] = ("GET", "POST"),
    ) -> None:
        self._credential = credential
        self.base_url = base_url.rstrip("/")
        self._timeout = (min(timeout_seconds, 5.0), timeout_seconds)  # (connect, read)
        retry = Retry(
            total=max_retries,
            connect=max_retries,
            read=max_retries,
            status=max_retries,
            other=0,
            allowed_methods=frozenset(retry_methods),  # only calls that are safe to send again
            status_forcelist=(429, 500, 502, 503, 504),
            backoff_factor=0.2,
            backoff_max=2.0,
            # A server's long Retry-After is not followed: the callers run inside a Lambda time limit.
            respect_retry_after_header=False,
            raise_on_status=False,  # the last reply is mapped by the caller, with its body
        )
        self._session = requests.Session()
        adapter = HTTPAdapter(max_retries=retry)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)

    def send(self, method: str, path: str, operation: str, *, headers: dict[str, str] | None = None,
             **options: Any) -> requests.Response:  # fmt: skip
        """One call to `{base_url}{path}` with a fresh bearer token and request/correlation ids;
        a transport failure is a `RetryableError`, and so is a 429 or 5xx reply."""
        sent = {
            "Authorization": f"Bearer {self.token()}",
            "x-ms-requestid": str(uuid.uuid4()),
            "x-ms-correlationid": str(uuid.uuid4()),
            **(headers or {}),
        }
        try:
            response = self._session.request(
                method, f"{self.base_url}{path}", headers=sent, timeout=self._timeout, **options
            )
        except (requests.Timeout, requests.ConnectionError) as error:
            raise RetryableError(
                f"Azure Marketplace {operation} did not answer ({type(error).__name__}); it will be retried",
                code="connection",
            ) from error
        except requests.RequestException as error:
            raise RetryableError(f"Azure Marketplace {operation} failed ({error}); it will be retried") from error
        status = response.status_code
        if status == 429 or status >= 500:
            raise RetryableError(
                f"Azure Marketplace answered {operation} {status} ({said(response)}); it will be retried",
                code=str(status),
            )
        return response

    def token(self) -> str:
        try:
            return self._credential.get_token(MARKETPLACE_SCOPE).token
        except ClientAuthenticationError as error:
            status = _issuer_unavailable(error)
            if status is not None:
                answered = f"HTTP {status}" if status else "no answer"
                raise RetryableError(f"Microsoft Entra ID gave no token ({answered}); it will be retried") from error
            raise PermanentError(
                "Microsoft Entra ID refused the app's credentials for the marketplace API: check AZURE_TENANT_ID, "
                f"AZURE_CLIENT_ID and AZURE_CLIENT_SECRET ({first_line(error.message)})",
                code="ClientAuthenticationError",
            ) from error
        except (ServiceRequestError, HttpResponseError) as error:
            raise RetryableError(
                f"Microsoft Entra ID did not answer ({first_line(str(error))}); it will be retried"
            ) from error


def json_body(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def said(response: requests.Response) -> str:
    """What Microsoft's error body says (`code: message`, with the first detail), else the reason."""
    body = json_body(response)
    if isinstance(body, dict):
        details = body.get("details")
        message = str(body.get("message") or body.get("error_description") or "")
        if isinstance(details, list) and details and isinstance(details[0], dict):
            message = f"{message} {details[0].get('message', '')}".strip()
        code = body.get("code")
        text = f"{code}: {message}" if code else message
        if text:
            return text
    return response.reason or ""


def first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "no details"


def _issuer_unavailable(error: ClientAuthenticationError) -> int | None:
    """Why the issuer gave no token when trying again may help: its HTTP status (429, 5xx), or 0
    when it did not answer at all (a transport error behind azure-identity's wrapping); `None`
    when it answered with a refusal (an `AADSTS…` error: bad secret, unknown app or tenant)."""
    seen: BaseException | None = error
    while seen is not None:
        response = getattr(seen, "response", None)
        status = getattr(response, "status_code", None) if response is not None else None
        if not isinstance(status, int) and (found := _MSAL_HTTP_ERROR.fullmatch(str(seen))):
            status = int(found.group(1))  # MSAL keeps only the status of a reply it could not read
        if isinstance(status, int):
            return status if status == 429 or status >= 500 else None
        if isinstance(seen, ServiceRequestError | ServiceResponseError | requests.RequestException | OSError):
            return 0
        seen = seen.__cause__ or seen.__context__
    return None


class MarketplaceClient:
    """A client of one marketplace API: `retry_methods` names the calls it may send again."""

    retry_methods: tuple[str, ...] = ("GET", "POST")

    def __init__(
        self,
        credential: TokenCredential,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout_seconds: float = 10.0,
        max_retries: int = DEFAULT_MAX_RETRIES,
    ) -> None:
        self._http = MarketplaceHttp(
            credential, base_url, timeout_seconds=timeout_seconds, max_retries=max_retries,
            retry_methods=self.retry_methods,
        )  # fmt: skip
