"""Microsoft Entra names both Azure Marketplace adapters and the webhook verifier use (no SDK
imports: the API's cold start loads this for the webhook's token check).

`MARKETPLACE_APP_ID` is the marketplace API's own application: the resource metering and
fulfillment tokens are for, and the app (`appid` / `azp`) that calls a publisher's SaaS webhook.
"""

from __future__ import annotations

MARKETPLACE_APP_ID = "20e940b3-4c77-4b0b-9a53-9e16a1b010a7"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def authority_url(authority_host: str) -> str:
    """`AZURE_AUTHORITY_HOST` as a URL without a trailing slash (azure-identity's default,
    "login.microsoftonline.com", has no scheme)."""
    authority = authority_host if "://" in authority_host else f"https://{authority_host}"
    return authority.rstrip("/")
