"""Checks an AWS Signature Version 4 `Authorization` header the way an AWS endpoint does.

Written from the published algorithm (https://docs.aws.amazon.com/IAM/latest/UserGuide/
reference_sigv4-create-signed-request.html), not from botocore's signer, so a test that passes
proves botocore and the double agree on the wire rather than sharing code. The refusals carry
AWS's own error codes and (paraphrased) messages: `MissingAuthenticationTokenException`,
`IncompleteSignatureException`, `InvalidSignatureException` (wrong service or region in the
credential scope, a clock more than 15 minutes off, a signature that does not match),
`UnrecognizedClientException` (an access key the double does not know, when it knows keys).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW = timedelta(minutes=15)
_FIELD = re.compile(r"(Credential|SignedHeaders|Signature)=([^,\s]+)")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d+")


@dataclass(frozen=True)
class SignatureRefusal(Exception):
    status: int
    code: str
    message: str


@dataclass(frozen=True)
class SignedBy:
    access_key: str
    region: str
    service: str


def check_sigv4(
    *,
    method: str,
    path: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    body: bytes,
    service: str,
    now: datetime,
    credentials: Mapping[str, str] | None,
) -> SignedBy:
    """Who signed the request, or `SignatureRefusal`. `headers` have lower-case names.

    `credentials` maps access key ids to secret keys; with `None` every access key is taken on
    trust and only the form, the scope and the clock are checked (the signature cannot be).
    """
    authorization = headers.get("authorization", "")
    if not authorization:
        raise SignatureRefusal(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
    algorithm, _, rest = authorization.partition(" ")
    fields = dict(_FIELD.findall(rest))
    if algorithm != ALGORITHM or set(fields) != {"Credential", "SignedHeaders", "Signature"}:
        raise SignatureRefusal(
            400,
            "IncompleteSignatureException",
            f"Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' with {ALGORITHM}.",
        )
    scope_parts = fields["Credential"].split("/")
    if len(scope_parts) != 5 or scope_parts[4] != "aws4_request":
        raise SignatureRefusal(
            400,
            "IncompleteSignatureException",
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term.",
        )
    access_key, scope_date, region, scope_service, _ = scope_parts
    if scope_service != service:
        raise SignatureRefusal(
            403, "InvalidSignatureException", f"Credential should be scoped to correct service: '{service}'."
        )
    if not _REGION.fullmatch(region):
        raise SignatureRefusal(403, "InvalidSignatureException", "Credential should be scoped to a valid region.")
    amz_date = headers.get("x-amz-date", "")
    try:
        signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise SignatureRefusal(
            400,
            "IncompleteSignatureException",
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        ) from None
    if scope_date != amz_date[:8]:
        raise SignatureRefusal(
            403,
            "InvalidSignatureException",
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP.",
        )
    if abs(now - signed_at) > MAX_SKEW:
        raise SignatureRefusal(
            400,
            "InvalidSignatureException",
            f"Signature expired: {amz_date} is now earlier than {(now - MAX_SKEW):%Y%m%dT%H%M%SZ} "
            f"({now:%Y%m%dT%H%M%SZ} - 15 min.)",
        )
    signed_headers = fields["SignedHeaders"].split(";")
    if "host" not in signed_headers:
        raise SignatureRefusal(
            403, "InvalidSignatureException", "'Host' must be a 'SignedHeader' in the AWS Authorization."
        )
    if credentials is not None:
        secret = credentials.get(access_key)
        if secret is None:
            raise SignatureRefusal(
                400, "UnrecognizedClientException", "The security token included in the request is invalid."
            )
        expected = _signature(
            method, path, query, headers, body, signed_headers, amz_date, fields["Credential"], secret
        )
        if not hmac.compare_digest(expected, fields["Signature"]):
            raise SignatureRefusal(
                403,
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided. Check your AWS "
                "Secret Access Key and signing method. Consult the service documentation for details.",
            )
    return SignedBy(access_key, region, scope_service)


def _signature(
    method: str,
    path: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    body: bytes,
    signed_headers: list[str],
    amz_date: str,
    credential: str,
    secret: str,
) -> str:
    from urllib.parse import quote  # noqa: PLC0415 - only when a signature is checked

    canonical_query = "&".join(
        f"{quote(key, safe='-_.~')}={quote(value, safe='-_.~')}" for key, value in sorted(query.items())
    )
    canonical_headers = "".join(f"{name}:{' '.join(headers.get(name, '').split())}\n" for name in signed_headers)
    canonical_request = "\n".join(
        [
            method,
            quote(path or "/", safe="/-_.~"),
            canonical_query,
            canonical_headers,
            ";".join(signed_headers),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    _, scope_date, region, service, terminator = credential.split("/")
    scope = f"{scope_date}/{region}/{service}/{terminator}"
    string_to_sign = "\n".join([ALGORITHM, amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in (scope_date, region, service, terminator):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
