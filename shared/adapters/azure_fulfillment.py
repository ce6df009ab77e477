"""Azure Marketplace SaaS Fulfillment API v2: resolve a landing token, activate, read a subscription
and an operation, acknowledge an operation.

Base URL `AZURE_FULFILLMENT_BASE_URL` (default https://marketplaceapi.microsoft.com), every call
`?api-version=2018-08-31` with a token for the marketplace API's scope from the same credential as
metering (`azure_marketplace_http.MarketplaceHttp`: timeouts, a bounded retry of connection
errors, 429 and 5xx; all four calls are safe to send again). Microsoft's pages are the contract
(https://learn.microsoft.com/partner-center/marketplace-offers/pc-saas-fulfillment-subscription-api,
…/pc-saas-fulfillment-operations-api); docs/marketplaces.md ("Azure listings") has the tables.

What the callers branch on:

- `InvalidLandingToken` (a `PermanentError`): resolve answered 400 — the landing page's `token`
  is missing, malformed, invalid or expired; the landing route answers 400 naming `token`.
- `AzureNotFound` (a `PermanentError`): no such subscription or operation (404), and activation of
  an `Unsubscribed` subscription.
- `activate` may be repeated: Microsoft documents a 400 for activating a subscription that is
  already `Subscribed`, so on a 400 the subscription is read back, and one that is `Subscribed` to
  the plan and quantity asked for counts as activated.
- `acknowledge` answers `"already_settled"` for a 409 (Microsoft settled the operation itself,
  or a newer update was fulfilled): nothing to do.

Every value read back is checked (ids and plans 1 to 256 printable characters, a quantity a whole
number from 0 to 2,147,483,647) before it leaves here; a reply that fails is a `PermanentError`
naming the field. A timestamp that cannot be read is taken as absent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote

import requests

from shared.adapters.azure_marketplace_http import (
    API_VERSION,
    MarketplaceClient,
    json_body,
    said,
)
from shared.domain.azure_operations import AzureOperation
from shared.domain.timestamps import parse_rfc3339
from shared.ports.errors import PermanentError

MAX_TEXT = 256
MAX_QUANTITY = 2_147_483_647
_PARAMS = {"api-version": API_VERSION}


class InvalidLandingToken(PermanentError):
    """The landing token was refused (resolve's 400): the buyer's request names it `token`."""

    field = "token"


class AzureNotFound(PermanentError):
    """No such SaaS subscription or operation (404)."""


@dataclass(frozen=True)
class AzureSubscription:
    subscription_id: str
    name: str | None
    offer_id: str
    plan_id: str
    quantity: int | None  # None: the plan is not per seat
    status: str  # PendingFulfillmentStart | Subscribed | Suspended | Unsubscribed
    purchaser_email: str | None
    beneficiary_email: str | None


class AzureFulfillment(MarketplaceClient):
    retry_methods = ("GET", "POST", "PATCH")  # all four calls are safe to send again (module docstring)

    def resolve(self, marketplace_token: str) -> AzureSubscription:
        """The purchase behind a landing page's `token`, given as the browser sent it (already decoded once)."""
        response = self._http.send(
            "POST", "/api/saas/subscriptions/resolve", "resolve", params=_PARAMS,
            headers={"x-ms-marketplace-token": marketplace_token, "content-type": "application/json"},
        )  # fmt: skip
        if response.status_code == 400:
            raise InvalidLandingToken(
                f"Azure Marketplace refused the landing token: it is missing, malformed, invalid or expired "
                f"({said(response)}); the buyer should open the subscription in the Azure portal and select "
                "Configure account again",
                code="400",
            )
        body = _ok(response, "resolve")
        details: dict[str, Any] = body["subscription"] if isinstance(body.get("subscription"), dict) else {}
        return _subscription({**details, "id": body.get("id"), "planId": body.get("planId"),
                              "offerId": body.get("offerId"), "quantity": body.get("quantity", details.get("quantity")),
                              "name": body.get("subscriptionName", details.get("name"))})  # fmt: skip

    def activate(self, subscription_id: str, plan_id: str, quantity: int | None) -> None:
        """Makes the subscription `Subscribed` (billing starts); safe to repeat (module docstring)."""
        payload: dict[str, Any] = {"planId": plan_id, "quantity": "" if quantity is None else quantity}
        response = self._http.send(
            "POST", f"{_path(subscription_id)}/activate", "activate", params=_PARAMS, json=payload
        )
        if response.status_code == 400:
            held = self.subscription(subscription_id)
            if held.status == "Subscribed" and held.plan_id == plan_id and held.quantity == quantity:
                return
            raise PermanentError(
                f"Azure Marketplace refused to activate SaaS subscription {subscription_id} (400: {said(response)}); "
                f"it is {held.status} on plan {held.plan_id!r}, quantity {held.quantity}",
                code="400",
            )
        _ok(response, "activate", body=False)

    def subscription(self, subscription_id: str) -> AzureSubscription:
        response = self._http.send("GET", _path(subscription_id), "get subscription", params=_PARAMS)
        return _subscription(_ok(response, "get subscription"))

    def operation(self, subscription_id: str, operation_id: str) -> AzureOperation:
        """The operation as Microsoft holds it: what the webhook handler acts on, never the payload."""
        path = f"{_path(subscription_id)}/operations/{quote(operation_id, safe='')}"
        body = _ok(self._http.send("GET", path, "get operation", params=_PARAMS), "get operation")
        return AzureOperation(
            operation_id=_text(body, "id"),
            subscription_id=_text(body, "subscriptionId"),
            action=_text(body, "action"),
            status=_text(body, "status"),
            plan_id=_text(body, "planId", required=False),
            quantity=_quantity(body),
            time_stamp=_time(body, "timeStamp"),
        )

    def acknowledge(
        self, subscription_id: str, operation_id: str, status: Literal["Success", "Failure"] = "Success"
    ) -> Literal["acknowledged", "already_settled"]:
        path = f"{_path(subscription_id)}/operations/{quote(operation_id, safe='')}"
        response = self._http.send("PATCH", path, "patch operation", params=_PARAMS, json={"status": status})
        if response.status_code == 409:
            return "already_settled"
        _ok(response, "patch operation", body=False)
        return "acknowledged"


def _path(subscription_id: str) -> str:
    return f"/api/saas/subscriptions/{quote(subscription_id, safe='')}"


def _ok(response: requests.Response, operation: str, *, body: bool = True) -> dict[str, Any]:
    """The 200's JSON object (or `{}` when no body is expected); every other answer as an error."""
    status = response.status_code
    if 200 <= status < 300:
        if not body:
            return {}
        parsed = json_body(response)
        if not isinstance(parsed, dict):
            raise PermanentError(f"Azure Marketplace answered {operation} {status} without a JSON object")
        return parsed
    if status == 404:
        raise AzureNotFound(f"Azure Marketplace found nothing for {operation} (404: {said(response)})", code="404")
    if status in (401, 403):
        raise PermanentError(
            f"Azure Marketplace forbade {operation} ({status}: {said(response)}): the token was refused, or the "
            "offer was published with another Microsoft Entra app registration than AZURE_CLIENT_ID",
            code=str(status),
        )
    raise PermanentError(f"Azure Marketplace refused {operation} ({status}: {said(response)})", code=str(status))


def _subscription(body: dict[str, Any]) -> AzureSubscription:
    return AzureSubscription(
        subscription_id=_text(body, "id"),
        name=_text(body, "name", required=False),
        offer_id=_text(body, "offerId"),
        plan_id=_text(body, "planId"),
        quantity=_quantity(body),
        status=_text(body, "saasSubscriptionStatus", required=False) or "PendingFulfillmentStart",
        purchaser_email=_email(body.get("purchaser")),
        beneficiary_email=_email(body.get("beneficiary")),
    )


def _text(body: dict[str, Any], name: str, *, required: bool = True) -> Any:
    value = body.get(name)
    if isinstance(value, str):
        value = value.strip()  # Microsoft's own examples pad some values (" Subscribed ")
    if value in (None, "") and not required:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_TEXT or not value.isprintable():
        raise PermanentError(f"Azure Marketplace answered a {name} that is not 1 to {MAX_TEXT} printable characters")
    return value


def _quantity(body: dict[str, Any]) -> int | None:
    """A number, a numeric string, or empty when the plan is not per seat (all three appear in Microsoft's examples)."""
    value = body.get("quantity")
    if value in (None, ""):
        return None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_QUANTITY:
        raise PermanentError(f"Azure Marketplace answered a quantity that is not a whole number 0..{MAX_QUANTITY}")
    return value


def _time(body: dict[str, Any], name: str) -> datetime | None:
    """UTC as Microsoft writes it, with or without an offset; one it cannot read (its own
    "0001-01-01T00:00:00" placeholder included) counts as absent: the change is then dated when
    the webhook arrived, rather than never applied."""
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text[-1:].isdigit() and "+" not in text[10:] and "-" not in text[10:]:
        text += "Z"
    try:
        return parse_rfc3339(text)
    except ValueError:
        return None


def _email(party: Any) -> str | None:
    if not isinstance(party, dict):
        return None
    email = party.get("emailId")
    return email.strip() if isinstance(email, str) and 0 < len(email.strip()) <= MAX_TEXT else None
