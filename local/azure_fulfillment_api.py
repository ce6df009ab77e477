"""The Azure double's SaaS Fulfillment API v2 and its control calls, over HTTP.

Routes (all `?api-version=2018-08-31`, `Authorization: Bearer <token for the marketplace API>`;
rules in local/azure_fulfillment_model.py):

- `POST /api/saas/subscriptions/resolve` with `x-ms-marketplace-token`
- `POST /api/saas/subscriptions/{id}/activate` with `{"planId", "quantity"}`
- `GET /api/saas/subscriptions/{id}`
- `GET /api/saas/subscriptions/{id}/operations` (the pending ones)
- `GET` / `PATCH /api/saas/subscriptions/{id}/operations/{operationId}` (`{"status": "Success" | "Failure"}`)

A missing, unknown or expired bearer token, or one for another resource, is a 403: the
fulfillment pages document 403 for "the authorization token is invalid, expired, or was not
provided" (the metering side answers 401).

Control, under `/_double/`:

- `POST fulfillment/tokens` `{"subscription_id"?, "plan_id"?, "quantity"?, "expired"?, "offer_id"?,
  "purchaser_email"?, "beneficiary_email"?, "client_id"?}` → `{"token", "subscription_id"}`: a
  purchase and its landing token (the value the landing URL carries, before URL encoding);
- `POST fulfillment/operations` `{"subscription_id", "action", "plan_id"?, "quantity"?, "status"?,
  "version"?, "flaw"?, "audience"?}` → `{"operation", "webhook", "authorization"}`: the operation
  Microsoft starts, the webhook body it would POST and the `Authorization` header it would send
  (a v1 token unless `version` is 2; `flaw` as in local/entra_issuer.py);
- `GET fulfillment/subscriptions`;
- `POST entra/webhook-token` `{"audience"?, "version"?, "flaw"?}` → `{"token"}`.
"""

from __future__ import annotations

import json
from typing import Any

from local.azure_fulfillment_model import AzureFulfillmentModel
from local.azure_metering_model import AzureError
from local.entra_issuer import EntraIssuer
from local.loopback_server import Reply, Request

PREFIX = "/api/saas/subscriptions"


def is_fulfillment(path: str) -> bool:
    return path == PREFIX or path.startswith(f"{PREFIX}/")


def serve(model: AzureFulfillmentModel, request: Request, client_id: str) -> Reply:
    """One fulfillment call from an authenticated publisher app `client_id`."""
    parts = request.path.removeprefix(PREFIX).strip("/").split("/")
    method = request.method
    try:
        payload = json.loads(request.body) if request.body.strip() else None
    except ValueError:
        return Reply.json(400, {"code": "BadArgument", "message": "The request body is not valid JSON."})
    try:
        if method == "POST" and parts == ["resolve"]:
            return Reply.json(200, model.resolve(request.headers.get("x-ms-marketplace-token"), client_id))
        if method == "POST" and len(parts) == 2 and parts[1] == "activate":
            model.activate(parts[0], payload, client_id)
            return Reply(200)
        if method == "GET" and len(parts) == 1 and parts[0]:
            return Reply.json(200, model.subscription(parts[0], client_id))
        if method == "GET" and len(parts) == 2 and parts[1] == "operations":
            return Reply.json(200, model.pending_operations(parts[0], client_id))
        if len(parts) == 3 and parts[1] == "operations":
            if method == "GET":
                return Reply.json(200, model.operation(parts[0], parts[2], client_id))
            if method == "PATCH":
                model.patch_operation(parts[0], parts[2], payload, client_id)
                return Reply(200)
    except AzureError as error:
        return Reply.json(error.status, error.body())
    return Reply.json(404, {"code": "NotFound", "message": f"No route for {method} {request.path}"})


def control(model: AzureFulfillmentModel, issuer: EntraIssuer, audience: str, request: Request,
            payload: dict[str, Any]) -> Reply | None:  # fmt: skip
    """The control calls above; `None` when the path is none of them. `audience` is the double's app id."""
    route = (request.method, request.path)
    if route == ("POST", "/_double/fulfillment/tokens"):
        names = ("offer_id", "purchaser_email", "beneficiary_email", "client_id", "name")
        token, subscription = model.landing_token(
            subscription_id=payload.get("subscription_id"), plan_id=payload.get("plan_id", "gold"),
            quantity=payload.get("quantity"), expired=bool(payload.get("expired")),
            **{name: payload[name] for name in names if name in payload},
        )  # fmt: skip
        return Reply.json(200, {"token": token, "subscription_id": subscription.id})
    if route == ("POST", "/_double/fulfillment/operations"):
        try:
            operation = model.start_operation(
                payload["subscription_id"], payload["action"], plan_id=payload.get("plan_id"),
                quantity=payload.get("quantity"), status=payload.get("status"),
            )  # fmt: skip
        except AzureError as error:
            return Reply.json(error.status, error.body())
        token = issuer.webhook_token(payload.get("audience", audience), version=payload.get("version", 1),
                                     flaw=payload.get("flaw"))  # fmt: skip
        return Reply.json(200, {"operation": operation.body(), "webhook": model.webhook_payload(operation),
                                "authorization": f"Bearer {token}"})  # fmt: skip
    if route == ("GET", "/_double/fulfillment/subscriptions"):
        return Reply.json(200, {"data": [s.body() for s in model.subscriptions.values()]})
    if route == ("POST", "/_double/entra/webhook-token"):
        token = issuer.webhook_token(payload.get("audience", audience), version=payload.get("version", 1),
                                     flaw=payload.get("flaw"))  # fmt: skip
        return Reply.json(200, {"token": token})
    return None
