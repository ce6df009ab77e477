"""Alerts, their states and the spend markers the evaluator reads (keys.py has the keys).

- An alert is `ALERT#<id>` / `#ALERT`, listed by GSI1 `ALERTS`; its `uniqueness_key` is claimed by a
  conditional Put of `ALERT_UNIQUE#<key>` in the alert's own transaction (with its audit entry).
- The same transaction (and the archive's) counts the live alerts where the router reads them: on
  the customer's item (`alert_count`) for an alert of one customer, else on
  `ALERTS_FOR_EVERY_CUSTOMER` / `#COUNT`; so the router knows without a Query whether an invoice
  can change an alert.
- Its states live in each customer's partition (`ALERTSTATE#…`): one Query reads them all. A
  transition is a Put conditional on the version read (absent for a first one), holding the
  notification still to be queued (`pending`, `pending_since`); an UpdateItem clears it once queued.
- A non-VOID USAGE invoice of a contract has a spend marker, `SPEND#<end µs>#<invoice>` in its
  customer's partition, kept in the invoice's own transaction (`spend_marker_writes`), so the
  invoices ending after now are one Query however many invoices the customer has had.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from shared.adapters.aws_errors import ConditionFailed, TransactionConflict
from shared.adapters.dynamodb.audit import AuditTable
from shared.adapters.dynamodb.keys import (
    ALERT_STATES_PREFIX,
    EVERY_CUSTOMER_ALERTS_KEY,
    SPEND_PREFIX,
    alert_key,
    alert_state_key,
    alert_uniqueness_key,
    customer_key,
    id_part,
    spend_key,
)
from shared.adapters.dynamodb.pages import PagedQueries
from shared.adapters.dynamodb.table import (
    MAX_OPTIMISTIC_RETRIES,
    Item,
    from_attributes,
    to_attributes,
    unreadable_reason,
)
from shared.domain.paging import Page, PageRequest
from shared.domain.timestamps import format_precise_timestamp, format_timestamp, parse_rfc3339, sortable_timestamp
from shared.domain.types import STORAGE
from shared.ports.store import AlreadyExists, UniquenessKeyTaken

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef, UpdateTypeDef

    from shared.domain.alert_transitions import AlertState
    from shared.domain.alerts import Alert, SpendInvoice
    from shared.domain.audit import AuditEntry
    from shared.domain.invoice import Invoice

# The alert models are imported where they are used (ruff: PLC0415), not here: every function loads
# the table's package, and only the API and the alert evaluator read alerts.


def alert_item(alert: Alert) -> Item:
    return {
        **alert_key(alert.id),
        "entity": "alert",
        "GSI1PK": "ALERTS",
        "GSI1SK": f"{format_timestamp(alert.created_at)}#{id_part(alert.id)}",
        "data": alert.model_dump_json(context=STORAGE),
    }


def _alert_from_item(item: Item) -> Alert:
    from shared.domain.alerts import Alert  # noqa: PLC0415 - see the imports

    return Alert.model_validate_json(item["data"])


def _state_item(state: AlertState) -> Item:
    item: Item = {
        **alert_state_key(state.customer_id, state.alert_id, state.contract_id),
        "entity": "alert_state",
        "alert_id": state.alert_id,
        "status": state.status,
        "version": state.version,
        "evaluated_at": format_precise_timestamp(state.evaluated_at),
    }
    if state.triggered_by is not None:
        item["triggered_by"] = state.triggered_by
    if state.contract_id is not None:
        item["contract_id"] = state.contract_id
    if state.pending is not None and state.pending_since is not None:
        item["pending"] = state.pending
        item["pending_since"] = format_precise_timestamp(state.pending_since)
    return item


def _state_from_item(customer_id: str, item: Item) -> AlertState:
    status = str(item["status"])
    if status not in ("ok", "in_alarm"):
        raise ValueError(f"unknown alert status {status[:20]!r}")
    pending_since = item.get("pending_since")
    from shared.domain.alert_transitions import AlertState  # noqa: PLC0415 - see the imports

    return AlertState(
        alert_id=str(item["alert_id"]),
        customer_id=customer_id,
        contract_id=None if item.get("contract_id") is None else str(item["contract_id"]),
        status="ok" if status == "ok" else "in_alarm",
        version=int(item["version"]),
        evaluated_at=parse_rfc3339(item["evaluated_at"]),
        triggered_by=None if item.get("triggered_by") is None else str(item["triggered_by"]),
        pending=None if item.get("pending") is None else str(item["pending"]),
        pending_since=None if pending_since is None else parse_rfc3339(pending_since),
    )


def spend_marker(invoice: Invoice | None) -> Item | None:
    """The spend marker a stored invoice version has: a non-VOID USAGE invoice of a contract."""
    if invoice is None or invoice.contract_id is None or invoice.type != "USAGE" or invoice.status == "VOID":
        return None
    from shared.domain.alerts import SpendInvoice  # noqa: PLC0415 - see the imports

    spend = SpendInvoice(
        invoice.id,
        invoice.contract_id,
        invoice.currency,
        invoice.start_timestamp,
        invoice.end_timestamp,
        invoice.issued_at,
        invoice.subtotal,
    )
    return spend_item(invoice.customer_id, spend)


def spend_item(customer_id: str, spend: SpendInvoice) -> Item:
    return {
        **spend_key(customer_id, spend.end_timestamp, spend.invoice_id),
        "entity": "spend",
        "invoice_id": spend.invoice_id,
        "contract_id": spend.contract_id,
        "currency": spend.currency,
        "start_timestamp": format_precise_timestamp(spend.start_timestamp),
        "end_timestamp": format_precise_timestamp(spend.end_timestamp),
        "issued_at": format_precise_timestamp(spend.issued_at),
        "subtotal": format(spend.subtotal, "f"),
    }


def spend_marker_writes(table: str, previous: Invoice | None, invoice: Invoice) -> list[TransactWriteItemTypeDef]:
    """What replacing `previous` by `invoice` does to the spend markers, for the invoice's transaction."""
    old, new = spend_marker(previous), spend_marker(invoice)
    writes: list[TransactWriteItemTypeDef] = []
    if old is not None and (new is None or (old["PK"], old["SK"]) != (new["PK"], new["SK"])):
        writes.append({"Delete": {"TableName": table, "Key": to_attributes({"PK": old["PK"], "SK": old["SK"]})}})
    if new is not None and new != old:
        writes.append({"Put": {"TableName": table, "Item": to_attributes(new)}})
    return writes


