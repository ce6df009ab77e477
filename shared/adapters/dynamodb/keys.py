"""Keys and item mapping of the single table (see docs/architecture.md for the access patterns).

| item            | PK                    | SK                 | GSI1PK                      | GSI1SK                 |
|-----------------|-----------------------|--------------------|-----------------------------|------------------------|
| customer        | CUSTOMER#<id>         | #CUSTOMER          | CUSTOMERS                   | <created_at>#<id>      |
| contract        | CUSTOMER#<customer>   | CONTRACT#<id>      |                             |                        |
| commit / credit | CUSTOMER#<customer>   | COMMIT#<id>        |                             |                        |
| its drawdown    | CUSTOMER#<customer>   | COMMIT#<id>#D#<invoice id> (per invoice: its latest version's)  |
| its manual entry| CUSTOMER#<customer>   | COMMIT#<id>#M#<entry id> |                       |                        |
| uniqueness key  | CUSTOMER#<customer>   | UNIQUE#<uniqueness_key> (claimed in the commit's transaction)   |
| invoice         | INVOICE#<id>          | #INVOICE           | CUSTOMER#<customer>#INVOICES| <start_timestamp>#<id> |
| invoice lines   | INVOICE#<id>          | LINES#<version>#<digest>#<L|B>#<n> (chunks: dynamodb/invoice_lines.py)  |
| its windows     | INVOICE#<id>          | WINDOWS#<version>#<digest>#<H|D>#<n> (dynamodb/invoice_windows.py)     |
| sync status     | INVOICE#<id>          | SYNC               |                             |                        |
| Stripe event    | STRIPE_EVENT#<evt id> | #EVENT (a webhook event handled; expires_at: 30 days)                |
| meter outbox    | INVOICE#<id>          | METER#<provider>   | OUTBOX#<provider> (waiting) | <customer>#<id>        |
| usage record    | METER#<provider>#<customer> | RECORD#<dimension>#<hour> | METERWAIT#<provider>#<customer> | <hour> |
| worker lease    | LEASE#<kind>#<id>     | #LEASE             | UNSETTLED#<kind> (waiting)  | <pending_since>#<id>   |
| audit entry     | AUDIT#<shard 0-3>     | <time µs>#<id>     | (GSI2) AUDIT#<type>#<resource id> / <time µs>#<id> |
| product         | PRODUCT#<id>          | #PRODUCT           |                             |                        |
| finalized usage | CUSTOMER#<customer>   | FINALIZED_USAGE#<contract digest>#<end µs>#<invoice>                 |
| alert           | ALERT#<id>            | #ALERT             | ALERTS                      | <created_at>#<id>      |
| alert unique key| ALERT_UNIQUE#<key>    | #UNIQUE (claimed in the alert's transaction)                            |
| alerts for all  | ALERTS_FOR_EVERY_CUSTOMER | #COUNT (how many live alerts have no customer_id; dynamodb/alerts.py) |
| alert state     | CUSTOMER#<customer>   | ALERTSTATE#<alert digest>#C, or #K#<contract> (dynamodb/alerts.py)      |
| spend marker    | CUSTOMER#<customer>   | SPEND#<end µs>#<invoice> (a non-VOID USAGE invoice of a contract)       |

A finalized-usage marker exists per FINALIZED USAGE invoice of a contract (`contract_end_dates.py`).
A commit's or credit's entries sort right after it (its ids are generated: `commit_<hex>`, no
character below `#`), so one Query of `COMMIT#…` reads commits and their ledgers in order.

Usage records are in GSI1 only while `pending` or `sent`, outbox entries only while they wait.
A worker's own state lives on its lease item (the Stripe worker's step and ids on `LEASE#stripe#<invoice>`).

An id inside a sort key (`<id>` in the SK and GSI1SK columns) is `id_part(id)`: the id itself up to
400 UTF-8 bytes, else a prefix and a digest (`shared.domain.id_keys.bounded_key_part`), because a
sort key holds at most 1024 bytes and an id of 256 four-byte characters alone fills it. Partition
keys (2048 bytes) take ids whole.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from shared.adapters.dynamodb.table import Item
from shared.domain.customers import Contract, Customer
from shared.domain.id_keys import bounded_key_part, digest
from shared.domain.invoice import Invoice
from shared.domain.products import Product
from shared.domain.timestamps import format_timestamp, sortable_timestamp
from shared.domain.types import STORAGE


def id_part(entity_id: str) -> str:
    """An id as a part of a sort key (see the module docstring)."""
    return bounded_key_part(entity_id)


def customer_key(customer_id: str) -> Item:
    return {"PK": f"CUSTOMER#{customer_id}", "SK": "#CUSTOMER"}


def contract_key(customer_id: str, contract_id: str) -> Item:
    return {"PK": f"CUSTOMER#{customer_id}", "SK": f"CONTRACT#{id_part(contract_id)}"}


COMMITS_RANGE = ("COMMIT#", "COMMIT$")  # '$' follows '#': every COMMIT#… key


def commit_sort_key(commit_id: str) -> str:
    return f"COMMIT#{id_part(commit_id)}"


def commit_key(customer_id: str, commit_id: str) -> Item:
    return {"PK": f"CUSTOMER#{customer_id}", "SK": commit_sort_key(commit_id)}


def commit_ledger_range(commit_id: str) -> tuple[str, str]:
    """The SK range of one commit and its entries (`#D#` drawdowns, `#M#` manual; 'N' follows both)."""
    return commit_sort_key(commit_id), f"{commit_sort_key(commit_id)}#N"


def drawdown_key(customer_id: str, commit_id: str, invoice_id: str) -> Item:
    return {"PK": f"CUSTOMER#{customer_id}", "SK": f"{commit_sort_key(commit_id)}#D#{id_part(invoice_id)}"}


def manual_entry_key(customer_id: str, commit_id: str, entry_id: str) -> Item:
    return {"PK": f"CUSTOMER#{customer_id}", "SK": f"{commit_sort_key(commit_id)}#M#{entry_id}"}


def uniqueness_key(customer_id: str, key: str) -> Item:
    return {"PK": f"CUSTOMER#{customer_id}", "SK": f"UNIQUE#{key}"}


def invoice_key(invoice_id: str) -> Item:
    return {"PK": f"INVOICE#{invoice_id}", "SK": "#INVOICE"}


def invoice_list_position(invoice: Invoice) -> Item:
    """The invoice item's keys, its place in its customer's list (GSI1) included."""
    return {
        **invoice_key(invoice.id),
        "GSI1PK": f"CUSTOMER#{invoice.customer_id}#INVOICES",
        "GSI1SK": f"{format_timestamp(invoice.start_timestamp)}#{id_part(invoice.id)}",
    }


def lines_sort_key(lines_key: str, stream: str = "", index: int | None = None) -> str:
    """`LINES#<version>#<digest>#<stream>#<n>`, or a prefix of it when stream or index is left out."""
    sort = f"LINES#{lines_key}#"
    if stream:
        sort += f"{stream}#"
    if index is not None:
        sort += f"{index:04d}"
    return sort


def windows_sort_key(lines_key: str, stream: str, index: int | None = None) -> str:
    """`WINDOWS#<version>#<digest>#<stream>#<n>`, or the prefix of a stream's chunks without index."""
    return f"WINDOWS#{lines_key}#{stream}#" + ("" if index is None else f"{index:04d}")


