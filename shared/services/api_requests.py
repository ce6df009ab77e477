"""Request bodies of the API (DESIGN §4): strict pydantic models, unknown fields refused.

Query parameters are declared on the routes; these are the JSON bodies. Powertools validates a
body against its model before any route code runs; every error becomes a 400 naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

from shared.aws_regions import marketplace_metering_regions
from shared.domain.paging import DEFAULT_LIMIT, MAX_LIMIT
from shared.domain.providers import PROVIDERS, ContractProviderOverride, ProviderConfiguration
from shared.domain.timestamps import parse_timestamp_or_date
from shared.domain.types import Identifier, Name, Timestamp
from shared.domain.validation import invalid_field, text_is_unicode

MAX_CUSTOM_FIELDS = 50


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    @model_validator(mode="before")
    @classmethod
    def _unicode(cls, data: Any) -> Any:
        return text_is_unicode(data)


CustomFields = Annotated[
    dict[Annotated[str, StringConstraints(min_length=1, max_length=256)], Annotated[str, Field(max_length=1024)]],
    Field(max_length=MAX_CUSTOM_FIELDS),
]


def _limit_text(value: object) -> object:
    """A query parameter is text: only plain ASCII digits are a number (not "1_0", " 10", "10.0", "+1")."""
    if isinstance(value, str):
        if not re.fullmatch(r"[0-9]+", value):
            raise ValueError(f"must be a whole number from 1 to {MAX_LIMIT}, written in digits")
        if len(value.lstrip("0")) > len(str(MAX_LIMIT)):  # never converted: it could be any length
            raise ValueError(f"must be at most {MAX_LIMIT}")
    return value


Limit = Annotated[
    int,
    BeforeValidator(_limit_text),
    Field(ge=1, le=MAX_LIMIT, description=f"items per page, 1 to {MAX_LIMIT}"),
]
BodyLimit = Annotated[StrictInt, Field(ge=1, le=MAX_LIMIT, description=f"items per page, 1 to {MAX_LIMIT}")]
NextPage = Annotated[str, Field(min_length=1, max_length=2048, description="the previous page's `next_page`")]


# `…T00:00:00+01:00` typed into a query string unencoded: form decoding turns its `+` into a space.
_PLUS_DECODED_AS_SPACE = re.compile(r"^(\S+T\d{2}:\d{2}:\d{2}(?:\.\d+)?) (\d{2}:\d{2})$")


def _date_filter(value: object) -> datetime:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 timestamp or a date (YYYY-MM-DD)")
    return parse_timestamp_or_date(_PLUS_DECODED_AS_SPACE.sub(r"\1+\2", value))


DateFilter = Annotated[
    datetime,
    BeforeValidator(_date_filter),
    WithJsonSchema({"type": "string", "description": "RFC 3339 timestamp, or a date (midnight UTC)"}),
]


def _known_region(configuration: ProviderConfiguration) -> ProviderConfiguration:
    """An AWS Marketplace configuration must name a region where metering exists (botocore's data)."""
    if configuration.billing_provider == "aws_marketplace":
        region = configuration.configuration.aws_region
        if region not in marketplace_metering_regions():
            raise invalid_field(
                "configuration.aws_region",
                f"{region[:64]!r} is not an AWS region with Marketplace metering (e.g. us-east-1)",
            )
    return configuration


def _no_subscription(data: Any) -> Any:
    """`subscription` is downbeat's own record of the marketplace's word: never taken from a request."""
    if isinstance(data, Mapping) and "subscription" in data:
        raise invalid_field("subscription", "is read-only: the marketplace sets it, and downbeat records it")
    return data


# A configuration as a request sends it: checked for text the store cannot hold before the
# provider models see it, and for an AWS region that exists. What is stored is not re-checked
# against botocore's region list when read back.
ProviderConfigurationBody = Annotated[
    ProviderConfiguration,
    BeforeValidator(text_is_unicode),
    BeforeValidator(_no_subscription),
    AfterValidator(_known_region),
]


class CreateCustomerRequest(_Body):
    id: Identifier | None = Field(
        default=None,
        description="the customer's id, e.g. your billing platform's own (invoice events name it); generated when"
        " absent; an id already taken is a 409",
    )
    name: Name
    custom_fields: CustomFields = Field(default_factory=dict)
    billing_provider_configurations: Annotated[list[ProviderConfigurationBody], Field(max_length=len(PROVIDERS))] = (
        Field(default_factory=list)
    )

    @model_validator(mode="before")
    @classmethod
    def _one_per_provider(cls, data: Any) -> Any:
        """More configurations than providers means a repeated provider: name it (DESIGN §3), not the length."""
        configurations = data.get("billing_provider_configurations") if isinstance(data, Mapping) else None
        if isinstance(configurations, list) and len(configurations) > len(PROVIDERS):
            seen: set[object] = set()
            for index, configuration in enumerate(configurations):
                provider = configuration.get("billing_provider") if isinstance(configuration, Mapping) else None
                if isinstance(provider, str) and provider in PROVIDERS:
                    if provider in seen:
                        raise invalid_field(
                            f"billing_provider_configurations.{index}.billing_provider",
                            f"a {provider} configuration already exists for this customer",
                        )
                    seen.add(provider)
        return data


class CreateProductRequest(_Body):
    id: Identifier | None = Field(
        default=None, description="the product's id, e.g. your billing platform's own; generated when absent"
    )
    name: Name
    custom_fields: CustomFields = Field(default_factory=dict)


class CreateContractRequest(_Body):
    id: Identifier | None = Field(
        default=None,
        description="the contract's id, e.g. your billing platform's own (invoice events name it); generated when"
        " absent; an id the customer already has is a 409",
    )
    customer_id: Identifier
    name: Name
    starting_at: Timestamp
    ending_before: Timestamp | None = None
    custom_fields: CustomFields = Field(default_factory=dict)
    billing_provider_configuration: ContractProviderOverride | None = None
    # `commits`, `credits`, `recurring_commits` and `recurring_credits`:
    # shared.services.api_commit_requests.CreateContractWithCommitsRequest

    @model_validator(mode="after")
    def _consistent(self) -> CreateContractRequest:
        if self.ending_before is not None and self.ending_before <= self.starting_at:
            raise invalid_field("ending_before", "must be after starting_at (the end is exclusive)")
        return self


class GetContractRequest(_Body):
    customer_id: Identifier
    contract_id: Identifier


class UpdateEndDateRequest(_Body):
    customer_id: Identifier
    contract_id: Identifier
    ending_before: Timestamp | None = Field(description="the new end (exclusive); null: open-ended")
    allow_ending_before_finalized_invoice: StrictBool = Field(
        default=True,
        description="false: an end before the end of a finalized usage invoice of the contract is refused (400);"
        " true: it is accepted with a warning, and the finalized invoices stay unchanged",
    )


class ListContractsRequest(_Body):
    customer_id: Identifier
    limit: BodyLimit = DEFAULT_LIMIT
    next_page: NextPage | None = None
