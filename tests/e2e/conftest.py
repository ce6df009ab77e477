"""The local stack, started once for the e2e package, on free ports, with the demo data loaded.

`local_stack` is package-scoped: it starts in about half a second, but one stack for the package
keeps moto's state (one per process) shared in one place. It restores os.environ on stop, so the
tests after this package see no local endpoints.
"""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest

from local.demo_data import DEMO_STRIPE_CUSTOMERS, seed_demo_data
from local.stack import LocalStack, StackOptions
from shared.adapters.dynamodb import DynamoDBStore


@pytest.fixture(scope="package")
def local_stack() -> Iterator[LocalStack]:
    options = StackOptions(
        port=0,
        retry_visibility_seconds=0,  # failed records come straight back: redrive in milliseconds
        async_retry_delay_seconds=0.05,
        poll_wait_seconds=1,
        run_schedules=False,
        stripe_customers=DEMO_STRIPE_CUSTOMERS,
        environ={"AWS_DEFAULT_REGION": "us-east-1"},  # hermetic: ignore the developer's provider variables
    )
    with LocalStack(options) as stack:
        assert stack.resources is not None
        seed_demo_data(DynamoDBStore(boto3.client("dynamodb"), stack.resources.table_name))
        yield stack


@pytest.fixture
def store(local_stack: LocalStack) -> DynamoDBStore:
    assert local_stack.resources is not None
    return DynamoDBStore(local_stack.clients.dynamodb, local_stack.resources.table_name)
