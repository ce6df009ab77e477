"""Worker leases (`shared.ports.leases`) on items `LEASE#<kind>#<id>` / `#LEASE`.

While the work is unsettled its item is listed in GSI1 under `UNSETTLED#<kind>` /
`<pending_since>#<id>`, so the oldest waiting work is one Query away. A worker may keep its own
state on the same item (`_update_leased`): every such write is conditional on the lease token.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from shared.adapters.aws_errors import ConditionFailed
from shared.adapters.dynamodb.keys import id_part, lease_key
from shared.adapters.dynamodb.table import Item, TableAccess, from_attributes, to_attributes
from shared.domain.timestamps import parse_sortable_timestamp, sortable_timestamp
from shared.ports.leases import Lease, LeaseLost

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

_HELD = ("lease_token", "lease_until")
_UNSETTLED = ("pending_since", "GSI1PK", "GSI1SK")


def epoch_seconds(moment: datetime) -> Decimal:
    """A lease deadline as a number, for DynamoDB condition comparisons."""
    return Decimal(str(moment.timestamp()))


def from_epoch_seconds(value: Decimal | float | int) -> datetime:
    return datetime.fromtimestamp(float(value), UTC)


class LeaseTable(TableAccess):
    def claim(self, kind: str, key: str, *, now: datetime, until: datetime) -> Lease | None:
        try:
            response = self._client.update_item(
                **_claim_update(self._table, kind, key, uuid.uuid4().hex, now, until), ReturnValues="ALL_NEW"
            )
        except ConditionFailed:
            return None
        return _lease_from_item(kind, key, from_attributes(response["Attributes"]))

    def claim_leases(self, kind: str, keys: Sequence[str], *, now: datetime, until: datetime) -> dict[str, Lease]:
        # One transaction claims up to 100 leases with `claim`'s own condition; one held elsewhere
        # refuses the transaction, and the others are claimed again without it. A transaction
        # returns no attributes: the claimed items (attempt, pending_since) are read back, 100 a request.
        tokens = {key: uuid.uuid4().hex for key in keys}
        groups: list[list[TransactWriteItemTypeDef]] = [
            [{"Update": _claim_update(self._table, kind, key, token, now, until)}] for key, token in tokens.items()
        ]
        written = self._transact_or_each(groups)
        taken = [key for key, whole in zip(tokens, written, strict=True) if whole]
        claimed: dict[str, Lease] = {}
        for item in self._batch_get([lease_key(kind, key) for key in taken]):
            lease = _lease_from_item(kind, str(item["work_id"]), item)
            if lease.token == tokens[lease.key]:
                claimed[lease.key] = lease
        return claimed

    def release_leases(self, releases: Sequence[tuple[Lease, bool]], *, now: datetime) -> None:
        # A lease lost to another run refuses the transaction: the others go again without it.
        self._transact_or_each(
            [[{"Update": _release_update(self._table, lease, now, settle=settle)}] for lease, settle in releases]
        )

    def renew(self, lease: Lease, *, now: datetime, until: datetime, new_attempt: bool = False) -> Lease:
        item = self._update_leased(lease, now=now, values={"lease_until": epoch_seconds(until)}, count=new_attempt)
        return _lease_from_item(lease.kind, lease.key, item)

    def hand_back(self, lease: Lease, *, now: datetime) -> None:
        self._update_leased(lease, now=now, release=True)

    def settle(self, lease: Lease, *, now: datetime) -> None:
        self._update_leased(lease, now=now, release=True, settle=True)

    def oldest_unsettled(self, kind: str) -> datetime | None:
        response = self._client.query(
            TableName=self._table,
            IndexName="GSI1",
            KeyConditionExpression="GSI1PK = :pk",
            ExpressionAttributeValues=to_attributes({":pk": f"UNSETTLED#{kind}"}),
            Limit=1,
        )
        items = response.get("Items") or []
        if not items:
            return None
        pending = from_attributes(items[0]).get("pending_since")
        return None if pending is None else parse_sortable_timestamp(pending)

    def _update_leased(
        self,
        lease: Lease,
        *,
        now: datetime,
        values: Mapping[str, Any] | None = None,
        count: bool = False,
        release: bool = False,
        settle: bool = False,
    ) -> Item:
        """One write to the lease's item while `lease` holds it: set `values` (None removes the
        attribute), take a new attempt number, let the lease go, mark the work settled."""
        try:
            response = self._client.update_item(
                **_leased_update(self._table, lease, now, values, count=count, release=release, settle=settle),
                ReturnValues="ALL_NEW",
            )
        except ConditionFailed:
            raise LeaseLost(f"{lease.kind} work {lease.key}: the lease was taken over by another run") from None
        return from_attributes(response["Attributes"])


def _claim_update(table: str, kind: str, key: str, token: str, now: datetime, until: datetime) -> Any:
    moment = sortable_timestamp(now)
    values = {
        ":entity": "lease",
        ":kind": kind,
        ":key": key,
        ":zero": 0,
        ":one": 1,
        ":token": token,
        ":until": epoch_seconds(until),
        ":now_epoch": epoch_seconds(now),
        ":now": moment,
        ":gsi1pk": f"UNSETTLED#{kind}",
        ":gsi1sk": f"{moment}#{id_part(key)}",
    }
    return {
        "TableName": table,
        "Key": to_attributes(lease_key(kind, key)),
        "UpdateExpression": (
            "SET entity = :entity, lease_kind = :kind, work_id = :key,"
            " attempt = if_not_exists(attempt, :zero) + :one, lease_token = :token, lease_until = :until,"
            " updated_at = :now, pending_since = if_not_exists(pending_since, :now),"
            " GSI1PK = :gsi1pk, GSI1SK = if_not_exists(GSI1SK, :gsi1sk)"
        ),
        "ConditionExpression": "attribute_not_exists(lease_until) OR lease_until < :now_epoch",
        "ExpressionAttributeValues": to_attributes(values),
    }


def _release_update(table: str, lease: Lease, now: datetime, *, settle: bool) -> Any:
    return _leased_update(table, lease, now, None, count=False, release=True, settle=settle)


def _leased_update(
    table: str,
    lease: Lease,
    now: datetime,
    values: Mapping[str, Any] | None,
    *,
    count: bool,
    release: bool,
    settle: bool,
) -> Any:
    names: dict[str, str] = {"#token": "lease_token", "#updated": "updated_at"}
    bound: dict[str, Any] = {":token": lease.token, ":now": sortable_timestamp(now)}
    sets = ["#updated = :now"]
    removes: list[str] = []
    for index, (name, value) in enumerate((values or {}).items()):
        names[f"#v{index}"] = name
        if value is None:
            removes.append(f"#v{index}")
        else:
            bound[f":v{index}"] = value
            sets.append(f"#v{index} = :v{index}")
    if count:
        names["#attempt"] = "attempt"
        bound[":one"] = 1
        sets.append("#attempt = #attempt + :one")
    for index, name in enumerate((_HELD if release else ()) + (_UNSETTLED if settle else ())):
        names[f"#r{index}"] = name
        removes.append(f"#r{index}")
    expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
    return {
        "TableName": table,
        "Key": to_attributes(lease_key(lease.kind, lease.key)),
        "UpdateExpression": expression,
        "ConditionExpression": "#token = :token",
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": to_attributes(bound),
    }


def _lease_from_item(kind: str, key: str, item: Item) -> Lease:
    return Lease(
        kind=kind,
        key=key,
        token=str(item["lease_token"]),
        until=from_epoch_seconds(item["lease_until"]),
        attempt=int(item["attempt"]),
        pending_since=parse_sortable_timestamp(item["pending_since"]),
    )
