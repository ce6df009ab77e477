"""Marketplace registrations: a buyer who landed from a marketplace, waiting to be linked to a
customer (docs/listings.md). No I/O here.

A registration is `pending` until the seller completes it (linking an existing customer or
creating one: `completed`), or until the marketplace says the subscription failed (`failed`). Its
`identifiers` are named as the configuration keys they become.

Buyers are found again by their marketplace identity (`buyer_partitions`): the AWS account (agreement
and licence events name it), the legacy product code + customer identifier (SNS actions), the Azure
SaaS subscription. The same account + licence (or legacy identifier, or Azure subscription) landing
again is the same registration (`buyer_claim`).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from shared.domain.id_keys import digest
from shared.domain.providers import (
    MAX_QUANTITY,
    AwsMarketplaceConfiguration,
    AwsMarketplaceProviderConfiguration,
    AzureMarketplaceConfiguration,
    AzureMarketplaceProviderConfiguration,
    ProviderConfiguration,
)
from shared.domain.subscriptions import created_through_api
from shared.domain.types import Identifier, Timestamp

RegistrationStatus = Literal["pending", "completed", "failed"]
MarketplaceName = Literal["aws_marketplace", "azure_marketplace"]
REGISTRATION_STATUSES: tuple[RegistrationStatus, ...] = ("pending", "completed", "failed")
Text = Annotated[str, Field(min_length=1, max_length=1024)]
_LICENCE_ID = re.compile(r"(?:^|[:/])(l-[A-Za-z0-9]+)$")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class AwsIdentifiers(_Frozen):
    aws_customer_account_id: Text | None = None
    aws_license_arn: Text | None = None
    aws_product_code: Text
    aws_customer_id: Text | None = None  # legacy products only
    aws_agreement_id: Text | None = None


class AzureIdentifiers(_Frozen):
    azure_subscription_id: Text
    azure_plan_id: Text
    azure_quantity: Annotated[StrictInt, Field(ge=1, le=MAX_QUANTITY)] | None = None
    azure_offer_id: Text | None = None
    purchaser_email: Text | None = None
    beneficiary_email: Text | None = None


class Registration(_Frozen):
    id: Identifier
    provider: MarketplaceName
    status: RegistrationStatus = "pending"
    created_at: Timestamp
    completed_at: Timestamp | None = None
    customer_id: Identifier | None = None
    reason: Text | None = None
    identifiers: AwsIdentifiers | AzureIdentifiers


def full_licence_arn(value: str) -> str:
    """A licence ARN in full `arn:…` form: AWS's own event examples print it without `arn:`, and
    BatchMeterUsage needs the whole ARN."""
    return value if value.startswith("arn:") else f"arn:{value}"


def licence_id(arn: str | None) -> str | None:
    """The licence id (`l-…`) at the end of a licence ARN: what licence events match on."""
    found = _LICENCE_ID.search(arn or "")
    return found.group(1) if found else None


def aws_partitions(
    account: str | None, product_code: str | None = None, customer_identifier: str | None = None
) -> list[str]:
    partitions = []
    if account:
        partitions.append(f"aws#{account}")
    if product_code and customer_identifier:
        partitions.append(f"aws-legacy#{product_code}#{customer_identifier}")
    return partitions


def identifier_partitions(identifiers: AwsIdentifiers | AzureIdentifiers) -> list[str]:
    if isinstance(identifiers, AzureIdentifiers):
        return [f"azure#{identifiers.azure_subscription_id}"]
    return aws_partitions(
        identifiers.aws_customer_account_id, identifiers.aws_product_code, identifiers.aws_customer_id
    )


def configuration_partitions(configuration: ProviderConfiguration) -> list[str]:
    """Where lifecycle events find the customer holding `configuration` (none for Stripe)."""
    if isinstance(configuration, AzureMarketplaceProviderConfiguration):
        return [f"azure#{configuration.configuration.azure_subscription_id}"]
    if isinstance(configuration, AwsMarketplaceProviderConfiguration):
        aws = configuration.configuration
        return aws_partitions(aws.aws_customer_account_id, aws.aws_product_code, aws.aws_customer_id)
    return []


def buyer_claim(identifiers: AwsIdentifiers | AzureIdentifiers) -> tuple[str, str]:
    """(partition, claim) that makes one registration per buyer: account + licence, else the
    legacy identifier, else the Azure subscription."""
    if isinstance(identifiers, AwsIdentifiers) and identifiers.aws_customer_account_id:
        held = identifiers.aws_license_arn or f"product:{identifiers.aws_product_code}"
        return f"aws#{identifiers.aws_customer_account_id}", digest(held)
    return identifier_partitions(identifiers)[0], "-"


def configuration_of(registration: Registration, *, aws_region: str, at: datetime) -> ProviderConfiguration:
    """The marketplace configuration a completed registration gives its customer (`active`)."""
    subscription = created_through_api(at)
    identifiers = registration.identifiers
    if isinstance(identifiers, AwsIdentifiers):
        return AwsMarketplaceProviderConfiguration(
            billing_provider="aws_marketplace",
            configuration=AwsMarketplaceConfiguration(
                aws_product_code=identifiers.aws_product_code,
                aws_region=aws_region,
                aws_customer_id=identifiers.aws_customer_id,
                # Licence-based metering needs both; an account alone (a legacy product) meters by
                # its customer identifier.
                aws_customer_account_id=identifiers.aws_customer_account_id if identifiers.aws_license_arn else None,
                aws_license_arn=identifiers.aws_license_arn if identifiers.aws_customer_account_id else None,
                aws_agreement_id=identifiers.aws_agreement_id,
            ),
            subscription=subscription,
        )
    return AzureMarketplaceProviderConfiguration(
        billing_provider="azure_marketplace",
        configuration=AzureMarketplaceConfiguration(
            azure_subscription_id=identifiers.azure_subscription_id,
            azure_plan_id=identifiers.azure_plan_id,
            azure_quantity=identifiers.azure_quantity,
        ),
        subscription=subscription,
    )
