"""Provider configuration validation and resolution (DESIGN §3)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from shared.domain.providers import (
    ContractProviderOverride,
    ProviderConfiguration,
    StripeConfiguration,
    UnresolvableProvider,
    check_configuration_set,
    resolve_provider,
)
from shared.domain.validation import FieldError, first_field_error
from tests.builders import AWS, AZURE, STRIPE, configuration


class CustomerBody(BaseModel):
    billing_provider_configurations: list[ProviderConfiguration]


def error_for(*configurations: dict[str, Any]) -> FieldError:
    body = {"billing_provider_configurations": list(configurations)}
    with pytest.raises(ValidationError) as caught:
        CustomerBody.model_validate(body)
    return first_field_error(caught.value, body)


def with_config(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    result = copy.deepcopy(base)
    for key, value in changes.items():
        if value is None:
            result["configuration"].pop(key, None)
        else:
            result["configuration"][key] = value
    return result


def test_stripe_defaults() -> None:
    config = StripeConfiguration(stripe_customer_id="cus_1")
    assert config.stripe_collection_method == "charge_automatically"
    assert config.invoice_date == "service_period_end"
    assert config.invoice_date_timezone == "UTC"
    assert config.days_until_due == 30
    assert (config.leave_as_draft, config.automatic_tax, config.skip_below_minimum) == (False, False, False)


PREFIX = "billing_provider_configurations.0"


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (with_config(STRIPE, stripe_customer_id=None), f"{PREFIX}.configuration.stripe_customer_id"),
        (with_config(STRIPE, stripe_collection_method="invoice"), f"{PREFIX}.configuration.stripe_collection_method"),
        (with_config(STRIPE, invoice_date="issue"), f"{PREFIX}.configuration.invoice_date"),
        (with_config(STRIPE, invoice_date_timezone="Mars/Olympus"), f"{PREFIX}.configuration.invoice_date_timezone"),
        (with_config(STRIPE, days_until_due=-1), f"{PREFIX}.configuration.days_until_due"),
        (with_config(STRIPE, days_until_due="30"), f"{PREFIX}.configuration.days_until_due"),
        (with_config(STRIPE, days_until_due=1.5), f"{PREFIX}.configuration.days_until_due"),
        (with_config(STRIPE, leave_as_draft="yes"), f"{PREFIX}.configuration.leave_as_draft"),
        (with_config(STRIPE, surprise=1), f"{PREFIX}.configuration.surprise"),
        (with_config(AWS, aws_product_code=None), f"{PREFIX}.configuration.aws_product_code"),
        (with_config(AWS, aws_region=None), f"{PREFIX}.configuration.aws_region"),
        (with_config(AWS, aws_customer_id=None), f"{PREFIX}.configuration.aws_customer_id"),
        (
            with_config(AWS, aws_customer_id=None, aws_customer_account_id="111122223333"),
            f"{PREFIX}.configuration.aws_license_arn",
        ),
        (with_config(AWS, aws_customer_account_id="12"), f"{PREFIX}.configuration.aws_customer_account_id"),
        (with_config(AZURE, azure_plan_id=None), f"{PREFIX}.configuration.azure_plan_id"),
        (with_config(AZURE, azure_subscription_id=None), f"{PREFIX}.configuration.azure_subscription_id"),
        ({**STRIPE, "billing_provider": "paypal"}, f"{PREFIX}.billing_provider"),
        ({k: v for k, v in STRIPE.items() if k != "billing_provider"}, f"{PREFIX}.billing_provider"),
        ({**STRIPE, "delivery_method": "email"}, f"{PREFIX}.delivery_method"),
        ({**STRIPE, "default": "true"}, f"{PREFIX}.default"),
        ({**STRIPE, "extra": 1}, f"{PREFIX}.extra"),
    ],
)
def test_invalid_configuration_names_the_exact_field(raw: dict[str, Any], field: str) -> None:
    assert error_for(raw).field == field


def test_aws_account_id_with_license_is_enough() -> None:
    raw = with_config(AWS, aws_customer_id=None, aws_customer_account_id="111122223333", aws_license_arn="arn:x")
    assert CustomerBody.model_validate({"billing_provider_configurations": [raw]})


def test_second_configuration_for_a_provider_is_rejected() -> None:
    with pytest.raises(FieldError) as caught:
        check_configuration_set([configuration(STRIPE), configuration(AWS), configuration(STRIPE)])
    assert caught.value.field == "billing_provider_configurations.2.billing_provider"


def test_second_default_is_rejected() -> None:
    with pytest.raises(FieldError) as caught:
        check_configuration_set([configuration(STRIPE, default=True), configuration(AWS, default=True)])
    assert caught.value.field == "billing_provider_configurations.1.default"


def override(provider: str) -> ContractProviderOverride:
    return ContractProviderOverride.model_validate({"billing_provider": provider})


def test_contract_override_wins_over_customer_default() -> None:
    configs = [configuration(STRIPE, default=True), configuration(AWS)]
    assert resolve_provider(configs, override("aws_marketplace")).provider == "aws_marketplace"


def test_contract_override_without_customer_configuration_is_unresolvable() -> None:
    with pytest.raises(UnresolvableProvider, match="azure_marketplace"):
        resolve_provider([configuration(STRIPE, default=True)], override("azure_marketplace"))


def test_marked_default_is_used() -> None:
    configs = [configuration(STRIPE), configuration(AZURE, default=True)]
    assert resolve_provider(configs, None).provider == "azure_marketplace"


def test_only_configuration_is_the_default() -> None:
    assert resolve_provider([configuration(AWS)], None).provider == "aws_marketplace"


def test_no_configuration_resolves_to_none_with_reason() -> None:
    resolution = resolve_provider([], None)
    assert resolution.provider is None
    assert "no billing provider" in resolution.reason


def test_several_without_default_resolve_to_none_with_reason() -> None:
    resolution = resolve_provider([configuration(STRIPE), configuration(AWS)], None)
    assert resolution.provider is None
    assert "no default" in resolution.reason
