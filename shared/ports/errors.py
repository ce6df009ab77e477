"""What adapters raise: a person (or a queue) can act on the difference.

`RetryableError`: try again later — throttling, 5xx, timeouts, conflicts. An SQS consumer lets the
record fail so the queue redelivers it. `PermanentError`: trying again cannot help — validation,
a missing object, bad configuration — so the record is settled as failed with the reason.
No SDK exception (botocore's `ClientError`, Stripe's `StripeError`) leaves an adapter.
"""

from __future__ import annotations


class AdapterError(Exception):
    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code  # the outside system's own error code, when it gives one


class RetryableError(AdapterError):
    """Try again later (throttling, 5xx, timeouts, lock conflicts)."""


class PermanentError(AdapterError):
    """Trying again cannot help (validation, missing object, bad configuration)."""
