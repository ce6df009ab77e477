"""What the marketplace landings share: who the buyer's browser is, and how a landing answers."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types

from shared.domain.audit import Caller
from shared.services.api_registrations import Landing


def buyer_caller(event: dict[str, Any], actor: str) -> Caller:
    """A landing's caller: the buyer's browser (no token), by the connection's address."""
    http = (event.get("requestContext") or {}).get("http") or {}
    headers = {str(k).lower(): v for k, v in (event.get("headers") or {}).items()}
    return Caller(actor=actor, ip_address=http.get("sourceIp"), user_agent=headers.get("user-agent"))


def landing_reply(landing: Landing) -> Response[str]:
    """303 to the seller's sign-up page with `registration=<id>`, or 200 with the registration."""
    if landing.redirect_to is not None:
        return Response(status_code=303, headers={"Location": landing.redirect_to}, body="")
    body = json.dumps({"data": landing.registration.model_dump(mode="json")})
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=body)


LANDING_RESPONSES: dict[str, Any] = {
    "200": {
        "description": "No sign-up page is configured: the registration",
        "content": {"application/json": {"schema": {"type": "object", "required": ["data"]}}},
    },
    "303": {"description": "Sent on to the seller's sign-up page, with registration=<id> in its query"},
}
