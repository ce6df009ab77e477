"""The Azure double's Microsoft Entra endpoints: what MSAL calls for client credentials (with
instance discovery off, checked by running it) and the signing keys webhook verifiers fetch.

- `GET /{tenant}/v2.0/.well-known/openid-configuration` (tenant discovery);
- `POST /{tenant}/oauth2/v2.0/token` (`grant_type=client_credentials`, `client_id`,
  `client_secret`, `scope`): a wrong secret is `invalid_client` (AADSTS7000215), an unknown tenant
  AADSTS90002, a scope without `/.default` `invalid_scope` — Entra's error shape (`error`,
  `error_description`, `error_codes`);
- `GET /{tenant}/discovery/v2.0/keys` (and the v1 path `/{tenant}/discovery/keys`): the JWKS of
  local/entra_issuer.py.
"""

from __future__ import annotations

import secrets
from typing import Protocol
from urllib.parse import parse_qsl

from local.entra_issuer import EntraIssuer
from local.loopback_server import Reply, Request

TOKEN_LIFETIME_SECONDS = 3600


class TokenIssuer(Protocol):
    tenant_id: str
    client_id: str
    client_secret: str

    def issue_token(self, client_id: str | None = None, resource: str = ...) -> str: ...


def keys(issuer: EntraIssuer, tenant: str) -> Reply:
    if tenant != issuer.tenant_id:
        return _entra_error(400, "invalid_tenant", 90002, f"Tenant '{tenant}' not found.")
    return Reply.json(200, issuer.jwks())


def openid_configuration(url: str, tenant_id: str, tenant: str) -> Reply:
    if tenant != tenant_id:
        return _entra_error(400, "invalid_tenant", 90002, f"Tenant '{tenant}' not found.")
    base = f"{url}/{tenant}"
    return Reply.json(
        200,
        {
            "issuer": f"{base}/v2.0",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "tenant_region_scope": "NA",
        },
    )


def token(double: TokenIssuer, tenant: str, request: Request) -> Reply:
    if tenant != double.tenant_id:
        return _entra_error(400, "invalid_tenant", 90002, f"Tenant '{tenant}' not found.")
    form = dict(parse_qsl(request.body.decode(errors="replace"), keep_blank_values=True))
    if form.get("grant_type") != "client_credentials":
        return _entra_error(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
    if form.get("client_id") != double.client_id:
        return _entra_error(
            400,
            "unauthorized_client",
            700016,
            f"Application with identifier '{form.get('client_id')}' was not found in the directory.",
        )
    if not secrets.compare_digest(form.get("client_secret", ""), double.client_secret):
        return _entra_error(
            401,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client "
            "secret value, not the client secret ID.",
        )
    scope = form.get("scope", "")
    if not scope.endswith("/.default"):
        return _entra_error(
            400,
            "invalid_scope",
            1002012,
            f"The provided value for scope {scope} is not valid. Client credential flows must have a "
            "scope value with /.default suffixed to the resource identifier.",
        )
    token = double.issue_token(form["client_id"], scope.removesuffix("/.default"))
    return Reply.json(
        200,
        {
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME_SECONDS,
            "ext_expires_in": TOKEN_LIFETIME_SECONDS,
            "access_token": token,
        },
    )


def _entra_error(status: int, error: str, code: int, description: str) -> Reply:
    return Reply.json(
        status,
        {
            "error": error,
            "error_description": f"AADSTS{code}: {description}",
            "error_codes": [code],
            "trace_id": secrets.token_hex(16),
            "correlation_id": secrets.token_hex(16),
        },
    )
