"""The Stripe worker's state per invoice, kept on the invoice's `stripe` lease item."""

from __future__ import annotations

from datetime import datetime

from shared.adapters.dynamodb.keys import lease_key
from shared.adapters.dynamodb.leases import LeaseTable
from shared.adapters.dynamodb.table import Item
from shared.domain.stripe_state import LEASE_KIND, StripeSyncState
from shared.domain.timestamps import parse_sortable_timestamp, sortable_timestamp
from shared.ports.leases import Lease


class StripeStateTable(LeaseTable):
    def get_stripe_sync(self, invoice_id: str) -> StripeSyncState | None:
        item = self._get(lease_key(LEASE_KIND, invoice_id))
        return None if item is None else _stripe_state_from_item(invoice_id, item)

    def save_stripe_sync(self, state: StripeSyncState, lease: Lease, *, release: bool = False) -> None:
        values = {
            "step": state.step,
            "version": state.version,
            "stripe_invoice_id": state.stripe_invoice_id,
            "calls": state.calls,
            "step_at": None if state.updated_at is None else sortable_timestamp(state.updated_at),
        }
        now = state.updated_at or lease.pending_since
        self._update_leased(lease, now=now, values=values, release=release, settle=release and state.settled)


def _stripe_state_from_item(invoice_id: str, item: Item) -> StripeSyncState:
    version = item.get("version")
    updated_at: datetime | None = None if item.get("step_at") is None else parse_sortable_timestamp(item["step_at"])
    return StripeSyncState(
        invoice_id=invoice_id,
        step=item.get("step", "new"),
        version=None if version is None else int(version),
        stripe_invoice_id=item.get("stripe_invoice_id"),
        calls=int(item.get("calls", 0)),
        updated_at=updated_at,
    )
