"""The composition root: real adapters for Lambda (and the local stack, which points boto3 at moto).

Each function asks for its dependencies once per cold start; tests build their own with fakes.
AWS clients are created without `endpoint_url` so boto3's own configuration
(`AWS_ENDPOINT_URL_<SERVICE>` / `AWS_ENDPOINT_URL`) decides where they go.
"""

from __future__ import annotations

import functools

import boto3

from shared.adapters.dynamodb_store import DynamoDBStore
from shared.adapters.sqs_queue import SqsQueue
from shared.api.auth import fixed_token, secret_token
from shared.clock import utc_now
from shared.config import ApiSettings, RouterSettings
from shared.services.api_dependencies import ApiDependencies, random_id
from shared.services.route_invoice import RouterDependencies


@functools.cache
def invoice_router() -> RouterDependencies:
    settings = RouterSettings.from_env()
    sqs = boto3.client("sqs")
    return RouterDependencies(
        store=DynamoDBStore(boto3.client("dynamodb"), settings.table_name),
        stripe_queue=SqsQueue(sqs, settings.stripe_sync_queue_url),
        dead_letters=SqsQueue(sqs, settings.router_dlq_url),
        clock=utc_now,
    )


# ==== API (issue #10) ============================================================================
@functools.cache
def api() -> ApiDependencies:
    settings = ApiSettings.from_env()
    settings.require_token_source()
    token = (
        secret_token(settings.api_token_secret_name)
        if settings.api_token_secret_name
        else fixed_token(settings.downbeat_api_token or "")
    )
    return ApiDependencies(
        store=DynamoDBStore(boto3.client("dynamodb"), settings.table_name),
        clock=utc_now,
        new_id=random_id,
        api_token=token,
    )


# ==== end API section ============================================================================


def reset() -> None:
    """Forget cached dependencies (the local stack calls this when its environment changes)."""
    invoice_router.cache_clear()
    api.cache_clear()