def invoice_lines_key(invoice_id: str, sort_key: str) -> Item:
    return {"PK": f"INVOICE#{invoice_id}", "SK": sort_key}


def sync_key(invoice_id: str) -> Item:
    return {"PK": f"INVOICE#{invoice_id}", "SK": "SYNC"}


def stripe_event_key(event_id: str) -> Item:
    """A Stripe event handled by the webhook (ids are ASCII `evt_…`, at most 255 characters)."""
    return {"PK": f"STRIPE_EVENT#{event_id}", "SK": "#EVENT"}


def outbox_key(invoice_id: str, provider: str) -> Item:
    return {"PK": f"INVOICE#{invoice_id}", "SK": f"METER#{provider}"}


def usage_record_key(provider: str, customer_id: str, dimension: str, hour: datetime) -> Item:
    hour_key = f"RECORD#{dimension}#{sortable_timestamp(hour)}"
    return {"PK": usage_records_partition(provider, customer_id), "SK": hour_key}


def usage_records_partition(provider: str, customer_id: str) -> str:
    return f"METER#{provider}#{customer_id}"


def waiting_records_partition(provider: str, customer_id: str) -> str:
    return f"METERWAIT#{provider}#{customer_id}"


def lease_key(kind: str, key: str) -> Item:
    return {"PK": f"LEASE#{kind}#{key}", "SK": "#LEASE"}


