"""Which invoices `GET /v1/customers/{id}/invoices` returns (DESIGN §4a "Invoices list")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.domain.invoice import Invoice, InvoiceStatus


@dataclass(frozen=True)
class InvoiceQuery:
    """`starting_on`: start_timestamp ≥ it; `ending_before`: end_timestamp ≤ it; `status`: all when None."""

    status: InvoiceStatus | None = None
    starting_on: datetime | None = None
    ending_before: datetime | None = None

    def matches(self, invoice: Invoice) -> bool:
        return (
            (self.status is None or invoice.status == self.status)
            and (self.starting_on is None or invoice.start_timestamp >= self.starting_on)
            and (self.ending_before is None or invoice.end_timestamp <= self.ending_before)
        )
