"""The composition root: real adapters for Lambda (and the local stack, which points boto3 at moto).

Each function asks for its dependencies once per cold start; tests build their own with fakes.
AWS clients are created without `endpoint_url` so boto3's own configuration
(`AWS_ENDPOINT_URL_<SERVICE>` / `AWS_ENDPOINT_URL`) decides where they go.

Each factory imports what only its function needs inside its body, so a function's cold start
loads its own modules and no other's (the router never loads the API's or the Stripe worker's).
"""

# ruff: noqa: PLC0415 - imports inside the factories are the point (cold start, see above)

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import boto3

from shared.api_wiring import alert_evaluation_requests, azure_app, invoice_alert_requests, marketplace_listing
from shared.clock import utc_now

if TYPE_CHECKING:
    from shared.adapters.azure_metering import AzureMarketplaceMetering
    from shared.adapters.dynamodb import DynamoDBStore
    from shared.adapters.stripe_gateway import StripeGateway
    from shared.config import MarketplaceMeterSettings, StripeSyncSettings
    from shared.services.alert_evaluation import AlertEvaluatorDependencies
    from shared.services.api_dependencies import ApiDependencies
    from shared.services.data_export import DataExportDependencies
    from shared.services.marketplace_lifecycle import LifecycleDependencies
    from shared.services.marketplace_meter import MeterDependencies
    from shared.services.reconcile import ReconcilerDependencies
    from shared.services.reconcile_marketplace import MarketplaceReconcilerDependencies
    from shared.services.route_invoice import RouterDependencies
    from shared.services.stripe_sync_dependencies import StripeSyncDependencies
    from shared.services.stripe_webhook import StripeWebhookDependencies
    from shared.services.webhook_sender import WebhookSenderDependencies

T = TypeVar("T")
_FACTORIES: list[functools._lru_cache_wrapper[object]] = []


def dependencies(factory: Callable[[], T]) -> functools._lru_cache_wrapper[T]:
    """A function's dependencies, built on its first call (once per cold start); `reset()` forgets them."""
    cached = functools.cache(factory)
    _FACTORIES.append(cached)
    return cached


@dependencies
def invoice_router() -> RouterDependencies:
    from shared.adapters.s3_claim_checks import S3ClaimChecks
    from shared.adapters.sqs_queue import SqsQueue
    from shared.config import RouterSettings
    from shared.ports.claim_checks import ClaimCheckReader, NoClaimChecks
    from shared.services.route_invoice import RouterDependencies

    settings = RouterSettings.from_env()
    sqs = boto3.client("sqs")
    claim_checks: ClaimCheckReader = NoClaimChecks()
    if settings.claim_check_bucket:
        claim_checks = S3ClaimChecks(
            boto3.client("s3"), settings.claim_check_bucket, expected_owner=settings.claim_check_bucket_owner
        )
    store = dynamodb_store(settings.table_name)
    return RouterDependencies(
        store=store,
        stripe_queue=SqsQueue(sqs, settings.stripe_sync_queue_url),
        dead_letters=SqsQueue(sqs, settings.router_dlq_url),
        clock=utc_now,
        claim_checks=claim_checks,
        alert_requests=invoice_alert_requests(settings.alert_evaluation_queue_url, sqs, store),
    )


@dependencies
def api() -> ApiDependencies:
    from shared.api.auth import fixed_token
    from shared.config import ApiSettings, DashboardSettings
    from shared.services.api_dependencies import ApiDependencies, DashboardConfig, random_id

    settings = ApiSettings.from_env()
    settings.require_token_source()
    token = (
        secret_text(settings.api_token_secret_name)
        if settings.api_token_secret_name
        else fixed_token(settings.downbeat_api_token or "")
    )
    # Dashboard links: DASHBOARD_SIGNING_SECRET locally, else the secret DASHBOARD_SIGNING_SECRET_NAME.
    # Neither (`downbeat invoke api` without the stack's secret): only the dashboard routes say so.
    links = DashboardSettings.from_env()
    dashboards = None
    if links.dashboard_signing_secret or links.dashboard_signing_secret_name:
        key = (
            fixed_token(links.dashboard_signing_secret)
            if links.dashboard_signing_secret
            else secret_text(str(links.dashboard_signing_secret_name))
        )
        dashboards = DashboardConfig(key, links.dashboard_frame_ancestors, links.dashboard_base_url)
    return ApiDependencies(
        store=dynamodb_store(settings.table_name),
        clock=utc_now,
        new_id=random_id,
        api_token=token,
        dashboards=dashboards,
        alert_requests=alert_evaluation_requests(settings.alert_evaluation_queue_url),
        marketplace=marketplace_listing(),
    )