def customer_item(customer: Customer) -> Item:
    """A customer's item; `lifetime_billings` is a top-level map so invoice writes can add to it,
    `alert_count` a top-level number so alert creates and archives can (dynamodb/alerts.py)."""
    return {
        **customer_key(customer.id),
        "entity": "customer",
        "GSI1PK": "CUSTOMERS",
        "GSI1SK": f"{format_timestamp(customer.created_at)}#{id_part(customer.id)}",
        "data": customer_data(customer),
        "lifetime_billings": dict(customer.lifetime_billings),
        "alert_count": customer.alert_count,
    }


def customer_data(customer: Customer) -> str:
    return customer.model_dump_json(exclude={"lifetime_billings", "alert_count"}, context=STORAGE)


def customer_from_item(item: Item) -> Customer:
    customer = Customer.model_validate_json(item["data"])
    billings = {currency: Decimal(amount) for currency, amount in item.get("lifetime_billings", {}).items()}
    return customer.model_copy(
        update={"lifetime_billings": billings, "alert_count": max(0, int(item.get("alert_count", 0)))}
    )


def contract_item(contract: Contract) -> Item:
    return {
        **contract_key(contract.customer_id, contract.id),
        "entity": "contract",
        "data": contract.model_dump_json(context=STORAGE),
    }


def contract_from_item(item: Item) -> Contract:
    return Contract.model_validate_json(item["data"])


def product_key(product_id: str) -> Item:
    return {"PK": f"PRODUCT#{product_id}", "SK": "#PRODUCT"}


def product_item(product: Product) -> Item:
    return {**product_key(product.id), "entity": "product", "data": product.model_dump_json(context=STORAGE)}


def product_from_item(item: Item) -> Product:
    return Product.model_validate_json(item["data"])


def finalized_usage_prefix(contract_id: str) -> str:
    """The sort key prefix of one contract's finalized-usage markers. The contract id is digested:
    a fixed-width part, so one contract's prefix is never the start of another's (ids may hold `#`)."""
    return f"FINALIZED_USAGE#{digest(contract_id)}#"


def finalized_usage_key(customer_id: str, contract_id: str, end_timestamp: datetime, invoice_id: str) -> Item:
    """A FINALIZED USAGE invoice's marker: its end first (fixed width), so the last one of a Query
    in descending order is the contract's latest finalized end."""
    sort = f"{finalized_usage_prefix(contract_id)}{sortable_timestamp(end_timestamp)}#{id_part(invoice_id)}"
    return {"PK": f"CUSTOMER#{customer_id}", "SK": sort}


def alert_key(alert_id: str) -> Item:
    return {"PK": f"ALERT#{alert_id}", "SK": "#ALERT"}


def alert_uniqueness_key(key: str) -> Item:
    """An alert's claimed `uniqueness_key` (unique across the account, not per customer)."""
    return {"PK": f"ALERT_UNIQUE#{key}", "SK": "#UNIQUE"}


# How many live alerts apply to every customer (`customer_id` null), kept in their create and archive
# transactions; a customer's own alerts are counted on its item (`alert_count`).
EVERY_CUSTOMER_ALERTS_KEY: Item = {"PK": "ALERTS_FOR_EVERY_CUSTOMER", "SK": "#COUNT"}
ALERT_STATES_PREFIX = "ALERTSTATE#"


def alert_state_key(customer_id: str, alert_id: str, contract_id: str | None) -> Item:
    """A customer's state for an alert (`…#C`), or one contract's (`…#K#<contract>`); the alert id is
    digested so one alert's prefix never starts another's (ids may hold `#`)."""
    subject = "C" if contract_id is None else f"K#{id_part(contract_id)}"
    return {"PK": f"CUSTOMER#{customer_id}", "SK": f"{ALERT_STATES_PREFIX}{digest(alert_id)}#{subject}"}


SPEND_PREFIX = "SPEND#"


def spend_key(customer_id: str, end_timestamp: datetime, invoice_id: str) -> Item:
    """A USAGE invoice's spend marker: its end first (fixed width), so the invoices ending after a
    moment are one range of the customer's partition."""
    return {
        "PK": f"CUSTOMER#{customer_id}",
        "SK": f"{SPEND_PREFIX}{sortable_timestamp(end_timestamp)}#{id_part(invoice_id)}",
    }
