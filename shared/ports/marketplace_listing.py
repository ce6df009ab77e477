"""What the marketplace landings and the Azure webhook call at the marketplace (docs/listings.md):
AWS's ResolveCustomer; the Azure SaaS Fulfillment API's resolve, activate, operation and
acknowledge, and the check of the webhook's Microsoft Entra token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from shared.ports.errors import PermanentError

if TYPE_CHECKING:
    from shared.domain.azure_operations import AzureOperation


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


class ResolvedAzureSubscription(Protocol):
    """Resolve's answer: the SaaS subscription behind a landing token."""

    @property
    def subscription_id(self) -> str: ...
    @property
    def offer_id(self) -> str: ...
    @property
    def plan_id(self) -> str: ...
    @property
    def quantity(self) -> int | None: ...
    @property
    def purchaser_email(self) -> str | None: ...
    @property
    def beneficiary_email(self) -> str | None: ...


class AzureOperationNotFound(PermanentError):
    """Microsoft holds no such SaaS subscription or operation."""


class AzureFulfillment(Protocol):
    """Azure's SaaS Fulfillment API v2. RetryableError for throttling, 5xx and no answer."""

    def resolve(self, marketplace_token: str) -> ResolvedAzureSubscription:
        """InvalidLandingToken (field `token`) for a missing, malformed, invalid or expired token."""
        ...

    def activate(self, subscription_id: str, plan_id: str, quantity: int | None) -> None:
        """ActivationFailed when Microsoft refuses (safe to repeat)."""
        ...

    def operation(self, subscription_id: str, operation_id: str) -> AzureOperation:
        """AzureOperationNotFound when Microsoft holds no such operation."""
        ...

    def acknowledge(self, subscription_id: str, operation_id: str) -> Literal["acknowledged", "already_settled"]:
        """PATCH the operation `{"status": "Success"}`."""
        ...


class WebhookTokenRefused(Exception):
    """The Azure webhook's bearer token failed a check (401); the message says which, never the token."""


class AzureWebhookTokens(Protocol):
    def check(self, authorization: str | None) -> None:
        """WebhookTokenRefused unless the `Authorization` header holds a Microsoft Entra token for
        this app from the marketplace; RetryableError when the tenant's keys cannot be fetched."""
        ...
