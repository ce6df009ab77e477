"""Pieces of the API's dependencies that shared/bootstrap.py (the composition root) builds: each
made on first use, so a request that never needs one pays nothing for it at cold start. The
router shares the alert evaluation requests (`invoice_alert_requests`)."""

# ruff: noqa: PLC0415 - imports inside the functions are the point (cold start, see above)

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import boto3

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient

    from shared.adapters.aws_fulfillment import AwsMarketplaceFulfillment
    from shared.adapters.azure_fulfillment import AzureFulfillment as AzureFulfillmentAdapter
    from shared.adapters.entra_webhook_tokens import EntraWebhookTokens
    from shared.config import AzureAppSettings
    from shared.domain.azure_operations import AzureOperation
    from shared.domain.registrations import Registration
    from shared.ports.marketplace_listing import ResolvedAwsCustomer, ResolvedAzureSubscription
    from shared.ports.queues import MessageQueue
    from shared.ports.store import AlertCounts
    from shared.services.api_dependencies import MarketplaceListing
    from shared.services.invoice_alert_requests import InvoiceAlertRequests


def alert_evaluation_requests(
    queue_url: str | None, client: SQSClient | None = None
) -> Callable[[str, str], None] | None:
    """Asks the alert evaluator for one customer's evaluation (its queue's client, unless given, made
    on first use: a cold start that writes no ledger never creates it). A failure to ask is logged
    and counted, never the write's: the evaluator's next scheduled run sees the change all the same."""
    if not queue_url:
        return None

    @functools.cache
    def queue() -> MessageQueue:
        from shared.adapters.sqs_queue import SqsQueue

        return SqsQueue(client or boto3.client("sqs"), queue_url)

    def ask(customer_id: str, write_id: str) -> None:
        from shared.domain.alert_requests import customer_evaluation
        from shared.observability import count, logger
        from shared.ports.errors import PermanentError, RetryableError

        try:
            queue().send(customer_evaluation(customer_id, write_id))
        except (RetryableError, PermanentError) as error:
            count("AlertEvaluationRequestsFailed")
            logger.warning(
                "could not ask for the customer's alert evaluation; the next scheduled run evaluates it",
                extra={"customer_id": customer_id, "write_id": write_id, "error": str(error)[:300]},
            )

    return ask


def invoice_alert_requests(queue_url: str | None, client: SQSClient, store: AlertCounts) -> InvoiceAlertRequests | None:
    """The router's: asks for an invoice's customer when an alert can apply to it. A count of the
    alerts for every customer that cannot be read is logged and counted, and taken as some."""
    ask = alert_evaluation_requests(queue_url, client)
    if ask is None:
        return None
    from shared.clock import utc_now
    from shared.services.invoice_alert_requests import EveryCustomerAlerts, InvoiceAlertRequests

    def every_customer_count() -> int | None:
        from shared.observability import count, logger
        from shared.ports.errors import PermanentError, RetryableError

        try:
            return store.count_alerts_for_every_customer()
        except (RetryableError, PermanentError) as error:
            count("AlertCountReadsFailed")
            logger.warning(
                "could not read how many alerts apply to every customer; asking for evaluations meanwhile",
                extra={"error": str(error)[:300]},
            )
            return None

    return InvoiceAlertRequests(ask, EveryCustomerAlerts(every_customer_count, utc_now))


def marketplace_listing() -> MarketplaceListing:
    """The landings' settings; the ResolveCustomer client is made on the first landing, so no other
    request's cold start pays for it."""
    from shared.config import MarketplaceListingSettings
    from shared.services.api_dependencies import MarketplaceListing

    settings = MarketplaceListingSettings.from_env()
    app = _kept_once_found(lambda: azure_app(settings))
    azure = _LazyAzureFulfillment(app, settings.azure_fulfillment_base_url)
    return MarketplaceListing(
        aws=_LazyAwsFulfillment(settings.aws_marketplace_region),
        aws_region=settings.aws_marketplace_region,
        signup_url=settings.marketplace_signup_url,
        activate_azure=functools.partial(_activate_azure, azure),
        azure=azure,
        azure_webhook_tokens=_LazyWebhookTokens(app),
    )


def _activate_azure(azure: _LazyAzureFulfillment, registration: Registration) -> None:
    """Completing an Azure registration activates its SaaS subscription first (the use case is
    imported here, on the first completion: no other request's cold start loads it)."""
    from shared.services.azure_listing import azure_activation

    azure_activation(azure)(registration)


class _LazyAwsFulfillment:
    """The ResolveCustomer adapter, imported and built on the first landing (then kept)."""

    def __init__(self, region: str) -> None:
        self._region = region
        self._adapter: AwsMarketplaceFulfillment | None = None

    def resolve_customer(self, token: str) -> ResolvedAwsCustomer:
        if self._adapter is None:
            from shared.adapters.aws_fulfillment import AwsMarketplaceFulfillment

            self._adapter = AwsMarketplaceFulfillment(self._region)
        return self._adapter.resolve_customer(token)


@dataclass(frozen=True)
class AzureApp:
    """The publisher's Microsoft Entra app registration (the secret never printed)."""

    tenant_id: str
    client_id: str
    client_secret: str = field(repr=False)
    authority_host: str


