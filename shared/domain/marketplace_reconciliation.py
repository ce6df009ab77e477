"""Reconciliation at the marketplaces: what we recorded against itself and, for Azure, against what
Azure holds (docs/reconciliation.md, "Marketplaces"). Rows are shared.domain.reconciliation's.

Our side, both marketplaces (AWS has no API that reads metering records back, so this is all that
can be checked there): each invoice whose metering is done must have every cent it owes in
records — accepted with a receipt, or lost (`expired`, `failed`…) with a reason, each lost record
listed — and a customer's accepted records must hold exactly the cents its invoices account for.

Azure's side: `GET /api/usageEvents` sums what it holds per resource, dimension and UTC day, so
our accepted events are summed the same way and compared day by day.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from shared.domain.marketplace_metering import FAILED_STATES, WAITING_STATES, InvoiceShare
from shared.domain.reconciliation import Difference, Kind
from shared.domain.timestamps import format_timestamp

LOST_STATES = frozenset({"expired", *FAILED_STATES})
RECEIPT_NAMES = {"aws_marketplace": "MeteringRecordId", "azure_marketplace": "usageEventId"}
NO_INVOICE = "-"  # the invoice column of a row no single invoice of ours stands for


@dataclass(frozen=True)
class MeteredInvoice:
    """One invoice as the meter left it: what it owes the marketplace and the records carrying it."""

    invoice_id: str
    owed_cents: int  # its total in cents; a voided invoice: the cents it had put in records
    assigned_cents: int  # in records, whatever became of them
    shares: Sequence[InvoiceShare]

    @property
    def in_flight(self) -> bool:
        """Cents not yet in a record, or in records awaiting an answer: the meter is not done."""
        unassigned = self.owed_cents > self.assigned_cents
        return unassigned or any(share.state in WAITING_STATES for share in self.shares)


def invoice_differences(provider: str, invoice: MeteredInvoice) -> list[Difference]:
    """The rows for one invoice whose metering is done (`in_flight` is false)."""

    def difference(kind: Kind, expected: str, actual: str) -> Difference:
        return Difference(provider, invoice.invoice_id, kind, expected, actual)

    receipt = RECEIPT_NAMES[provider]
    differences = []
    accepted = lost = 0
    for share in invoice.shares:
        where = f"{format_timestamp(share.hour)} record ({share.cents} cents of this invoice)"
        if share.state == "accepted":
            accepted += share.cents
            if not share.receipt:
                differences.append(difference("missing", f"a {receipt} for the {where}", "none"))
        elif share.state in LOST_STATES:
            lost += share.cents
            differences.append(difference("status", f"accepted: the {where}", f"{share.state}: {share.reason}"))
    if accepted + lost != invoice.owed_cents:
        said = f"{accepted} cents accepted" + (f" and {lost} expired or failed" if lost else "")
        differences.append(difference("total", f"{invoice.owed_cents} cents", said))
    return differences


def customer_difference(provider: str, customer_id: str, *, in_records: int, in_invoices: int) -> Difference | None:
    """A customer's accepted records (Σ quantities) against the invoices' cents in them (Σ shares):
    unequal, some record carries cents no invoice of ours accounts for, or the other way round."""
    if in_records == in_invoices:
        return None
    return Difference(
        provider,
        NO_INVOICE,
        "total",
        f"customer {customer_id}: {in_invoices} cents its invoices have in accepted records",
        f"{in_records} cents in its accepted records",
    )


@dataclass(frozen=True)
class DayUsage:
    """Events for one resource and UTC day: their quantities summed, and how many there are."""

    quantity: Decimal
    events: int

    def __str__(self) -> str:
        return f"{self.quantity.normalize():f} units in {self.events} event(s)"


@dataclass(frozen=True)
class UsageDayKey:
    resource_id: str
    day: date

    def __str__(self) -> str:
        return f"on {self.day.isoformat()} for resource {self.resource_id}"


def usage_day_differences(
    provider: str,
    ours: Mapping[UsageDayKey, DayUsage],
    theirs: Mapping[UsageDayKey, DayUsage],
    invoices: Mapping[UsageDayKey, Sequence[str]],
) -> list[Difference]:
    """Our accepted events against the marketplace's, per resource and day. `invoices` names, per
    key, our invoices whose cents are in that day's records (the row's invoice column)."""
    differences = []
    for key in sorted({*ours, *theirs}, key=lambda k: (k.day, k.resource_id)):
        mine, held = ours.get(key), theirs.get(key)
        invoice_ids = ",".join(sorted(invoices.get(key, ()))) or NO_INVOICE
        if mine is None and held is not None:
            differences.append(Difference(provider, invoice_ids, "unrecorded", f"no usage event {key}", str(held)))
        elif mine is not None and held is None:
            differences.append(Difference(provider, invoice_ids, "missing", f"{mine} {key}", "none"))
        elif mine is not None and held is not None and (mine.quantity, mine.events) != (held.quantity, held.events):
            # More events there than ours: one we never recorded; fewer: one of ours is missing.
            kind: Kind = (
                "unrecorded" if held.events > mine.events else "missing" if held.events < mine.events else "total"
            )
            differences.append(Difference(provider, invoice_ids, kind, f"{mine} {key}", str(held)))
    return differences
