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
from shared.clock import utc_now
from shared.config import RouterSettings
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


def reset() -> None:
    """Forget cached dependencies (the local stack calls this when its environment changes)."""
    invoice_router.cache_clear()
