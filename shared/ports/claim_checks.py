"""Claim checks: the S3 objects that hold an invoice's line items when the event cannot.

`read` answers the object's bytes, raises `ClaimCheckUnreadable` when this object can never be
read (missing, access denied, another bucket, too large: the event is rejected, naming
`detail.line_items_uri`), and `RetryableError` when S3 may answer later (throttling, 5xx).
"""

from __future__ import annotations

from typing import Protocol


class ClaimCheckUnreadable(Exception):
    """The claim check cannot be read, now or later; the message says why (for the DLQ reason)."""


class ClaimCheckReader(Protocol):
    def read(self, uri: str) -> bytes: ...


class NoClaimChecks:
    """A router without a claim-check bucket: every claim check is refused, with the reason."""

    def read(self, uri: str) -> bytes:
        raise ClaimCheckUnreadable(f"{uri}: this deployment reads no claim checks (no claim-check bucket configured)")
