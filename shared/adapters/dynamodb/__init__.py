"""The store on one DynamoDB table (single-table design): one module per aggregate.

`keys` holds every key and the item mapping; `table` the client (errors mapped to our own) and
item codecs. `DynamoDBStore` is the sum of the aggregates' mixins and implements `shared.ports.store.Store`.
"""

from __future__ import annotations

from shared.adapters.dynamodb.alerts import AlertTable
from shared.adapters.dynamodb.commits import CommitTable
from shared.adapters.dynamodb.contract_end_dates import ContractEndDateTable
from shared.adapters.dynamodb.customers import CustomerTable
from shared.adapters.dynamodb.invoices import InvoiceTable
from shared.adapters.dynamodb.outbox import OutboxTable
from shared.adapters.dynamodb.products import ProductTable
from shared.adapters.dynamodb.registrations import RegistrationTable
from shared.adapters.dynamodb.stripe_events import StripeEventTable
from shared.adapters.dynamodb.sync_records import SyncRecordTable
from shared.adapters.dynamodb.table import from_attributes, to_attributes
from shared.adapters.dynamodb.usage_records import UsageRecordTable
from shared.adapters.dynamodb.worker_state import StripeStateTable

__all__ = ["DynamoDBStore", "from_attributes", "to_attributes"]


class DynamoDBStore(
    CustomerTable,
    InvoiceTable,
    CommitTable,
    SyncRecordTable,
    OutboxTable,
    UsageRecordTable,
    StripeStateTable,
    ProductTable,
    ContractEndDateTable,
    StripeEventTable,
    AlertTable,
    RegistrationTable,
):
    """Every access pattern of the one table (`shared.ports.store.Store`)."""
