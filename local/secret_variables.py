"""Which of a function's environment variables are secrets: the local stack never serves them.

`GET /_local/env/<function>` (what `downbeat invoke` reads) serves the other settings and names
the variables it withheld; `downbeat invoke` fills those from its own environment, else the
local defaults. A variable is withheld when any of these holds:

- its name says it is a secret: a part of it (split at `_`) is KEY, KEYS, APIKEY, PASS, or it
  contains SECRET, TOKEN, PASSWORD, PASSWD, PASSPHRASE, CREDENTIAL or PRIVATE — STRIPE_API_KEY,
  DOWNBEAT_API_TOKEN, WEBHOOK_SECRET, DASHBOARD_SIGNING_SECRET, AZURE_CLIENT_SECRET, AWS_SECRET_ACCESS_KEY,
  AWS_SESSION_TOKEN, AWS_ACCESS_KEY_ID, and the names of Secrets Manager secrets
  (STRIPE_SECRET_NAME, API_TOKEN_SECRET_NAME, DASHBOARD_SIGNING_SECRET_NAME: with one, a handler
  reads the stack's secret);
- its value holds the value of a secret (a variable withheld by name, or a value the stack put in
  a Secrets Manager secret), so a secret under an innocent name is withheld too;
- its value is a CloudFormation dynamic reference to a secret (`{{resolve:secretsmanager:…}}`).

The one exception is boto3's endpoint variables (`AWS_ENDPOINT_URL_SECRETS_MANAGER` is a URL).
A false positive only means `invoke` takes that variable from its own environment; a false
negative would hand a secret to whoever asks, so the rule errs on the first side.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

SECRET_WORDS = ("SECRET", "TOKEN", "PASSWORD", "PASSWD", "PASSPHRASE", "CREDENTIAL", "PRIVATE")
SECRET_PARTS = frozenset({"KEY", "KEYS", "APIKEY", "PASS"})
NEVER_SECRET_PREFIXES = ("AWS_ENDPOINT_URL",)  # boto3's endpoints: URLs, whatever service they name
DYNAMIC_SECRET_REFERENCE = "{{resolve:secretsmanager:"
# Shorter values would match ordinary settings by chance (the dummy AWS credentials are "testing").
MIN_SECRET_VALUE_LENGTH = 8


def is_secret_name(name: str) -> bool:
    upper = name.upper()
    if upper.startswith(NEVER_SECRET_PREFIXES):
        return False
    return any(word in upper for word in SECRET_WORDS) or bool(SECRET_PARTS & set(upper.split("_")))


def split_environment(
    environment: Mapping[str, str], secret_values: Iterable[str] = ()
) -> tuple[dict[str, str], list[str]]:
    """(the settings that may be served, the names withheld), by the rules above."""
    known = {value for value in secret_values if len(value) >= MIN_SECRET_VALUE_LENGTH}
    known |= {
        value for name, value in environment.items() if is_secret_name(name) and len(value) >= MIN_SECRET_VALUE_LENGTH
    }
    served: dict[str, str] = {}
    withheld: list[str] = []
    for name, value in environment.items():
        secret = (
            is_secret_name(name)
            or DYNAMIC_SECRET_REFERENCE in value
            or any(secret_value in value for secret_value in known)
        )
        if secret:
            withheld.append(name)
        else:
            served[name] = value
    return served, sorted(withheld)
