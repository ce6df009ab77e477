"""Environment, parsed once per cold start into a typed settings model.

A missing or empty variable fails at start-up with the variable's name, not deep in a request.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

SettingsT = TypeVar("SettingsT", bound="Settings")


class ConfigurationError(RuntimeError):
    pass


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    @classmethod
    def from_env(cls: type[SettingsT], environ: Mapping[str, str] | None = None) -> SettingsT:
        source = os.environ if environ is None else environ
        values = {name: source[name.upper()] for name in cls.model_fields if source.get(name.upper())}
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            names = ", ".join(str(detail["loc"][0]).upper() for detail in error.errors())
            raise ConfigurationError(f"{cls.__name__}: missing or invalid environment variable(s): {names}") from None


class RouterSettings(Settings):
    table_name: str = Field(min_length=1)
    stripe_sync_queue_url: str = Field(min_length=1)
    router_dlq_url: str = Field(min_length=1)
    # Where claim checks are read from (unset: every claim check is refused, with that reason),
    # and the account that must own that bucket (S3 refuses the read otherwise).
    claim_check_bucket: str | None = None
    claim_check_bucket_owner: str | None = None
    # Where a customer's alert evaluation is asked for after a new invoice version, when an alert
    # can apply to it (unset: alerts see invoices at the next scheduled run).
    alert_evaluation_queue_url: str | None = None


# -- API
class ApiSettings(Settings):
    """The API function: the table, and its bearer token (a fixed one locally, a secret in the cloud)."""

    table_name: str = Field(min_length=1)
    downbeat_api_token: str | None = None  # local / tests
    api_token_secret_name: str | None = None  # the cloud: Secrets Manager, read through Powertools
    # Where a customer's alert evaluation is asked for after a ledger-changing write (unset: alerts
    # see the change at the next scheduled run).
    alert_evaluation_queue_url: str | None = None

    def require_token_source(self) -> None:
        if not (self.downbeat_api_token or self.api_token_secret_name):
            raise ConfigurationError("ApiSettings: set DOWNBEAT_API_TOKEN (local) or API_TOKEN_SECRET_NAME (cloud)")


# -- Stripe sync
class StripeSyncSettings(Settings):
    """The Stripe worker: the table, Stripe's API base, and its key (never logged: repr=False)."""

    table_name: str = Field(min_length=1)
    stripe_api_base: str = Field(default="https://api.stripe.com", min_length=1)
    stripe_api_key: str | None = Field(default=None, repr=False)  # local / tests
    stripe_secret_name: str | None = None  # the cloud: Secrets Manager, read through Powertools
    stripe_max_network_retries: int = Field(default=2, ge=0, le=5)
    # The Stripe queue's RedrivePolicy maxReceiveCount: on that receive a failing run records
    # `failed` (the message is dead-lettered next). Unset: no receive is known to be the last.
    stripe_sync_max_receives: int | None = Field(default=None, ge=1, le=1000)

    def require_key_source(self) -> None:
        if not (self.stripe_api_key or self.stripe_secret_name):
            raise ConfigurationError("StripeSyncSettings: set STRIPE_API_KEY (local) or STRIPE_SECRET_NAME (cloud)")


# -- Stripe webhooks
class StripeWebhookSettings(StripeSyncSettings):
    """The webhook function: the Stripe worker's settings (it reads invoices back from the same
    account) and the webhook signing secrets — STRIPE_WEBHOOK_SECRET locally, else the secret
    STRIPE_WEBHOOK_SECRET_NAME; several separated by commas while one is rotated."""

    stripe_webhook_secret: str | None = Field(default=None, repr=False)  # local / tests
    stripe_webhook_secret_name: str | None = None  # the cloud: Secrets Manager, read through Powertools

    def require_webhook_secret_source(self) -> None:
        if not (self.stripe_webhook_secret or self.stripe_webhook_secret_name):
            raise ConfigurationError(
                "StripeWebhookSettings: set STRIPE_WEBHOOK_SECRET (local) or STRIPE_WEBHOOK_SECRET_NAME (cloud)"
            )


def webhook_secrets(text: str) -> list[str]:
    """`whsec_new, whsec_old` → both: any of them verifies while the endpoint's secret is rotated."""
    return [part.strip() for part in text.split(",") if part.strip()]