@dependencies
def alert_evaluator() -> AlertEvaluatorDependencies:
    from shared.adapters.sqs_queue import SqsQueue
    from shared.config import AlertEvaluatorSettings
    from shared.services.alert_evaluation import AlertEvaluatorDependencies

    settings = AlertEvaluatorSettings.from_env()
    sqs = boto3.client("sqs")
    return AlertEvaluatorDependencies(
        store=dynamodb_store(settings.table_name),
        notifications=SqsQueue(sqs, settings.notifications_queue_url),
        evaluations=SqsQueue(sqs, settings.alert_evaluation_queue_url),
        clock=utc_now,
        page_size=settings.alert_page_size,
    )


def stripe_api_key(settings: StripeSyncSettings) -> str:
    """STRIPE_API_KEY locally, else the secret STRIPE_SECRET_NAME (cached by Powertools Parameters)."""
    settings.require_key_source()
    if settings.stripe_api_key:
        return settings.stripe_api_key
    return secret_text(str(settings.stripe_secret_name))()


def stripe_gateway(settings: StripeSyncSettings) -> StripeGateway:
    """The official SDK's client behind our gateway, for the functions that call Stripe."""
    from shared.adapters.stripe_gateway import StripeGateway, stripe_client

    client = stripe_client(
        stripe_api_key(settings),
        api_base=settings.stripe_api_base,
        max_network_retries=settings.stripe_max_network_retries,
    )
    return StripeGateway(client)


@dependencies
def stripe_sync() -> StripeSyncDependencies:
    # Only the functions that call Stripe load the stripe SDK (docs/decisions/0001-packaging.md).
    from shared.config import StripeSyncSettings
    from shared.services.stripe_sync_dependencies import StripeSyncDependencies

    settings = StripeSyncSettings.from_env()
    return StripeSyncDependencies(
        store=dynamodb_store(settings.table_name),
        stripe=stripe_gateway(settings),
        clock=utc_now,
        max_receives=settings.stripe_sync_max_receives,
    )


@dependencies
def stripe_webhook() -> StripeWebhookDependencies:
    """Verifies Stripe's signature, reads the invoice back from Stripe, records its status."""
    from shared.adapters.stripe_gateway import StripeGateway, stripe_client, verify_webhook
    from shared.config import StripeWebhookSettings, webhook_secrets
    from shared.domain.stripe_webhooks import SIGNATURE_TOLERANCE_SECONDS
    from shared.services.stripe_webhook import StripeWebhookDependencies

    settings = StripeWebhookSettings.from_env()
    settings.require_webhook_secret_source()
    local_secret = settings.stripe_webhook_secret
    stored = None if local_secret else secret_text(str(settings.stripe_webhook_secret_name))

    def verify(payload: bytes, signature: str | None) -> None:
        # Read per request (Powertools caches it 5 minutes): a rotated secret takes effect without a deploy.
        verify_webhook(
            payload,
            signature,
            webhook_secrets(local_secret or (stored() if stored else "")),
            SIGNATURE_TOLERANCE_SECONDS,
        )

    # One quick try: Stripe waits only seconds for the answer, and redelivers the event on a non-2xx.
    client = stripe_client(
        stripe_api_key(settings), api_base=settings.stripe_api_base, max_network_retries=0, timeout=5.0
    )
    return StripeWebhookDependencies(
        store=dynamodb_store(settings.table_name), stripe=StripeGateway(client), verify=verify, clock=utc_now
    )


@dependencies
def reconciler() -> ReconcilerDependencies:
    """Reads the table and Stripe (the worker's settings and key: the same Stripe account)."""
    from shared.config import StripeSyncSettings
    from shared.services.reconcile import ReconcilerDependencies

    settings = StripeSyncSettings.from_env()
    return ReconcilerDependencies(store=dynamodb_store(settings.table_name), stripe=stripe_gateway(settings))


@dependencies
def marketplace_meter() -> MeterDependencies:
    # Only the meter loads the metering adapters (and azure-identity through the Azure one).
    from shared.adapters.aws_metering import AwsMarketplaceMetering
    from shared.config import MarketplaceMeterSettings
    from shared.ports.metering import MarketplaceMetering, MarketplaceProvider
    from shared.services.marketplace_meter import MeterDependencies

    settings = MarketplaceMeterSettings.from_env()
    meters: dict[MarketplaceProvider, MarketplaceMetering] = {"aws_marketplace": AwsMarketplaceMetering()}
    azure = azure_metering(settings)
    if azure is not None:
        meters["azure_marketplace"] = azure
    return MeterDependencies(
        store=dynamodb_store(settings.table_name), meters=meters, clock=utc_now, page_size=settings.meter_page_size
    )


