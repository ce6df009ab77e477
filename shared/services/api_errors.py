"""Outcomes of API use cases that are not a success. FieldError (400) lives in the domain."""

from __future__ import annotations


class NotFound(Exception):
    """404. `field` names a body id that does not exist (`customer_id`); None for a path id."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class Conflict(Exception):
    """409: the request is valid but clashes with what is stored."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class Unavailable(Exception):
    """A status the request cannot be answered with yet: 502 (a provider refused a step), 503 (a
    provider is throttling or failing: try again), or 501 (not set up in this deployment)."""

    def __init__(self, status: int, message: str, field: str | None = None, *, audited: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.audited = audited  # the use case wrote the call's audit entry itself (with what it changed)
