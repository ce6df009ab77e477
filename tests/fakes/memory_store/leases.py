"""Worker leases and the Stripe worker's state in memory (the fake of `leases.py` and `worker_state.py`)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from shared.domain.stripe_state import LEASE_KIND, StripeSyncState
from shared.ports.leases import Lease, LeaseLost
from tests.fakes.memory_store.state import LeaseRecord, MemoryTables


class MemoryLeases(MemoryTables):
    def claim(self, kind: str, key: str, *, now: datetime, until: datetime) -> Lease | None:
        with self._lock:
            current = self.leases.get((kind, key)) or LeaseRecord(None, None, 0, None)
            if current.until is not None and current.until >= now:
                return None
            record = LeaseRecord(uuid.uuid4().hex, until, current.attempt + 1, current.pending_since or now)
            self.leases[(kind, key)] = record
            return _lease(kind, key, record)

    def claim_leases(self, kind: str, keys: Sequence[str], *, now: datetime, until: datetime) -> dict[str, Lease]:
        with self._lock:
            claims = ((key, self.claim(kind, key, now=now, until=until)) for key in keys)
            return {key: lease for key, lease in claims if lease is not None}

    def release_leases(self, releases: Sequence[tuple[Lease, bool]], *, now: datetime) -> None:
        with self._lock:
            for lease, settle in releases:
                with contextlib.suppress(LeaseLost):
                    self._release(lease, settle=settle)

    def renew(self, lease: Lease, *, now: datetime, until: datetime, new_attempt: bool = False) -> Lease:
        with self._lock:
            record = self._held(lease)
            record.until = until
            record.attempt += 1 if new_attempt else 0
            return _lease(lease.kind, lease.key, record)

    def hand_back(self, lease: Lease, *, now: datetime) -> None:
        with self._lock:
            self._release(lease, settle=False)

    def settle(self, lease: Lease, *, now: datetime) -> None:
        with self._lock:
            self._release(lease, settle=True)

    def oldest_unsettled(self, kind: str) -> datetime | None:
        with self._lock:
            waiting = [r.pending_since for (k, _), r in self.leases.items() if k == kind and r.pending_since]
        return min(waiting, default=None)

    def get_stripe_sync(self, invoice_id: str) -> StripeSyncState | None:
        with self._lock:
            if (LEASE_KIND, invoice_id) not in self.leases:
                return None
            return self.stripe_states.get(invoice_id) or StripeSyncState(invoice_id=invoice_id)

    def save_stripe_sync(self, state: StripeSyncState, lease: Lease, *, release: bool = False) -> None:
        with self._lock:
            self._held(lease)
            self.stripe_states[state.invoice_id] = replace(state)
            if release:
                self._release(lease, settle=state.settled)

    def _held(self, lease: Lease) -> LeaseRecord:
        record = self.leases.get((lease.kind, lease.key))
        if record is None or record.token != lease.token:
            raise LeaseLost(f"{lease.kind} work {lease.key}: the lease was taken over by another run")
        return record

    def _release(self, lease: Lease, *, settle: bool) -> None:
        record = self._held(lease)
        record.token = record.until = None
        if settle:
            record.pending_since = None


def _lease(kind: str, key: str, record: LeaseRecord) -> Lease:
    assert record.token is not None
    assert record.until is not None
    assert record.pending_since is not None
    return Lease(kind, key, record.token, record.until, record.attempt, record.pending_since)