@dependencies
def marketplace_reconciler() -> MarketplaceReconcilerDependencies:
    """Reads the table and, for Azure, its usage events (the meter's settings and credentials)."""
    from shared.config import MarketplaceMeterSettings
    from shared.ports.metering import MarketplaceProvider, UsageReadBack
    from shared.services.reconcile_marketplace import MarketplaceReconcilerDependencies

    settings = MarketplaceMeterSettings.from_env()
    read_back: dict[MarketplaceProvider, UsageReadBack] = {}
    azure = azure_metering(settings)
    if azure is not None:
        read_back["azure_marketplace"] = azure
    return MarketplaceReconcilerDependencies(
        store=dynamodb_store(settings.table_name), read_back=read_back, clock=utc_now
    )


def azure_metering(settings: MarketplaceMeterSettings) -> AzureMarketplaceMetering | None:
    """Azure's metering API with the app registration's credential; None without credentials."""
    from shared.adapters.azure_metering import AzureMarketplaceMetering, azure_credential

    app = azure_app(settings)
    if app is None:
        return None
    credential = azure_credential(app.tenant_id, app.client_id, app.client_secret, app.authority_host)
    return AzureMarketplaceMetering(credential, base_url=settings.azure_metering_base_url)


@dependencies
def data_export() -> DataExportDependencies:
    # Only the export loads pyarrow (through its bucket adapter): it ships in that function's artifact.
    from shared.adapters.s3_exports import S3ExportBucket
    from shared.config import DataExportSettings
    from shared.services.data_export import DataExportDependencies

    settings = DataExportSettings.from_env()
    bucket = S3ExportBucket(boto3.client("s3"), settings.export_bucket, expected_owner=settings.export_bucket_owner)
    return DataExportDependencies(store=dynamodb_store(settings.table_name), bucket=bucket, clock=utc_now)


@dependencies
def webhook_sender() -> WebhookSenderDependencies:
    """Signs and POSTs alert webhooks; backs off with the message's visibility, then its DLQ."""
    from shared.adapters.sqs_notifications import SqsNotificationQueue
    from shared.adapters.webhook_http import HttpWebhookEndpoint
    from shared.config import WebhookSenderSettings
    from shared.services.webhook_sender import WebhookSenderDependencies

    settings = WebhookSenderSettings.from_env()
    settings.require_secret_source()
    local_secret = settings.webhook_secret
    # Read per attempt (Powertools caches it 5 minutes): a rotated secret takes effect without a deploy.
    secret = (lambda: local_secret) if local_secret else secret_text(str(settings.webhook_secret_name))
    url = settings.webhook_url or ""
    endpoint = HttpWebhookEndpoint(url) if url.startswith(("https://", "http://")) else None
    return WebhookSenderDependencies(
        endpoint=endpoint,
        secret=secret,
        queue=SqsNotificationQueue(
            boto3.client("sqs"), settings.notifications_queue_url, settings.notifications_dlq_url
        ),
        clock=utc_now,
        no_endpoint="WEBHOOK_URL is not set" if not url else "WEBHOOK_URL is not an http(s) URL",
    )


SECRET_MAX_AGE_SECONDS = 300


def dynamodb_store(table_name: str) -> DynamoDBStore:
    """The table, with every item a list cannot read logged and counted rather than failing the list."""
    # Imported here, as the handler's own imports do: Powertools' Logger binds to the stdout of the
    # moment it is created, which the local stack's `invoke` points at stderr around the handler.
    # The adapter too: a function without the table (the webhook sender) never loads it.
    from shared.adapters.dynamodb import DynamoDBStore
    from shared.observability import report_unreadable_item

    return DynamoDBStore(boto3.client("dynamodb"), table_name, on_unreadable=report_unreadable_item)


def secret_text(secret_name: str) -> Callable[[], str]:
    """The text of a Secrets Manager secret (a plain string), cached by Powertools Parameters.

    The provider has its own boto3 client, so AWS_ENDPOINT_URL* decide where it goes and a process
    that moves between endpoints (the local stack, tests) never reuses a client bound to an old one.
    """
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    provider = SecretsProvider(boto3_client=boto3.client("secretsmanager"))

    def current() -> str:
        value = provider.get(secret_name, max_age=SECRET_MAX_AGE_SECONDS)
        return (value.decode("utf-8") if isinstance(value, bytes) else str(value)).strip()

    return current


@dependencies
def marketplace_lifecycle() -> LifecycleDependencies:
    from shared.adapters.sqs_queue import SqsQueue
    from shared.config import MarketplaceLifecycleSettings
    from shared.services.api_dependencies import random_id
    from shared.services.marketplace_lifecycle import LifecycleDependencies
    from shared.services.marketplace_subscriptions import SubscriptionDependencies

    settings = MarketplaceLifecycleSettings.from_env()
    return LifecycleDependencies(
        subscriptions=SubscriptionDependencies(dynamodb_store(settings.table_name), utc_now, random_id),
        dead_letters=SqsQueue(boto3.client("sqs"), settings.marketplace_lifecycle_dlq_url),
    )


def reset() -> None:
    """Forget cached dependencies (the local stack calls this when its environment changes)."""
    for factory in _FACTORIES:
        factory.cache_clear()