# -- Alert webhooks
class WebhookSenderSettings(Settings):
    """The webhook sender: its queue and DLQ, where webhooks go, and the signing secret —
    WEBHOOK_SECRET locally, else the secret WEBHOOK_SECRET_NAME (never logged: repr=False)."""

    notifications_queue_url: str = Field(min_length=1)
    notifications_dlq_url: str = Field(min_length=1)
    # Unset or not an http(s) URL: every attempt fails with that reason, and the notifications
    # wait out their 72 hours in the queue (set it within that time and they are delivered).
    webhook_url: str | None = None
    webhook_secret: str | None = Field(default=None, repr=False)  # local / tests
    webhook_secret_name: str | None = None  # the cloud: Secrets Manager, read through Powertools

    def require_secret_source(self) -> None:
        if not (self.webhook_secret or self.webhook_secret_name):
            raise ConfigurationError("WebhookSenderSettings: set WEBHOOK_SECRET (local) or WEBHOOK_SECRET_NAME (cloud)")


# -- Azure Marketplace: the app registration (metering, fulfillment, the webhook's token)
class AzureAppSettings(Settings):
    """The publisher's Microsoft Entra app registration (the secret never logged: repr=False).
    Locally AZURE_TENANT_ID / AZURE_CLIENT_ID / AZURE_CLIENT_SECRET; in the cloud the secret
    AZURE_CREDENTIALS_SECRET_NAME names (JSON `{"tenant_id", "client_id", "client_secret"}`)."""

    azure_authority_host: str = Field(default="login.microsoftonline.com", min_length=1)
    azure_tenant_id: str | None = None
    azure_client_id: str | None = None
    azure_client_secret: str | None = Field(default=None, repr=False)
    azure_credentials_secret_name: str | None = None


# -- Marketplace meter
class MarketplaceMeterSettings(AzureAppSettings):
    """The marketplace meter: the table, Azure's metering API and the app registration. Without
    credentials, Azure Marketplace invoices wait in the outbox (AWS is metered all the same)."""

    table_name: str = Field(min_length=1)
    azure_metering_base_url: str = Field(default="https://marketplaceapi.microsoft.com", min_length=1)
    meter_page_size: int = Field(default=1000, ge=1, le=1000)


class MarketplaceLifecycleSettings(Settings):
    table_name: str = Field(min_length=1)
    marketplace_lifecycle_dlq_url: str = Field(min_length=1)


class MarketplaceListingSettings(AzureAppSettings):
    """The API's marketplace landings: where ResolveCustomer's buyers are metered (the region of the
    AWS configurations registrations make), the seller's sign-up page buyers are sent on to, and
    Azure's SaaS Fulfillment API with the app registration (resolve, activate, the webhook's
    operations; the webhook's token is checked against AZURE_TENANT_ID and AZURE_CLIENT_ID)."""

    aws_marketplace_region: str = Field(default="us-east-1", min_length=1)
    marketplace_signup_url: str | None = None
    azure_fulfillment_base_url: str = Field(default="https://marketplaceapi.microsoft.com", min_length=1)


# -- Dashboards (the API function)
_FRAME_SOURCE = r"'self'|'none'|https?://(\*\.)?[A-Za-z0-9.-]+(:[0-9]{1,5})?"


class DashboardSettings(Settings):
    """Dashboard links: the signing secret (a fixed one locally, a secret in the cloud), where the
    pages may be framed (CSP `frame-ancestors` sources, space-separated), and an optional base URL
    for the links (a custom domain; by default the API's own host and stage)."""

    dashboard_signing_secret: str | None = Field(default=None, repr=False)  # local / tests
    dashboard_signing_secret_name: str | None = None  # the cloud: Secrets Manager, read through Powertools
    dashboard_frame_ancestors: str = Field(
        default="'self'", pattern=rf"^({_FRAME_SOURCE})( ({_FRAME_SOURCE}))*$", max_length=2000
    )
    dashboard_base_url: str | None = Field(
        default=None, pattern=r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?$"
    )


# -- Data export
class DataExportSettings(Settings):
    """The data export: the table it reads, the bucket it writes and the account that must own it."""

    table_name: str = Field(min_length=1)
    export_bucket: str = Field(min_length=1)
    export_bucket_owner: str | None = None


# -- Alert evaluator
class AlertEvaluatorSettings(Settings):
    """The alert evaluator: the table, the queue its webhook bodies go to, and its own queue (the
    customers to evaluate after writes, and the pages a run fans out)."""

    table_name: str = Field(min_length=1)
    notifications_queue_url: str = Field(min_length=1)
    alert_evaluation_queue_url: str = Field(min_length=1)
    alert_page_size: int = Field(default=100, ge=1, le=100)
