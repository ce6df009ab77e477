"""An Entra-style token issuer for the Azure double: an RSA key made at start-up, its JWKS, and
the bearer JWT Microsoft puts on each SaaS webhook call.

Microsoft's webhook page asks publishers to validate that token like any Entra access token
(https://learn.microsoft.com/partner-center/marketplace-offers/pc-saas-fulfillment-webhook;
claims: https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference). What
is minted here follows those claim sets:

- v1: `ver` "1.0", `iss` `https://sts.windows.net/{tenant}/` (the same string in every cloud and
  locally), `appid` = the marketplace's app `20e940b3-4c77-4b0b-9a53-9e16a1b010a7`, `appidacr`;
- v2: `ver` "2.0", `iss` `{authority}/{tenant}/v2.0`, `azp` = that app, `azpacr`;
- both: `aud` (the publisher's app id, `AZURE_CLIENT_ID`), `tid`, `iat`, `nbf`, `exp` (an hour),
  `oid`, `sub`, `uti`, `rh`; header `typ` JWT, `alg` RS256, `kid` naming the key (and the legacy
  `x5t`, the same value, in v1 tokens only).

The JWKS (`{authority}/{tenant}/discovery/v2.0/keys`) carries `kty`, `use`, `kid`, `x5t`, `n`,
`e`, `x5c` (a self-signed certificate for the key) and `issuer`, as Entra's does. Tokens are
signed with PyJWT, never by hand. `flaw` mints the bad ones a verifier must refuse: signed with
another key under the same `kid`, another audience, another tenant (signed with the good key:
Entra's signing keys are shared by all tenants, so only `tid` / `iss` tell tenants apart),
another calling app, expired, not yet valid, HS256, or no signature at all (`alg: none`).
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import secrets
import uuid
from collections.abc import Callable
from typing import Any, Literal

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

MARKETPLACE_APP_ID = "20e940b3-4c77-4b0b-9a53-9e16a1b010a7"
TOKEN_LIFETIME_SECONDS = 3600
Flaw = Literal[
    "wrong_key", "unknown_key", "wrong_audience", "wrong_tenant", "wrong_app", "wrong_issuer", "expired",
    "not_yet_valid", "hs256", "none",
]  # fmt: skip
FLAWS: tuple[Flaw, ...] = ("wrong_key", "unknown_key", "wrong_audience", "wrong_tenant", "wrong_app",
                           "wrong_issuer", "expired", "not_yet_valid", "hs256", "none")  # fmt: skip


def v1_issuer(tenant_id: str) -> str:
    return f"https://sts.windows.net/{tenant_id}/"


class EntraIssuer:
    """`authority` is a callable because the double knows its URL only once it listens."""

    def __init__(self, tenant_id: str, authority: Callable[[], str], clock: Callable[[], float]) -> None:
        self.tenant_id = tenant_id
        self._authority = authority
        self._clock = clock
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._certificate = _self_signed(self._key)
        der = self._certificate.public_bytes(serialization.Encoding.DER)
        self.kid = _b64url(hashlib.sha1(der, usedforsecurity=False).digest())  # Entra's kid is the x5t
        self._der = der

    @functools.cached_property
    def _other_key(self) -> rsa.RSAPrivateKey:
        """A key Entra never published (made only when a test asks for a forged token)."""
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def v2_issuer(self, tenant_id: str | None = None) -> str:
        return f"{self._authority().rstrip('/')}/{tenant_id or self.tenant_id}/v2.0"

    def jwks(self) -> dict[str, Any]:
        numbers = self._key.public_key().public_numbers()
        return {
            "keys": [
                {
                    "kty": "RSA",
                    "use": "sig",
                    "kid": self.kid,
                    "x5t": self.kid,
                    "n": _b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
                    "e": _b64url(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
                    "x5c": [base64.b64encode(self._der).decode()],
                    "issuer": self.v2_issuer(),
                }
            ]
        }

    def claims(self, audience: str, *, version: Literal[1, 2] = 1, flaw: Flaw | None = None) -> dict[str, Any]:
        now = int(self._clock())
        tenant = str(uuid.uuid4()) if flaw == "wrong_tenant" else self.tenant_id
        app = str(uuid.uuid4()) if flaw == "wrong_app" else MARKETPLACE_APP_ID
        issued = now - 2 * TOKEN_LIFETIME_SECONDS if flaw == "expired" else now
        if flaw == "not_yet_valid":
            issued = now + 600
        claims: dict[str, Any] = {
            "aud": str(uuid.uuid4()) if flaw == "wrong_audience" else audience,
            "iat": issued,
            "nbf": issued,
            "exp": issued + TOKEN_LIFETIME_SECONDS,
            "oid": str(uuid.uuid5(uuid.NAMESPACE_OID, app)),
            "sub": str(uuid.uuid5(uuid.NAMESPACE_OID, app)),
            "tid": tenant,
            "uti": secrets.token_urlsafe(16),
            "rh": "0.local-double.",
        }
        if version == 1:
            claims |= {"iss": v1_issuer(tenant), "ver": "1.0", "appid": app, "appidacr": "2",
                       "idp": v1_issuer(tenant)}  # fmt: skip
        else:
            claims |= {"iss": self.v2_issuer(tenant), "ver": "2.0", "azp": app, "azpacr": "2"}
        if flaw == "wrong_issuer":
            claims["iss"] = f"https://issuer.invalid/{tenant}/"
        return claims

    def webhook_token(self, audience: str, *, version: Literal[1, 2] = 1, flaw: Flaw | None = None) -> str:
        """The `Authorization: Bearer` value of a webhook call, good or with one `flaw`."""
        if flaw is not None and flaw not in FLAWS:
            raise ValueError(f"unknown flaw {flaw!r}; one of {', '.join(FLAWS)}")
        claims = self.claims(audience, version=version, flaw=flaw)
        headers = {"typ": "JWT", "kid": self.kid} | ({"x5t": self.kid} if version == 1 else {})  # x5t: v1 only
        if flaw == "hs256":
            return jwt.encode(claims, secrets.token_bytes(32), algorithm="HS256", headers=headers)
        if flaw == "none":
            return jwt.encode(claims, "", algorithm="none", headers=headers)
        key = self._other_key if flaw in ("wrong_key", "unknown_key") else self._key
        if flaw == "unknown_key":
            headers["kid"] = "unknown-kid"
        return jwt.encode(claims, key, algorithm="RS256", headers=headers)


def _self_signed(key: rsa.RSAPrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "downbeat local Entra signing key")])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
