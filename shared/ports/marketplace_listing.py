"""What the marketplace landings call at the marketplace (docs/listings.md): AWS's ResolveCustomer
today, the Azure fulfillment API's resolve and activate next."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from shared.ports.errors import PermanentError


class InvalidLandingToken(PermanentError):
    """The marketplace refused the buyer's token (invalid or expired): a 400 naming `field`."""

    def __init__(self, field: str, message: str, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.field = field


class ActivationFailed(Exception):
    """The marketplace refused to activate a subscription; `reason` is kept on the registration."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ResolvedAwsCustomer:
    """ResolveCustomer's answer (botocore's `ResolveCustomerResult`)."""

    product_code: str
    customer_aws_account_id: str | None
    license_arn: str | None
    agreement_id: str | None
    customer_identifier: str | None  # legacy products only


class AwsCustomerResolver(Protocol):
    def resolve_customer(self, token: str) -> ResolvedAwsCustomer:
        """InvalidLandingToken for an invalid or expired token; RetryableError for throttling and
        5xx (nothing is stored then); PermanentError otherwise."""
        ...
