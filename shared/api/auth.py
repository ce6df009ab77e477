"""Bearer-token authentication, done before routing (DESIGN §4a: 401 comes before any 400).

The expected token is `DOWNBEAT_API_TOKEN` locally, or the Secrets Manager secret named by
`API_TOKEN_SECRET_NAME` in the cloud (`shared.bootstrap.secret_text`: Powertools Parameters, cached
for five minutes).
Tokens are compared as SHA-256 digests in constant time, so neither content nor length leaks
through timing; neither token is ever logged or stored, only `actor_for_token`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from shared.domain.audit import Caller, actor_for_token

OPENAPI_PATH = "/openapi.json"
# A dashboard page's link carries its own credential (a signed token, checked by the page's
# route); its scripts and styles hold no data.
DASHBOARD_EMBED_PATH = "/v1/dashboards/embed"
DASHBOARD_ASSETS_PREFIX = "/v1/dashboards/assets/"
# The buyer's browser lands here from the marketplace: its token is the marketplace's, checked by
# resolving it with the marketplace (docs/listings.md). Microsoft calls the Azure webhook with its
# own Microsoft Entra ID token, which the webhook's route verifies before anything else.
AWS_FULFILLMENT_PATH = "/v1/marketplaces/aws/fulfillment"
AZURE_LANDING_PATH = "/v1/marketplaces/azure/landing"
AZURE_WEBHOOK_PATH = "/v1/marketplaces/azure/webhook"
# The documented operations served without the token (their `security` is empty in the document).
PUBLIC_OPERATION_IDS = frozenset(
    {"marketplaces.aws.fulfillment", "marketplaces.azure.landing", "marketplaces.azure.webhook"}
)


@dataclass(frozen=True)
class Refusal:
    message: str


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def authenticate(event: Mapping[str, Any], expected_token: str) -> Caller | Refusal:
    """The caller of an HTTP API (payload 2.0) event, or why it is refused."""
    headers: Mapping[str, str] = event.get("headers") or {}
    authorization = _header(headers, "authorization")
    if not authorization:
        return Refusal("missing bearer token: send Authorization: Bearer <token>")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return Refusal("unsupported authorization scheme: send Authorization: Bearer <token>")
    token = token.strip()
    if not token or not hmac.compare_digest(_digest(token), _digest(expected_token)):
        return Refusal("invalid bearer token")
    http = (event.get("requestContext") or {}).get("http") or {}
    return Caller(
        actor=actor_for_token(token),
        ip_address=http.get("sourceIp"),  # the connection's address; X-Forwarded-For is not trusted
        user_agent=_header(headers, "user-agent") or http.get("userAgent"),
    )


def is_public(event: Mapping[str, Any]) -> bool:
    """Served without the API's bearer token: the OpenAPI document, the dashboard pages and assets,
    the marketplace landings and the Azure webhook (which checks Microsoft's token itself)."""
    http = (event.get("requestContext") or {}).get("http") or {}
    path = str(event.get("rawPath") or "")
    if http.get("method") == "POST" and path in (AWS_FULFILLMENT_PATH, AZURE_WEBHOOK_PATH):
        return True
    public = path in (OPENAPI_PATH, DASHBOARD_EMBED_PATH, AZURE_LANDING_PATH) or path.startswith(
        DASHBOARD_ASSETS_PREFIX
    )
    return http.get("method") == "GET" and public


def unauthorized(refusal: Refusal) -> dict[str, Any]:
    """The 401 response, in the API's one error shape."""
    return {
        "statusCode": 401,
        "headers": {"Content-Type": "application/json", "WWW-Authenticate": 'Bearer realm="downbeat"'},
        "body": json.dumps({"message": refusal.message, "field": None}),
        "isBase64Encoded": False,
    }


def fixed_token(token: str) -> Callable[[], str]:
    return lambda: token
