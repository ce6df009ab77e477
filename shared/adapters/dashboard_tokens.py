"""Dashboard link tokens: a JWT (HS256, PyJWT) over one customer's dashboard grant.

Kept out of shared/domain (which imports no SDK) and imported by the dashboard service on the
first dashboard request, so the API's cold start does not load PyJWT for every other route.
"""

from __future__ import annotations

import binascii
import re
from datetime import UTC, datetime
from typing import cast

import jwt
from jwt.utils import base64url_decode, base64url_encode

from shared.domain.dashboards import DASHBOARDS, Dashboard, DashboardGrant, LinkRefused

ALGORITHM = "HS256"
# A token signed with the same key for any other purpose is not a dashboard link.
AUDIENCE = "downbeat-dashboard"
# A link of the longest customer id (256 characters, 4 UTF-8 bytes each) is about 2 KB of token.
MAX_TOKEN_LENGTH = 4096
MIN_KEY_BYTES = 32  # HS256 wants a key at least as long as its hash
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


def _key_bytes(key: str) -> bytes:
    raw = key.encode("utf-8")
    if len(raw) < MIN_KEY_BYTES:
        raise ValueError(f"the dashboard signing secret must be at least {MIN_KEY_BYTES} bytes")
    return raw


def sign(grant: DashboardGrant, key: str) -> str:
    claims = {
        "aud": AUDIENCE,
        "sub": grant.customer_id,
        "dsh": grant.dashboard,
        "iat": int(grant.issued_at.timestamp()),
        "exp": int(grant.expires_at.timestamp()),
    }
    return jwt.encode(claims, _key_bytes(key), algorithm=ALGORITHM)


def verify(token: str | None, key: str, now: datetime) -> DashboardGrant:
    """The grant a link's token carries, or LinkRefused.

    Only HS256 under `key` is accepted (a token that names another algorithm, `none` included, is
    refused before its signature is looked at). Expiry is judged against `now` — the caller's
    clock — rather than PyJWT's own reading of the system time.
    """
    if not token:
        raise LinkRefused("this dashboard link has no token; ask for a new link")
    if len(token) > MAX_TOKEN_LENGTH or not _canonical(token):
        raise LinkRefused("this dashboard link is not valid; ask for a new link")
    try:
        claims = jwt.decode(
            token,
            _key_bytes(key),
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            options={"require": ["aud", "sub", "dsh", "iat", "exp"], "verify_exp": False, "verify_iat": False},
        )
    except jwt.InvalidTokenError:
        raise LinkRefused("this dashboard link is not valid; ask for a new link") from None
    customer_id, dashboard, issued, expires = claims["sub"], claims["dsh"], claims["iat"], claims["exp"]
    if (
        not isinstance(customer_id, str)
        or not customer_id
        or dashboard not in DASHBOARDS
        or not all(isinstance(value, int) and not isinstance(value, bool) for value in (issued, expires))
        or not 0 <= issued <= expires < 2**37
    ):
        # Signed with our key, so issued by us; only a change of this module could make one.
        raise LinkRefused("this dashboard link is not valid; ask for a new link")
    expires_at = datetime.fromtimestamp(expires, UTC)
    if now >= expires_at:
        raise LinkRefused(f"this dashboard link expired at {expires_at:%Y-%m-%dT%H:%M:%SZ}; ask for a new link")
    return DashboardGrant(customer_id, cast(Dashboard, dashboard), datetime.fromtimestamp(issued, UTC), expires_at)


def _canonical(token: str) -> bool:
    """Whether each part of the token is base64url written the one way it encodes: a last
    character's unused low bits could otherwise be changed and the token still verify."""
    parts = token.split(".")
    if len(parts) != 3 or not all(_BASE64URL.fullmatch(part) for part in parts):
        return False
    try:
        return all(base64url_encode(base64url_decode(part)).decode("ascii") == part for part in parts)
    except (ValueError, binascii.Error):
        return False
