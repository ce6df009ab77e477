"""Moving a contract's end date (`POST /v1/contracts/updateEndDate`): the finalized-invoice guard.

A FINALIZED USAGE invoice of the contract whose service period ends after the new end blocks the
change when the caller says so (`allow_ending_before_finalized_invoice: false`); otherwise the change
is made and the caller is told that the finalized invoices stay as they are. An end equal to that
invoice's end is not before it: no warning.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.domain.customers import Contract
from shared.domain.timestamps import format_timestamp
from shared.domain.validation import FieldError


@dataclass(frozen=True)
class FinalizedUsageEnd:
    """The FINALIZED USAGE invoice of a contract whose service period ends last."""

    invoice_id: str
    end_timestamp: datetime


def end_date_change(
    contract: Contract,
    ending_before: datetime | None,
    latest_finalized: FinalizedUsageEnd | None,
    *,
    allow_ending_before_finalized_invoice: bool,
) -> tuple[Contract, list[str]]:
    """The contract with its new end, and the warnings to show; FieldError on `ending_before`."""
    if ending_before is not None and ending_before <= contract.starting_at:
        raise FieldError(
            "ending_before",
            f"must be after the contract's starting_at {format_timestamp(contract.starting_at)} (the end is exclusive)",
        )
    warnings: list[str] = []
    if latest_finalized is not None and ending_before is not None and ending_before < latest_finalized.end_timestamp:
        invoice, invoice_end = latest_finalized.invoice_id, format_timestamp(latest_finalized.end_timestamp)
        if not allow_ending_before_finalized_invoice:
            raise FieldError(
                "ending_before",
                f"is before the end of finalized invoice {invoice!r} ({invoice_end}); end the contract at or"
                " after it, or set allow_ending_before_finalized_invoice to true",
            )
        warnings.append(
            f"Finalized invoices will be unchanged: invoice {invoice!r} was finalized for service up to"
            f" {invoice_end}, after the new end date, and keeps its amounts; correct it upstream if needed."
        )
    return contract.model_copy(update={"ending_before": ending_before}), warnings
