"""How commits, drawdowns and manual entries are stored as items (keys.py has their keys)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.adapters.dynamodb.keys import commit_key, drawdown_key, manual_entry_key
from shared.adapters.dynamodb.table import Item
from shared.domain.commits import Commit
from shared.domain.ledger import Drawdown, LedgerEntry
from shared.domain.timestamps import format_precise_timestamp
from shared.domain.types import STORAGE


def commit_item(commit: Commit) -> Item:
    item: Item = {
        **commit_key(commit.customer_id, commit.id),
        "entity": "commit",
        "kind": commit.kind,
        "data": commit.model_dump_json(context=STORAGE),
    }
    if commit.contract_id is not None:
        item["contract_id"] = commit.contract_id
    return item


def drawdown_item(customer_id: str, drawdown: Drawdown) -> Item:
    return {
        **drawdown_key(customer_id, drawdown.commit_id, drawdown.invoice_id),
        "entity": "drawdown",
        "invoice_id": drawdown.invoice_id,
        "invoice_version": drawdown.invoice_version,
        "timestamp": format_precise_timestamp(drawdown.timestamp),
        # Decimal strings: a sum of the segment's entries is then exact whatever the digits.
        "amounts": {segment_id: format(amount, "f") for segment_id, amount in drawdown.amounts.items()},
    }


def manual_entry_item(customer_id: str, entry: LedgerEntry) -> Item:
    return {
        **manual_entry_key(customer_id, entry.commit_id, entry.id),
        "entity": "manual",
        # What a balance needs, readable without parsing the entry (`data`, read for ledgers only).
        "segment_id": entry.segment_id,
        "amount": format(entry.amount, "f"),
        "data": entry.model_dump_json(context=STORAGE),
    }


def item_size(item: Mapping[str, Any]) -> int:
    """About what DynamoDB counts for an item of strings: its names' and values' UTF-8 bytes."""
    return sum(len(name.encode()) + len(str(value).encode("utf-8", "surrogatepass")) for name, value in item.items())