def azure_app(settings: AzureAppSettings) -> AzureApp | None:
    """AZURE_TENANT_ID / AZURE_CLIENT_ID / AZURE_CLIENT_SECRET, else the JSON secret
    AZURE_CREDENTIALS_SECRET_NAME names (read through Powertools Parameters); None without either
    (or when the secret cannot be read: logged by its error's type only, never its text)."""
    import json

    from shared.bootstrap import secret_text
    from shared.observability import logger

    tenant, client, secret = settings.azure_tenant_id, settings.azure_client_id, settings.azure_client_secret
    if not (tenant and client and secret) and settings.azure_credentials_secret_name:
        try:
            stored = json.loads(secret_text(settings.azure_credentials_secret_name)())
            tenant, client, secret = stored["tenant_id"], stored["client_id"], stored["client_secret"]
        except Exception as error:  # an unset or malformed secret must not stop what needs no Azure
            logger.error(
                "Azure Marketplace is not reachable: its credentials secret could not be read",
                extra={"secret_name": settings.azure_credentials_secret_name, "error": type(error).__name__},
            )
    if not (tenant and client and secret):
        return None
    return AzureApp(str(tenant), str(client), str(secret), settings.azure_authority_host)


def _kept_once_found(read: Callable[[], AzureApp | None]) -> Callable[[], AzureApp | None]:
    """The app registration, read until it is found and then kept: a secret that could not be read
    once (or was put there after the cold start) is read again on the next Azure request."""
    found: list[AzureApp] = []

    def current() -> AzureApp | None:
        if not found and (app := read()) is not None:
            found.append(app)
        return found[0] if found else None

    return current


def _not_configured() -> Exception:
    from shared.services.api_registrations import NotConfigured

    return NotConfigured(
        "Azure Marketplace is not configured for this API: set AZURE_TENANT_ID, AZURE_CLIENT_ID and "
        "AZURE_CLIENT_SECRET (local) or AZURE_CREDENTIALS_SECRET_NAME (cloud)"
    )


class _LazyAzureFulfillment:
    """The Fulfillment API adapter (and azure-identity), imported and built on the first Azure call;
    its errors in the port's terms (shared/ports/marketplace_listing.py)."""

    def __init__(self, app: Callable[[], AzureApp | None], base_url: str) -> None:
        self._app = app
        self._base_url = base_url
        self._adapter: AzureFulfillmentAdapter | None = None

    def _client(self) -> AzureFulfillmentAdapter:
        if self._adapter is None:
            from shared.adapters.azure_fulfillment import AzureFulfillment
            from shared.adapters.azure_marketplace_http import azure_credential

            app = self._app()
            if app is None:
                raise _not_configured()
            credential = azure_credential(app.tenant_id, app.client_id, app.client_secret, app.authority_host)
            self._adapter = AzureFulfillment(credential, self._base_url)
        return self._adapter

    def resolve(self, marketplace_token: str) -> ResolvedAzureSubscription:
        from shared.adapters import azure_fulfillment
        from shared.ports.marketplace_listing import InvalidLandingToken

        try:
            return self._client().resolve(marketplace_token)
        except azure_fulfillment.InvalidLandingToken as refused:
            raise InvalidLandingToken("token", str(refused), code=refused.code) from None

    def activate(self, subscription_id: str, plan_id: str, quantity: int | None) -> None:
        from shared.ports.errors import PermanentError, RetryableError
        from shared.ports.marketplace_listing import ActivationFailed

        try:
            self._client().activate(subscription_id, plan_id, quantity)
        except (PermanentError, RetryableError) as failed:
            raise ActivationFailed(str(failed)) from None

    def operation(self, subscription_id: str, operation_id: str) -> AzureOperation:
        from shared.adapters.azure_fulfillment import AzureNotFound
        from shared.ports.marketplace_listing import AzureOperationNotFound

        try:
            return self._client().operation(subscription_id, operation_id)
        except AzureNotFound as missing:
            raise AzureOperationNotFound(str(missing), code=missing.code) from None

    def acknowledge(self, subscription_id: str, operation_id: str) -> Literal["acknowledged", "already_settled"]:
        return self._client().acknowledge(subscription_id, operation_id)


class _LazyWebhookTokens:
    """The webhook's token check (PyJWT and the tenant's keys), built on the first webhook."""

    def __init__(self, app: Callable[[], AzureApp | None]) -> None:
        self._app = app
        self._tokens: EntraWebhookTokens | None = None

    def check(self, authorization: str | None) -> None:
        from shared.adapters.entra_webhook_tokens import EntraWebhookTokens, WebhookTokenRejected
        from shared.ports.marketplace_listing import WebhookTokenRefused

        if self._tokens is None:
            app = self._app()
            if app is None:
                raise _not_configured()
            self._tokens = EntraWebhookTokens(app.tenant_id, app.client_id, app.authority_host)
        verdict = self._tokens.verify(authorization)
        if isinstance(verdict, WebhookTokenRejected):
            raise WebhookTokenRefused(verdict.message)
