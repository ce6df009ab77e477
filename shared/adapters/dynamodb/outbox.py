"""The marketplace outbox: per invoice and provider, the total to meter (`INVOICE#<id>` / `METER#<provider>`).

Listed in GSI1 under `OUTBOX#<provider>` / `<customer>#<invoice>` for the meter run.
"""

from __future__ import annotations

import contextlib
from decimal import Decimal

from shared.adapters.aws_errors import ConditionFailed
from shared.adapters.dynamodb.keys import id_part, outbox_key
from shared.adapters.dynamodb.table import TableAccess, to_attributes
from shared.ports.store import MeterOutboxEntry


class OutboxTable(TableAccess):
    def upsert_meter_outbox(self, entry: MeterOutboxEntry) -> None:
        values = {
            ":entity": "meter_outbox",
            ":gsi1pk": f"OUTBOX#{entry.provider}",
            ":gsi1sk": f"{id_part(entry.customer_id)}#{id_part(entry.invoice_id)}",
            ":customer_id": entry.customer_id,
            ":currency": entry.currency,
            ":version": entry.invoice_version,
            ":invoice_status": entry.invoice_status,
            ":target": entry.target_amount,
            ":zero": Decimal(0),
        }
        # A failed condition: a higher invoice version is already there: a lower one never lowers the target.
        with contextlib.suppress(ConditionFailed):
            self._client.update_item(
                TableName=self._table,
                Key=to_attributes(outbox_key(entry.invoice_id, entry.provider)),
                UpdateExpression=(
                    "SET entity = :entity, GSI1PK = :gsi1pk, GSI1SK = :gsi1sk, customer_id = :customer_id,"
                    " currency = :currency, invoice_version = :version, invoice_status = :invoice_status,"
                    " target_amount = :target, metered_amount = if_not_exists(metered_amount, :zero)"
                ),
                ConditionExpression="attribute_not_exists(PK) OR invoice_version < :version",
                ExpressionAttributeValues=to_attributes(values),
            )
