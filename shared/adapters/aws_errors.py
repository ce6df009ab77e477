"""botocore errors → `RetryableError` / `PermanentError`, for every AWS adapter.

An adapter wraps its boto3 client once (`with_mapped_errors`); every call through it then raises
only our errors, each naming the service, the operation, the resource and what a person can do:

- throttling, 5xx and 429 replies, timeouts and dropped connections → `RetryableError` (the queue
  or the caller tries again later);
- a conditional write that found the item otherwise → `ConditionFailed` (the adapter decides what
  that means: already exists, taken over, retry after a re-read);
- a transaction cancelled by a concurrent one → `TransactionConflict` (retryable);
- validation, missing resources, access denied, bad credentials → `PermanentError`.

The original botocore error stays attached as `__cause__` for the logs; its type never leaves.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from shared.ports.errors import AdapterError, PermanentError, RetryableError


class ConditionFailed(PermanentError):
    """A conditional write (or a transaction's condition) found the item not as required."""


class TransactionConflict(RetryableError):
    """A transaction collided with another write to the same item; re-read and try again."""


_THROTTLING = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "LimitExceededException",
        "SlowDown",
    }
)
_TRANSIENT = frozenset(
    {
        "InternalServerError",
        "InternalFailure",
        "InternalError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "TransactionInProgressException",
        "TransactionConflictException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
# What a person can do about a permanent error, by code (the message says which resource).
_HINTS = {
    "ResourceNotFoundException": "check that the resource exists and its name or ARN setting is right",
    "QueueDoesNotExist": "check the queue URL setting",
    "AWS.SimpleQueueService.NonExistentQueue": "check the queue URL setting",
    "AccessDeniedException": "grant the function's role this action on the resource",
    "AccessDenied": "grant the function's role this action on the resource",
    "UnrecognizedClientException": "check the AWS credentials",
    "InvalidClientTokenId": "check the AWS credentials",
    "ExpiredTokenException": "refresh the AWS credentials",
    "ValidationException": "the request was invalid; this is a bug in downbeat or an oversized item",
}
# Refused or timed-out connections, dropped or timed-out reads.
_NO_ANSWER = (BotocoreConnectionError, HTTPClientError)


def describe(error: ClientError | BotoCoreError, service: str, operation: str, resource: str) -> AdapterError:
    """Our error for a botocore error raised by `service`'s `operation` on `resource`."""
    where = f"{service} {operation} on {resource}"
    if isinstance(error, BotoCoreError):
        if isinstance(error, _NO_ANSWER):
            return RetryableError(f"{where} did not answer ({error}); it will be retried", code="connection")
        return PermanentError(f"{where} could not be sent: {error}", code=type(error).__name__)
    details = error.response.get("Error", {})
    code = str(details.get("Code") or "Unknown")
    message = str(details.get("Message") or "").strip()
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    said = f"{code}: {message}" if message else code
    if code == "ConditionalCheckFailedException":
        return ConditionFailed(f"{where}: the item was not as the write required", code=code)
    if code == "TransactionCanceledException":
        return _cancelled(error, where, said)
    if code in _THROTTLING or status == 429:
        return RetryableError(f"{where} was throttled ({said}); it will be retried", code=code)
    if code in _TRANSIENT or status >= 500:
        return RetryableError(f"{where} failed on AWS's side ({said}); it will be retried", code=code)
    hint = _HINTS.get(code, "trying again will not help")
    return PermanentError(f"{where} was refused ({said}): {hint}", code=code)


def _cancelled(error: ClientError, where: str, said: str) -> AdapterError:
    reasons = {str(reason.get("Code")) for reason in error.response.get("CancellationReasons") or []}
    if not reasons:  # some endpoints only say so in the message: "[ConditionalCheckFailed, None]"
        reasons = {part.strip() for part in said.partition("[")[2].rstrip("]").split(",")}
    if "ConditionalCheckFailed" in reasons:
        return ConditionFailed(f"{where}: an item was not as the transaction required", code="ConditionalCheckFailed")
    if reasons & {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}:
        return TransactionConflict(f"{where} collided with another write ({said}); it will be retried", code="conflict")
    return PermanentError(f"{where} was cancelled ({said})", code="TransactionCanceledException")


_Client = TypeVar("_Client")
_PASS_THROUGH = frozenset({"meta", "exceptions", "can_paginate", "get_paginator", "get_waiter", "close"})


class _MappedClient:
    def __init__(self, client: Any, service: str, resource: str) -> None:
        self._client = client
        self._service = service
        self._resource = resource

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name in _PASS_THROUGH or name.startswith("_") or not callable(attribute):
            return attribute
        operation = "".join(part.capitalize() for part in name.split("_"))
        return _mapped(attribute, self._service, operation, self._resource)


def _mapped(call: Callable[..., Any], service: str, operation: str, resource: str) -> Callable[..., Any]:
    @functools.wraps(call)
    def mapped_call(*args: Any, **kwargs: Any) -> Any:
        try:
            return call(*args, **kwargs)
        except (ClientError, BotoCoreError) as error:
            raise describe(error, service, operation, resource) from error

    return mapped_call


def with_mapped_errors(client: _Client, *, service: str, resource: str) -> _Client:
    """`client`, every call of which raises our errors instead of botocore's (same type for mypy)."""
    return cast(_Client, _MappedClient(client, service, resource))
