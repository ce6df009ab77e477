"""An Azure SaaS Fulfillment API and webhook token check in memory (the ports of
shared/ports/marketplace_listing.py), for tests that call the API's handler without the double."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from shared.domain.azure_operations import AzureOperation
from shared.ports.marketplace_listing import (
    ActivationFailed,
    AzureOperationNotFound,
    InvalidLandingToken,
    WebhookTokenRefused,
)


@dataclass(frozen=True)
class FakeSubscription:
    subscription_id: str
    plan_id: str = "gold"
    quantity: int | None = None
    offer_id: str = "downbeat"
    purchaser_email: str | None = "purchaser@example.com"
    beneficiary_email: str | None = "beneficiary@example.com"


@dataclass
class FakeAzureFulfillment:
    tokens: dict[str, FakeSubscription] = field(default_factory=dict)  # landing token → purchase
    operations: dict[tuple[str, str], AzureOperation] = field(default_factory=dict)
    refuse_activation: str | None = None
    activated: list[tuple[str, str, int | None]] = field(default_factory=list)
    acknowledged: list[str] = field(default_factory=list)

    def resolve(self, marketplace_token: str) -> FakeSubscription:
        if marketplace_token not in self.tokens:
            raise InvalidLandingToken("token", "Azure Marketplace refused the landing token", code="400")
        return self.tokens[marketplace_token]

    def activate(self, subscription_id: str, plan_id: str, quantity: int | None) -> None:
        if self.refuse_activation:
            raise ActivationFailed(self.refuse_activation)
        self.activated.append((subscription_id, plan_id, quantity))

    def operation(self, subscription_id: str, operation_id: str) -> AzureOperation:
        found = self.operations.get((subscription_id, operation_id))
        if found is None:
            raise AzureOperationNotFound(f"no operation {operation_id}", code="404")
        return found

    def acknowledge(self, subscription_id: str, operation_id: str) -> Literal["acknowledged", "already_settled"]:
        self.acknowledged.append(operation_id)
        return "acknowledged"


@dataclass
class FakeWebhookTokens:
    """Accepts exactly `Bearer <accepted>`."""

    accepted: str

    def check(self, authorization: str | None) -> None:
        if authorization != f"Bearer {self.accepted}":
            raise WebhookTokenRefused("the token is not one this fake accepts")
