"""The AWS Marketplace double's `ResolveCustomer`: registration tokens it issues, and how it
resolves them (local/aws_metering_double.py serves it).

Shapes and errors are botocore's model (`meteringmarketplace/2016-01-14/service-2.json`):
`ResolveCustomerRequest` (`RegistrationToken`, required, non-empty), `ResolveCustomerResult`
(`CustomerIdentifier` — legacy products only —, `ProductCode`, `CustomerAWSAccountId`,
`LicenseArn`, `Metadata.AgreementId`), and the errors `InvalidTokenException` (a token it never
issued) and `ExpiredTokenException` ("the buyer's browser takes too long …, the buyer has
resubmitted the registration token": past its lifetime, or resolved once already). Where the
sources are silent the double chooses: a token lives `DEFAULT_TTL_SECONDS`, and both refusals
are HTTP 400.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from local.aws_metering_model import JSON, AwsError, validation

DEFAULT_TTL_SECONDS = 600


@dataclass
class IssuedToken:
    product_code: str
    account_id: str | None
    license_arn: str | None
    customer_identifier: str | None
    agreement_id: str | None
    expires_at: float
    resolved: bool = False


class RegistrationTokens:
    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.tokens: dict[str, IssuedToken] = {}

    def reset(self) -> None:
        self.tokens.clear()

    def issue(
        self,
        product_code: str,
        *,
        account_id: str | None = None,
        license_arn: str | None = None,
        customer_identifier: str | None = None,
        agreement_id: str | None = None,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
    ) -> str:
        """A token the double will resolve to this buyer (opaque text, as AWS's are)."""
        token = "mp-" + secrets.token_urlsafe(48)
        expires = self.clock() + ttl_seconds
        self.tokens[token] = IssuedToken(
            product_code, account_id, license_arn, customer_identifier, agreement_id, expires
        )
        return token

    def resolve(self, payload: JSON) -> JSON:
        token = payload.get("RegistrationToken")
        if not isinstance(token, str) or not token:
            raise validation("1 validation error detected: Value at 'registrationToken' failed to satisfy constraint")
        issued = self.tokens.get(token)
        if issued is None:
            raise AwsError(400, "InvalidTokenException", "Registration token is invalid.")
        if issued.resolved or self.clock() >= issued.expires_at:
            raise AwsError(400, "ExpiredTokenException", "Registration token has expired.")
        issued.resolved = True
        result: JSON = {"ProductCode": issued.product_code}
        if issued.customer_identifier is not None:
            result["CustomerIdentifier"] = issued.customer_identifier
        if issued.account_id is not None:
            result["CustomerAWSAccountId"] = issued.account_id
        if issued.license_arn is not None:
            result["LicenseArn"] = issued.license_arn
        if issued.agreement_id is not None:
            result["Metadata"] = {"AgreementId": issued.agreement_id}
        return result