def _spend_from_item(item: Item) -> SpendInvoice:
    from shared.domain.alerts import SpendInvoice  # noqa: PLC0415 - see the imports

    return SpendInvoice(
        invoice_id=str(item["invoice_id"]),
        contract_id=str(item["contract_id"]),
        currency=str(item["currency"]),
        start_timestamp=parse_rfc3339(item["start_timestamp"]),
        end_timestamp=parse_rfc3339(item["end_timestamp"]),
        issued_at=parse_rfc3339(item["issued_at"]),
        subtotal=Decimal(str(item["subtotal"])),
    )


class AlertTable(AuditTable, PagedQueries):
    def create_alert_audited(self, alert: Alert, audit: AuditEntry) -> None:
        writes = [self._put_if_absent(alert_item(alert))]
        if alert.uniqueness_key is not None:
            claim = {**alert_uniqueness_key(alert.uniqueness_key), "entity": "alert_unique", "alert_id": alert.id}
            writes.append(self._put_if_absent(claim))
        writes.append(self._count_alert(alert, 1))
        writes.append(self._audit_put(audit))
        try:
            self._transact(writes)
        except ConditionFailed:
            if alert.uniqueness_key is not None and self._get(alert_uniqueness_key(alert.uniqueness_key)):
                raise UniquenessKeyTaken(alert.uniqueness_key) from None
            raise AlreadyExists(f"alert {alert.id}") from None

    def get_alert(self, alert_id: str) -> Alert | None:
        item = self._get(alert_key(alert_id))
        return None if item is None else _alert_from_item(item)

    def archive_alert_audited(self, alert_id: str, at: datetime, audit: AuditEntry) -> Alert | None:
        item = self._get(alert_key(alert_id))
        if item is None:
            return None
        alert = _alert_from_item(item)
        writes: list[TransactWriteItemTypeDef] = [self._audit_put(audit)]
        if alert.archived_at is None:
            alert = alert.model_copy(update={"archived_at": at})
            writes.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": to_attributes(alert_key(alert_id)),
                        "UpdateExpression": "SET #data = :new",
                        "ConditionExpression": "#data = :old",  # an alert changes only by archiving
                        "ExpressionAttributeNames": {"#data": "data"},
                        "ExpressionAttributeValues": to_attributes(
                            {":new": alert.model_dump_json(context=STORAGE), ":old": item["data"]}
                        ),
                    }
                }
            )
            writes.append(self._count_alert(alert, -1))
        try:
            self._transact(writes)
        except ConditionFailed:  # archived at the same moment by another call: that one stands
            self.record_audit(audit)
            return self.get_alert(alert_id)
        return alert

    def _transact(self, writes: list[TransactWriteItemTypeDef]) -> None:
        """The transaction, tried again when it collided with another write of an item it counts on
        (an invoice's transaction updates the customer's item too); nothing was written then."""
        for attempt in range(MAX_OPTIMISTIC_RETRIES):
            try:
                self._client.transact_write_items(TransactItems=writes)
                return
            except TransactionConflict:
                if attempt == MAX_OPTIMISTIC_RETRIES - 1:
                    raise

    def count_alerts_for_every_customer(self) -> int:
        # Eventually consistent (half the price): the router caches it for a minute anyway.
        response = self._client.get_item(TableName=self._table, Key=to_attributes(EVERY_CUSTOMER_ALERTS_KEY))
        item = from_attributes(response["Item"]) if "Item" in response else {}
        return max(0, int(item.get("alert_count", 0)))

    def _count_alert(self, alert: Alert, change: int) -> TransactWriteItemTypeDef:
        """One more (or one fewer) live alert where the router looks: the customer's item for an
        alert of one customer (which exists: creating the alert checked), else the account's count."""
        own = alert.customer_id is not None
        update: UpdateTypeDef = {
            "TableName": self._table,
            "Key": to_attributes(customer_key(alert.customer_id) if alert.customer_id else EVERY_CUSTOMER_ALERTS_KEY),
            "UpdateExpression": "ADD alert_count :change",
            "ExpressionAttributeValues": to_attributes({":change": change}),
        }
        if own:
            update["ConditionExpression"] = "attribute_exists(PK)"
        return {"Update": update}

    def list_alerts(self, page: PageRequest, applying_to: str | None = None) -> Page[Alert]:
        return self._query_page(
            index="GSI1",
            partition=("GSI1PK", "ALERTS"),
            sort=("GSI1SK", None),
            key_names=("PK", "SK", "GSI1PK", "GSI1SK"),
            page=page,
            read=_alert_from_item,
            keep=None if applying_to is None else (lambda alert: alert.applies_to(applying_to)),
        )

    def alert_states(self, customer_id: str) -> list[AlertState]:
        return [
            state
            for item in self._prefix_items(customer_id, ALERT_STATES_PREFIX, None)
            if (state := self._mapped(item, lambda raw: _state_from_item(customer_id, raw))) is not None
        ]

    def spend_invoices(self, customer_id: str, now: datetime) -> list[SpendInvoice]:
        after = f"{SPEND_PREFIX}{sortable_timestamp(now)}#~"  # ends at `now` are over: the end is exclusive
        return [
            spend
            for item in self._prefix_items(customer_id, SPEND_PREFIX, after)
            if (spend := self._mapped(item, _spend_from_item)) is not None
        ]

    def write_alert_state(self, state: AlertState, expected_version: int) -> bool:
        condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(PK)"}
        if expected_version:
            condition = {
                "ConditionExpression": "version = :expected",
                "ExpressionAttributeValues": to_attributes({":expected": expected_version}),
            }
        try:
            self._client.put_item(TableName=self._table, Item=to_attributes(_state_item(state)), **condition)
        except ConditionFailed:
            return False
        return True

    def claim_pending(self, state: AlertState, at: datetime) -> bool:
        if state.pending_since is None:
            return False
        try:
            self._client.update_item(
                TableName=self._table,
                Key=to_attributes(alert_state_key(state.customer_id, state.alert_id, state.contract_id)),
                UpdateExpression="SET pending_since = :at",
                ConditionExpression="version = :version AND pending_since = :since",
                ExpressionAttributeValues=to_attributes(
                    {
                        ":at": format_precise_timestamp(at),
                        ":version": state.version,
                        ":since": format_precise_timestamp(state.pending_since),
                    }
                ),
            )
        except ConditionFailed:
            return False
        return True

    def clear_pending(self, state: AlertState) -> None:
        with contextlib.suppress(ConditionFailed):  # a later transition replaced it: nothing to clear
            self._client.update_item(
                TableName=self._table,
                Key=to_attributes(alert_state_key(state.customer_id, state.alert_id, state.contract_id)),
                UpdateExpression="REMOVE pending, pending_since",
                ConditionExpression="version = :version",
                ExpressionAttributeValues=to_attributes({":version": state.version}),
            )

    def _mapped(self, item: Item, read: Any) -> Any:
        try:
            return read(item)
        except Exception as error:  # one unreadable item is reported, never fails the run
            self._on_unreadable({"PK": item.get("PK"), "SK": item.get("SK")}, unreadable_reason(error))
            return None

    def _prefix_items(self, customer_id: str, prefix: str, after: str | None) -> list[Item]:
        """Every item of the customer's partition under `prefix` (after the key `after`, if given)."""
        high = prefix[:-1] + chr(ord(prefix[-1]) + 1)  # the first key past the prefix
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk AND SK BETWEEN :low AND :high",
            "ExpressionAttributeValues": to_attributes(
                {":pk": f"CUSTOMER#{customer_id}", ":low": after or prefix, ":high": high}
            ),
            "ConsistentRead": True,
        }
        items: list[Item] = []
        while True:
            response = self._client.query(**kwargs)
            items.extend(from_attributes(raw) for raw in response.get("Items", []))
            last = response.get("LastEvaluatedKey")
            if not last:
                return items
            kwargs["ExclusiveStartKey"] = last
