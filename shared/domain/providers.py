"""Billing provider configurations (DESIGN §3) and provider resolution.

A customer carries any number of configurations, at most one per provider and at most one
marked `default`; a contract may override which provider its invoices go to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    StrictBool,
    StrictInt,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticOmit

from shared.domain.subscriptions import Subscription, created_through_api
from shared.domain.types import BoundedInt
from shared.domain.validation import FieldError, invalid_field, shown

BillingProvider = Literal["stripe", "aws_marketplace", "azure_marketplace"]
DeliveryMethod = Literal["direct_to_billing_provider"]
NonEmpty = Annotated[str, Field(min_length=1, max_length=512)]
# Shapes of the providers' own identifiers, ASCII only (a regex `\d` would take any Unicode digit).
StripeCustomerId = Annotated[str, Field(pattern=r"^cus_[A-Za-z0-9_]+$", max_length=255)]
AwsAccountId = Annotated[str, Field(pattern=r"^[0-9]{12}$", description="12 ASCII digits")]
MAX_QUANTITY = 2_147_483_647  # what both marketplaces' quantities hold


class _OutputOnly:
    """Left out of the request bodies' JSON schema (a request that sends the field is refused), shown
    in the responses'."""

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        if handler.mode == "validation":
            raise PydanticOmit
        return handler(schema)


OUTPUT_ONLY = _OutputOnly()
READ_ONLY_SUBSCRIPTION = (
    "read-only: the marketplace subscription's state, set by downbeat (active when created through the API, then"
    " moved by the marketplace); a request that sends it is refused"
)
PROVIDERS: tuple[BillingProvider, ...] = ("stripe", "aws_marketplace", "azure_marketplace")


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class StripeConfiguration(_Strict):
    stripe_customer_id: StripeCustomerId
    stripe_collection_method: Literal["charge_automatically", "send_invoice"] = "charge_automatically"
    invoice_date: Literal["service_period_end", "finalization"] = "service_period_end"
    invoice_date_timezone: NonEmpty = "UTC"
    leave_as_draft: StrictBool = False
    days_until_due: BoundedInt = 30
    automatic_tax: StrictBool = False
    skip_below_minimum: StrictBool = False

    @field_validator("invoice_date_timezone")
    @classmethod
    def _iana_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a key too long for a file name
            raise ValueError(f"{shown(value)} is not an IANA time zone (e.g. America/New_York)") from None
        return value


class AwsMarketplaceConfiguration(_Strict):
    aws_product_code: NonEmpty
    aws_region: NonEmpty
    aws_customer_id: NonEmpty | None = None
    aws_customer_account_id: AwsAccountId | None = None
    aws_license_arn: NonEmpty | None = None
    aws_is_subscription_product: StrictBool = False
    aws_agreement_id: NonEmpty | None = None  # the agreement ResolveCustomer named (lifecycle events match it)

    @model_validator(mode="after")
    def _identifies_the_buyer(self) -> AwsMarketplaceConfiguration:
        if self.aws_customer_account_id is not None and self.aws_license_arn is None:
            raise invalid_field("aws_license_arn", "is required with aws_customer_account_id")
        if self.aws_customer_id is None and self.aws_customer_account_id is None:
            raise invalid_field("aws_customer_id", "is required (or aws_customer_account_id with aws_license_arn)")
        return self


class AzureMarketplaceConfiguration(_Strict):
    azure_subscription_id: NonEmpty
    azure_plan_id: NonEmpty
    azure_quantity: Annotated[StrictInt, Field(ge=1, le=MAX_QUANTITY)] | None = None


class StripeProviderConfiguration(_Strict):
    billing_provider: Literal["stripe"]
    delivery_method: DeliveryMethod = "direct_to_billing_provider"
    default: StrictBool = False
    configuration: StripeConfiguration


class AwsMarketplaceProviderConfiguration(_Strict):
    billing_provider: Literal["aws_marketplace"]
    delivery_method: DeliveryMethod = "direct_to_billing_provider"
    default: StrictBool = False
    configuration: AwsMarketplaceConfiguration
    subscription: Annotated[Subscription | None, OUTPUT_ONLY] = Field(default=None, description=READ_ONLY_SUBSCRIPTION)


