"""The audit log (DESIGN §4a): who changed what, from where, with which outcome.

Entries are flat and immutable. The actor is a stable, non-secret id of the bearer token, so two
calls made with the same token share an actor without the token ever being stored or logged.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from shared.domain.timestamps import sortable_timestamp
from shared.domain.types import Timestamp

ACTOR_PREFIX = "tok_"


def actor_for_token(token: str) -> str:
    """`tok_` + the first 12 hex digits of the token's SHA-256: stable, and useless to an attacker."""
    return ACTOR_PREFIX + hashlib.sha256(token.encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True)
class Caller:
    """Who made a request and from where: the audit fields that come from the request itself."""

    actor: str
    ip_address: str | None
    user_agent: str | None


class AuditEntry(BaseModel):
    # Its schema is built on first use: only the API writes audit entries, while every function
    # imports the store adapter that knows this model.
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    id: str
    timestamp: Timestamp
    actor: str
    action: str
    resource_type: str
    resource_id: str | None
    status_code: int
    ip_address: str | None
    user_agent: str | None
    # The marketplace event that made the change (an AWS event or SNS message id, an Azure operation
    # id); None for API calls. Entries stored before it existed read back with None.
    event_id: str | None = None

    @classmethod
    def for_call(
        cls,
        *,
        entry_id: str,
        at: datetime,
        caller: Caller,
        action: str,
        resource_type: str,
        resource_id: str | None,
        status_code: int,
        event_id: str | None = None,
    ) -> AuditEntry:
        return cls(
            id=entry_id,
            timestamp=at,
            actor=caller.actor,
            action=action,
            resource_type=resource_type,
            resource_id=resource_id,
            status_code=status_code,
            ip_address=caller.ip_address,
            user_agent=caller.user_agent,
            event_id=event_id,
        )

    @property
    def sort_key(self) -> str:
        """`<timestamp to the microsecond, fixed width>#<id>`: sorts by time as a plain string."""
        return f"{sortable_timestamp(self.timestamp)}#{self.id}"


@dataclass(frozen=True)
class AuditQuery:
    """Filters of `GET /v1/auditLogs`; `starting_on` inclusive, `ending_before` exclusive."""

    resource_type: str | None = None
    resource_id: str | None = None
    starting_on: datetime | None = None
    ending_before: datetime | None = None

    def matches(self, entry: AuditEntry) -> bool:
        return (
            (self.resource_type is None or entry.resource_type == self.resource_type)
            and (self.resource_id is None or entry.resource_id == self.resource_id)
            and (self.starting_on is None or entry.timestamp >= self.starting_on)
            and (self.ending_before is None or entry.timestamp < self.ending_before)
        )
