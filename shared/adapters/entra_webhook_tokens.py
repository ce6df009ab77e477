"""The Azure Marketplace webhook's bearer token: a Microsoft Entra ID JWT, verified before the
webhook reads anything else (docs/marketplaces.md, "Azure listings").

`EntraWebhookTokens(tenant_id, client_id, authority_host).verify(authorization_header)` answers a
`WebhookCaller` or a `WebhookTokenRejected` naming why. Accepted only when all hold:

- the header is `Bearer <jwt>` and the JWT's header says `alg: RS256` (checked before any key is
  fetched: `none`, HS256 and every other algorithm are refused, so a token signed with a shared
  secret or with nothing cannot pass as one signed by Entra);
- the signature verifies against the tenant's published keys,
  `{AZURE_AUTHORITY_HOST}/{AZURE_TENANT_ID}/discovery/v2.0/keys`, fetched with PyJWT's
  `PyJWKClient` (the key set cached five minutes, keys by `kid`; an unknown `kid` refetches at
  most once per cooldown);
- `exp`, `nbf` and `iat` are present and `exp` / `nbf` hold, with five minutes of clock skew (what
  Microsoft's own token libraries allow);
- `aud` is `AZURE_CLIENT_ID` (the publisher's app registration named in the offer's technical
  configuration) and `tid` is `AZURE_TENANT_ID`: Entra signs every tenant's tokens with the same
  keys, so only these tell a token for us from any other Entra token;
- the calling app is the marketplace's, `20e940b3-4c77-4b0b-9a53-9e16a1b010a7`: claim `appid` in
  v1 tokens, `azp` in v2 (`ver` says which);
- `iss` is `https://sts.windows.net/{tenant}/` (v1) or `{AZURE_AUTHORITY_HOST}/{tenant}/v2.0` (v2).

PyJWT is imported on the first call, not with this module: the API function's cold start is
benched, and only the webhook route needs it. When the key set cannot be fetched the call raises
`RetryableError` (our outage, not a forged token: the route answers 503 and Microsoft retries).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from shared.adapters.entra_authority import MARKETPLACE_APP_ID, authority_url
from shared.ports.errors import RetryableError

if TYPE_CHECKING:
    from jwt import PyJWKClient

CLOCK_SKEW_SECONDS = 300
KEYS_LIFESPAN_SECONDS = 300
FETCH_TIMEOUT_SECONDS = 5

Rejection = Literal[
    "no_token", "malformed", "algorithm", "unknown_key", "signature", "expired", "not_yet_valid", "audience",
    "tenant", "app", "issuer",
]  # fmt: skip


@dataclass(frozen=True)
class WebhookCaller:
    """Who called, from a verified token."""

    tenant_id: str
    app_id: str
    version: Literal["1.0", "2.0"]
    issuer: str
    expires_at: datetime


@dataclass(frozen=True)
class WebhookTokenRejected:
    reason: Rejection
    message: str  # says what was wrong, never the token itself


class EntraWebhookTokens:
    def __init__(self, tenant_id: str, client_id: str, authority_host: str = "login.microsoftonline.com",
                 *, jwks_client: PyJWKClient | None = None) -> None:  # fmt: skip
        self.tenant_id = tenant_id
        self.client_id = client_id
        authority = authority_url(authority_host)
        self.jwks_url = f"{authority}/{tenant_id}/discovery/v2.0/keys"
        self.issuers = {"1.0": f"https://sts.windows.net/{tenant_id}/", "2.0": f"{authority}/{tenant_id}/v2.0"}
        self._jwks = jwks_client

    def verify(self, authorization: str | None) -> WebhookCaller | WebhookTokenRejected:
        import jwt  # noqa: PLC0415 - lazy: the API's cold start does not pay for PyJWT (module docstring)

        scheme, _, token = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return WebhookTokenRejected("no_token", "the request carries no Authorization: Bearer token")
        token = token.strip()
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError:
            return WebhookTokenRejected("malformed", "the bearer token is not a JWT")
        if header.get("alg") != "RS256":
            return WebhookTokenRejected(
                "algorithm", f"the token's algorithm is {header.get('alg')!r}; only RS256 is accepted"
            )
        try:
            key = self._client().get_signing_key_from_jwt(token)
        except jwt.PyJWKClientConnectionError as error:
            raise RetryableError(f"Microsoft Entra ID's signing keys could not be fetched ({error})") from error
        except (jwt.PyJWKClientError, jwt.DecodeError):
            return WebhookTokenRejected("unknown_key", "the token names a signing key the tenant does not publish")
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key.key, algorithms=["RS256"], audience=self.client_id, leeway=CLOCK_SKEW_SECONDS,
                options={"require": ["exp", "nbf", "iat", "aud", "iss", "tid"], "verify_iss": False},
            )  # fmt: skip
        except jwt.InvalidSignatureError:
            return WebhookTokenRejected("signature", "the token's signature does not verify with the tenant's keys")
        except jwt.ExpiredSignatureError:
            return WebhookTokenRejected("expired", "the token has expired")
        except jwt.ImmatureSignatureError:
            return WebhookTokenRejected("not_yet_valid", "the token is not valid yet (nbf or iat in the future)")
        except jwt.InvalidAudienceError:
            return WebhookTokenRejected("audience", "the token is not for this app (aud is not AZURE_CLIENT_ID)")
        except jwt.MissingRequiredClaimError as error:
            return WebhookTokenRejected("malformed", f"the token has no {error.claim} claim")
        except jwt.InvalidTokenError as error:
            return WebhookTokenRejected("malformed", f"the token is not valid ({type(error).__name__})")
        return self._caller(claims)

    def _caller(self, claims: dict[str, Any]) -> WebhookCaller | WebhookTokenRejected:
        if claims.get("tid") != self.tenant_id:
            return WebhookTokenRejected(
                "tenant", "the token was issued for another tenant (tid is not AZURE_TENANT_ID)"
            )
        version: Literal["1.0", "2.0"] = "2.0" if claims.get("ver") == "2.0" else "1.0"
        app_claim = "azp" if version == "2.0" else "appid"
        if claims.get(app_claim) != MARKETPLACE_APP_ID:
            return WebhookTokenRejected(
                "app", f"the token's {app_claim} is not the Azure Marketplace's app ({MARKETPLACE_APP_ID})"
            )
        if claims.get("iss") != self.issuers[version]:
            return WebhookTokenRejected("issuer", f"the token's iss is not {self.issuers[version]}")
        return WebhookCaller(
            self.tenant_id, MARKETPLACE_APP_ID, version, self.issuers[version],
            datetime.fromtimestamp(int(claims["exp"]), UTC),
        )  # fmt: skip

    def _client(self) -> PyJWKClient:
        if self._jwks is None:
            from jwt import PyJWKClient  # noqa: PLC0415 - lazy, as above

            self._jwks = PyJWKClient(self.jwks_url, cache_keys=True, lifespan=KEYS_LIFESPAN_SECONDS,
                                     timeout=FETCH_TIMEOUT_SECONDS)  # fmt: skip
        return self._jwks
