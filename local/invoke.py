"""`downbeat invoke`: one handler call in this process, as `sam local invoke` would make it.

Either against a running local stack: the settings it serves for the function (its resources,
its moto endpoints), and the secrets from this process's own environment, since the stack never
serves one (`own_secrets`: each withheld variable from this environment, else its local default
— the local API token and Stripe key, dummy AWS credentials). Or in a fresh in-memory AWS:
moto's `mock_aws` with the template's resources created from their definitions, the function's
environment resolved against them, and the provider doubles it needs (local/doubles.py: the
Stripe double standing in for Stripe unless `STRIPE_API_BASE` is set). No Docker, no credentials.

`mock_aws` resets moto's in-process state, so never call `invoke_in_memory` in a process that
also runs a LocalStack (the CLI never does; tests run it as a subprocess).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Mapping
from typing import Any

import boto3
from moto import mock_aws

from local.demo_data import DEMO_STRIPE_CUSTOMERS
from local.doubles import DOUBLES, DoubleOptions, start_doubles
from local.http_server import LOCAL_API_TOKEN
from local.lambda_runtime import context_for, load_handler
from local.resources import AwsClients, FunctionSpec, create_resources, resolve_environment
from local.stack import DUMMY_CREDENTIALS, OWN_SERVICE_ENDPOINTS


@contextlib.contextmanager
def patched_environ(values: Mapping[str, str], remove: tuple[str, ...] = ()) -> Iterator[None]:
    """Set `values` and drop `remove` in os.environ for the block; restore everything after."""
    names = set(values) | set(remove)
    saved = {name: os.environ.get(name) for name in names}
    for name in remove:
        os.environ.pop(name, None)
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def call_handler(spec: FunctionSpec, event: Any, region: str) -> Any:
    """Import and call the handler; its logs (Powertools writes to stdout) go to stderr."""
    _reset_bootstrap()
    with contextlib.redirect_stdout(sys.stderr):
        handler = load_handler(spec)
        return handler(event, context_for(spec, region))


def local_secret_defaults() -> dict[str, str]:
    """The local value of each secret a function may need, when this environment does not set it."""
    defaults = {"DOWNBEAT_API_TOKEN": LOCAL_API_TOKEN, **DUMMY_CREDENTIALS, "AWS_SESSION_TOKEN": "testing"}
    for double in DOUBLES:
        defaults |= double.defaults
    return defaults


def own_secrets(withheld: list[str], environ: Mapping[str, str]) -> dict[str, str]:
    """The withheld variables from `environ`, else their local defaults; others stay unset."""
    defaults = local_secret_defaults()
    if environ.get("AWS_ACCESS_KEY_ID"):  # the user's own key pair: no dummy session token beside it
        defaults.pop("AWS_SESSION_TOKEN")
    values = {name: environ.get(name) or defaults.get(name, "") for name in withheld}
    return {name: value for name, value in values.items() if value}


def invoke_against_stack(spec: FunctionSpec, event: Any, settings: Mapping[str, str], withheld: list[str]) -> Any:
    """`settings` as the stack serves them; the `withheld` secrets from this process's environment."""
    environment = {**settings, **own_secrets(withheld, os.environ)}
    remove = tuple(name for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", *withheld) if name not in environment)
    with patched_environ(environment, remove=remove):
        return call_handler(spec, event, environment.get("AWS_REGION", "us-east-1"))


def invoke_in_memory(spec: FunctionSpec, event: Any, *, seed: bool = False) -> Any:
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    base = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    own_endpoints = (*OWN_SERVICE_ENDPOINTS, "AWS_PROFILE")
    with contextlib.ExitStack() as stack:
        stack.enter_context(patched_environ(base, remove=own_endpoints))
        stack.enter_context(mock_aws())
        api_token = os.environ.get("DOWNBEAT_API_TOKEN") or LOCAL_API_TOKEN
        options = DoubleOptions(stripe_customers=DEMO_STRIPE_CUSTOMERS, marketplace_auto_subscribe=True)
        providers = start_doubles([spec], os.environ, stack, options)
        clients = AwsClients(
            dynamodb=boto3.client("dynamodb"),
            sqs=boto3.client("sqs"),
            events=boto3.client("events"),
            secretsmanager=boto3.client("secretsmanager"),
            s3=boto3.client("s3"),
        )
        resources = create_resources(
            clients,
            region=region,
            parameters=providers.parameter_overrides([spec]),
            secret_values={**providers.secret_values(), "ApiTokenSecret": api_token},
        )
        environment = resolve_environment(spec, resources.resolver) | providers.environment_for(spec)
        if spec.http_api:
            environment["DOWNBEAT_API_TOKEN"] = api_token
        stack.enter_context(patched_environ(environment))
        if seed:
            from local.demo_data import seed_demo_data  # noqa: PLC0415 - only with --seed
            from shared.adapters.dynamodb import DynamoDBStore  # noqa: PLC0415

            seed_demo_data(DynamoDBStore(clients.dynamodb, resources.table_name))
        try:
            return call_handler(spec, event, region)
        finally:
            _reset_bootstrap()  # its cached clients belong to this mock


def _reset_bootstrap() -> None:
    from shared import bootstrap  # noqa: PLC0415

    bootstrap.reset()