class AzureMarketplaceProviderConfiguration(_Strict):
    billing_provider: Literal["azure_marketplace"]
    delivery_method: DeliveryMethod = "direct_to_billing_provider"
    default: StrictBool = False
    configuration: AzureMarketplaceConfiguration
    subscription: Annotated[Subscription | None, OUTPUT_ONLY] = Field(default=None, description=READ_ONLY_SUBSCRIPTION)


ProviderConfiguration = Annotated[
    StripeProviderConfiguration | AwsMarketplaceProviderConfiguration | AzureMarketplaceProviderConfiguration,
    Field(discriminator="billing_provider"),
]


class ContractProviderOverride(_Strict):
    """A contract's `billing_provider_configuration`: which of the customer's providers to use."""

    billing_provider: BillingProvider
    delivery_method: DeliveryMethod = "direct_to_billing_provider"


def check_configuration_set(
    configurations: Sequence[ProviderConfiguration], field: str = "billing_provider_configurations"
) -> None:
    """At most one configuration per provider and at most one default; raises FieldError."""
    seen: set[str] = set()
    default_seen = False
    for index, configuration in enumerate(configurations):
        if configuration.billing_provider in seen:
            raise FieldError(
                f"{field}.{index}.billing_provider",
                f"a {configuration.billing_provider} configuration already exists for this customer",
            )
        seen.add(configuration.billing_provider)
        if configuration.default:
            if default_seen:
                raise FieldError(f"{field}.{index}.default", "another configuration is already the default")
            default_seen = True


def with_configuration(
    configurations: list[ProviderConfiguration], configuration: ProviderConfiguration
) -> list[ProviderConfiguration]:
    """Add `configuration`, or replace the one for the same provider in place.

    A new default while another provider's configuration is the default is refused (field
    `default`): which provider an invoice goes to never changes as a side effect.
    """
    provider = configuration.billing_provider
    if configuration.default:
        for other in configurations:
            if other.default and other.billing_provider != provider:
                raise FieldError(
                    "default",
                    f"the {other.billing_provider} configuration is already the default; set it again with"
                    ' "default": false first',
                )
    if any(existing.billing_provider == provider for existing in configurations):
        return [configuration if existing.billing_provider == provider else existing for existing in configurations]
    return [*configurations, configuration]


MarketplaceConfiguration = AwsMarketplaceProviderConfiguration | AzureMarketplaceProviderConfiguration


def with_subscription(
    configuration: ProviderConfiguration, stored: ProviderConfiguration | None, at: datetime
) -> ProviderConfiguration:
    """A configuration as the API stores it: a marketplace one keeps the stored configuration's
    subscription (an edit never re-activates an unsubscribed buyer), else starts `active`."""
    if not isinstance(configuration, MarketplaceConfiguration):
        return configuration
    kept = stored.subscription if isinstance(stored, MarketplaceConfiguration) else None
    return configuration.model_copy(update={"subscription": kept or created_through_api(at)})


@dataclass(frozen=True)
class Resolution:
    """Which configuration an invoice goes to; `configuration` is None when none applies."""

    configuration: ProviderConfiguration | None
    reason: str

    @property
    def provider(self) -> BillingProvider | None:
        return self.configuration.billing_provider if self.configuration else None


class UnresolvableProvider(Exception):
    """The contract names a provider the customer has no configuration for."""


def resolve_provider(
    configurations: Sequence[ProviderConfiguration], override: ContractProviderOverride | None
) -> Resolution:
    """Contract override → the customer's default (marked, or the only one) → none."""
    if override is not None:
        for configuration in configurations:
            if configuration.billing_provider == override.billing_provider:
                return Resolution(configuration, f"contract names {override.billing_provider}")
        raise UnresolvableProvider(
            f"the contract names billing provider {override.billing_provider!r}, but the customer has no"
            f" {override.billing_provider} configuration"
        )
    marked = [configuration for configuration in configurations if configuration.default]
    if marked:
        return Resolution(marked[0], f"customer default ({marked[0].billing_provider})")
    if len(configurations) == 1:
        return Resolution(configurations[0], f"customer's only configuration ({configurations[0].billing_provider})")
    if not configurations:
        return Resolution(None, "the customer has no billing provider configuration")
    names = ", ".join(configuration.billing_provider for configuration in configurations)
    return Resolution(None, f"the customer has several billing provider configurations ({names}) and no default")
