"""The Stripe invoice plan: from a downbeat invoice and its Stripe configuration, the exact calls.

Pure code (no SDK, no I/O, no clock). The executor (`shared/services/stripe_sync.py`) performs a
plan against Stripe and records receipts; `downbeat sync --dry-run` prints one. The rules are in
docs/stripe.md; in short:

- amounts are Stripe minor units from the one currency table (`shared.domain.money`), rounded
  half-up once; three-decimal currencies in steps of 10 (Stripe requires a trailing 0); ISK and
  UGX, zero-decimal for us, are two-decimal on Stripe's wire (amount x 100);
- every line is one amount (never quantity x price); its quantity and unit price go in the
  description, so Stripe's arithmetic can never differ from ours;
- applied credits are negative items named after them, so Σ items = the invoice `total`; with
  automatic tax (which refuses negative items) they are taken off the largest lines instead;
- the rounding residue (total - Σ rounded items) goes onto the largest positive item; a residue
  above one step per item sent (after collapsing) is a permanent failure naming both totals;
- more items than Stripe allows on one invoice (250) are collapsed per product;
- `effective_at` is 12:00 in `invoice_date_timezone` on the last service date.

Amounts live in `stripe_amounts`, the items (lines, credits, collapsing, residue) in `stripe_items`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time
from enum import StrEnum
from typing import Any, Literal, Protocol, TypeVar
from zoneinfo import ZoneInfo

from shared.domain.id_keys import ascii_key_part, digest
from shared.domain.invoice import Invoice
from shared.domain.providers import StripeConfiguration
from shared.domain.stripe_amounts import format_stripe_amount, minimum_charge, stripe_amount, stripe_step
from shared.domain.stripe_items import (
    MAX_ITEMS_PER_INVOICE,
    PlannedItem,
    absorb_residue,
    clip_description,
    net_credits,
    plan_items,
)
from shared.domain.timestamps import last_service_date

# POST /v1/invoices/{id}/add_lines (https://docs.stripe.com/api/invoice-line-item/bulk) documents no
# per-call maximum of its own (nor does `InvoiceAddLinesParams.lines` in the SDK, generated from
# Stripe's OpenAPI spec): the invoice's 250-item limit is the bound, so one call can carry them all.
# Kept a parameter of `chunks()` so a lower cap, should Stripe publish one, is a one-line change.
ADD_LINES_MAX_PER_CALL = MAX_ITEMS_PER_INVOICE

METADATA_INVOICE_ID = "downbeat_invoice_id"
METADATA_INVOICE_VERSION = "downbeat_invoice_version"
METADATA_ITEM_KEY = "downbeat_item"
SERVICE_DAY_HOUR = time(12, 0)
_IDEMPOTENCY_KEY_MAX = 255


class PlanOutcome(StrEnum):
    PUSH = "push"  # create (or complete) the Stripe invoice
    SKIP = "skip"  # nothing goes to Stripe (skip_below_minimum)
    FAIL = "fail"  # nothing goes to Stripe: our own numbers do not reconcile


# ---- effective_at -----------------------------------------------------------------------------


def service_period_effective_at(end_timestamp: datetime, timezone: str) -> datetime:
    """12:00 in `timezone` on the last service date (the UTC date of the exclusive end - 1 ms)."""
    day: date = last_service_date(end_timestamp)
    return datetime.combine(day, SERVICE_DAY_HOUR, tzinfo=ZoneInfo(timezone))


def effective_at(invoice: Invoice, configuration: StripeConfiguration) -> tuple[int | None, str]:
    """The draft's `effective_at` (Unix seconds) or None, and a sentence saying how it was chosen."""
    if configuration.automatic_tax:
        return None, (
            "effective_at left unset: automatic tax is on and Stripe Tax cannot take a custom "
            "effective_at, so Stripe uses the finalization date"
        )
    if configuration.invoice_date == "finalization":
        return None, "effective_at left unset: invoice_date is finalization, so Stripe uses the finalization date"
    moment = service_period_effective_at(invoice.end_timestamp, configuration.invoice_date_timezone)
    return int(moment.timestamp()), (
        f"effective_at {moment.isoformat()} (12:00 {configuration.invoice_date_timezone} on the last "
        f"service date {moment.date().isoformat()})"
    )


# ---- the plan ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedCall:
    """One Stripe call as the dry run prints it; `{stripe_invoice_id}` stands for the draft's id."""

    step: str
    method: Literal["GET", "POST", "DELETE"]
    path: str
    params: dict[str, Any]
    idempotency_key: str | None
    note: str = ""


@dataclass(frozen=True)
class StripePlan:
    invoice_id: str
    version: int
    customer: str
    currency: str  # ISO code as downbeat holds it (upper case); Stripe takes it lower case
    outcome: PlanOutcome
    reason: str
    total: int  # our invoice total in Stripe units
    items: tuple[PlannedItem, ...] = ()
    draft_params: dict[str, Any] = field(default_factory=dict)
    effective_at: int | None = None
    effective_at_note: str = ""
    finalize: bool = True
    total_field: Literal["total", "total_excluding_tax"] = "total"
    residue: int = 0
    residue_item: str | None = None
    collapsed_from: int | None = None  # the item count before collapsing, when collapsed
    period: tuple[int, int] = (0, 0)

    @property
    def items_by_key(self) -> dict[str, PlannedItem]:
        return {item.key: item for item in self.items}

    def line_params(self, item: PlannedItem) -> dict[str, Any]:
        """An `add_lines` line (also the body of an `invoiceitems` create, with `invoice`)."""
        return {
            "amount": item.amount,
            "description": item.description,
            "period": {"start": self.period[0], "end": self.period[1]},
            "metadata": {
                METADATA_INVOICE_ID: self.invoice_id,
                METADATA_INVOICE_VERSION: str(self.version),
                METADATA_ITEM_KEY: item.key,
            },
        }

    def calls(
        self,
        attempt: int = 1,
        *,
        stripe_invoice_id: str = "{stripe_invoice_id}",
        look_up_first: bool = False,
        add_lines_cap: int = ADD_LINES_MAX_PER_CALL,
    ) -> list[PlannedCall]:
        """The calls of a fresh sync, in order (what the dry run prints)."""
        if self.outcome is not PlanOutcome.PUSH:
            return []
        calls: list[PlannedCall] = []
        if look_up_first:
            calls.append(
                PlannedCall(
                    "find_existing",
                    "GET",
                    "/v1/invoices",
                    {"customer": self.customer, "limit": 100},
                    None,
                    f"keep the one whose metadata {METADATA_INVOICE_ID} is {self.invoice_id}",
                )
            )
        calls.append(
            PlannedCall(
                "create_draft",
                "POST",
                "/v1/invoices",
                self.draft_params,
                idempotency_key(self.invoice_id, self.version, "create_draft", attempt),
                self.effective_at_note,
            )
        )
        for index, chunk in enumerate(chunks(self.items, add_lines_cap), start=1):
            step = f"add_lines_{index}"
            calls.append(
                PlannedCall(
                    step,
                    "POST",
                    f"/v1/invoices/{stripe_invoice_id}/add_lines",
                    {"lines": [self.line_params(item) for item in chunk]},
                    idempotency_key(self.invoice_id, self.version, step, attempt),
                )
            )
        check = f"Stripe's {self.total_field} must be {self.total} ({format_stripe_amount(self.total, self.currency)})"
        if self.finalize:
            calls.append(
                PlannedCall(
                    "finalize",
                    "POST",
                    f"/v1/invoices/{stripe_invoice_id}/finalize",
                    {"auto_advance": True},
                    idempotency_key(self.invoice_id, self.version, "finalize", attempt),
                    check + " first",
                )
            )
        else:
            calls.append(
                PlannedCall("check_total", "GET", "(no call: from the last reply)", {}, None, check + "; left as draft")
            )
        return calls

    def describe(self) -> dict[str, Any]:
        """A JSON-ready summary (the dry run's output)."""
        return {
            "invoice_id": self.invoice_id,
            "version": self.version,
            "customer": self.customer,
            "currency": self.currency,
            "outcome": str(self.outcome),
            "reason": self.reason,
            "total": self.total,
            "total_display": format_stripe_amount(self.total, self.currency),
            "effective_at": self.effective_at,
            "effective_at_note": self.effective_at_note,
            "residue": self.residue,
            "residue_item": self.residue_item,
            "collapsed_from": self.collapsed_from,
            "items": [
                {"key": item.key, "amount": item.amount, "description": item.description, "kind": item.kind}
                for item in self.items
            ],
            "calls": [
                {
                    "step": call.step,
                    "method": call.method,
                    "path": call.path,
                    "idempotency_key": call.idempotency_key,
                    "params": call.params,
                    "note": call.note,
                }
                for call in self.calls()
            ],
        }


def idempotency_key(invoice_id: str, version: int, step: str, attempt: int) -> str:
    """`downbeat:<invoice>:v<version>:<step>:a<attempt>`; a new attempt number means a new key.

    The key is an HTTP header: ASCII only, at most 255 characters. An invoice id or step (a step
    may name a line id) that is not short plain ASCII goes in as a readable prefix and a digest
    (`shared.domain.id_keys.ascii_key_part`), so every id reaches Stripe and no two keys meet.
    """
    key = f"downbeat:{ascii_key_part(invoice_id)}:v{version}:{ascii_key_part(step)}:a{attempt}"
    if len(key) > _IDEMPOTENCY_KEY_MAX:  # only with an attempt or version of absurd length
        key = f"downbeat:{digest(key)}"
    return key


def chunks(items: Sequence[PlannedItem], cap: int = ADD_LINES_MAX_PER_CALL) -> list[tuple[PlannedItem, ...]]:
    if cap < 1:
        raise ValueError("cap must be at least 1")
    return [tuple(items[start : start + cap]) for start in range(0, len(items), cap)]


def plan_stripe_invoice(invoice: Invoice, configuration: StripeConfiguration) -> StripePlan:
    """The plan for a FINALIZED invoice (see the module docstring and docs/stripe.md)."""
    currency = invoice.currency
    step = stripe_step(currency)
    total = stripe_amount(invoice.total, currency)
    stamp, stamp_note = effective_at(invoice, configuration)
    base = StripePlan(
        invoice_id=invoice.id,
        version=invoice.version,
        customer=configuration.stripe_customer_id,
        currency=currency,
        outcome=PlanOutcome.PUSH,
        reason="",
        total=total,
        effective_at=stamp,
        effective_at_note=stamp_note,
        finalize=not configuration.leave_as_draft,
        total_field="total_excluding_tax" if configuration.automatic_tax else "total",
        period=(int(invoice.start_timestamp.timestamp()), int(invoice.end_timestamp.timestamp())),
    )
    if configuration.skip_below_minimum:
        minimum = minimum_charge(currency)
        if total <= 0 or (minimum is not None and total < minimum):
            shown = "zero" if minimum is None else f"Stripe's minimum charge {format_stripe_amount(minimum, currency)}"
            reason = (
                f"invoice {invoice.id}: total {format_stripe_amount(total, currency)} is below {shown}; "
                "skip_below_minimum is on, so nothing was sent to Stripe"
            )
            return replace(base, outcome=PlanOutcome.SKIP, reason=reason)

    credits_as_items = not configuration.automatic_tax
    items, collapsed_from = plan_items(invoice.line_items, invoice.applied_credits, currency, credits_as_items)
    netted_later = 0 if credits_as_items else sum(stripe_amount(c.amount, currency) for c in invoice.applied_credits)
    residue = total - (sum(item.amount for item in items) - netted_later)
    # At most one step per item Stripe will hold (after collapsing; credits netted off lines count
    # too): each rounding is off by at most half a step, so anything larger is not rounding.
    sent = len(items) + (0 if credits_as_items else len(invoice.applied_credits))
    bound = step * max(1, sent)
    if abs(residue) > bound:
        reason = (
            f"invoice {invoice.id}: total {format_stripe_amount(total, currency)} differs from its lines and "
            f"credits, {format_stripe_amount(total - residue, currency)}, by more than rounding allows "
            f"({format_stripe_amount(bound, currency)}); nothing was sent to Stripe"
        )
        return replace(base, outcome=PlanOutcome.FAIL, reason=reason, residue=residue)
    residue_item = None
    if residue:
        items, residue_item = absorb_residue(items, residue, currency)
    if not credits_as_items:
        items = net_credits(items, invoice.applied_credits, currency)
    if any(item.amount < 0 for item in items) and not credits_as_items:
        reason = (
            f"invoice {invoice.id}: automatic tax needs non-negative items, but the credits exceed the lines "
            "they could be taken off; nothing was sent to Stripe"
        )
        return replace(base, outcome=PlanOutcome.FAIL, reason=reason)

    draft = _draft_params(invoice, configuration, stamp)
    ending = "left as a draft (leave_as_draft)" if configuration.leave_as_draft else "finalized"
    reason = f"{len(items)} items totalling {format_stripe_amount(total, currency)}, then {ending}"
    return replace(
        base,
        reason=reason,
        items=tuple(items),
        draft_params=draft,
        residue=residue,
        residue_item=residue_item,
        collapsed_from=collapsed_from,
    )


def _draft_params(invoice: Invoice, configuration: StripeConfiguration, stamp: int | None) -> dict[str, Any]:
    start = invoice.start_timestamp.astimezone(UTC).date().isoformat()
    last = last_service_date(invoice.end_timestamp).isoformat()
    params: dict[str, Any] = {
        "customer": configuration.stripe_customer_id,
        "currency": invoice.currency.lower(),
        "collection_method": configuration.stripe_collection_method,
        "auto_advance": False,
        "pending_invoice_items_behavior": "exclude",
        "description": clip_description(f"Service period {start} to {last} (downbeat invoice {invoice.id})"),
        "metadata": {METADATA_INVOICE_ID: invoice.id, METADATA_INVOICE_VERSION: str(invoice.version)},
    }
    if configuration.stripe_collection_method == "send_invoice":
        params["days_until_due"] = configuration.days_until_due
    if configuration.automatic_tax:
        params["automatic_tax"] = {"enabled": True}
    if stamp is not None:
        params["effective_at"] = stamp
    return params


class DraftLine(Protocol):
    """A line of a Stripe draft as read back (the Stripe port's line view has these fields)."""

    @property
    def id(self) -> str: ...
    @property
    def amount(self) -> int: ...
    @property
    def metadata(self) -> Mapping[str, str]: ...


_Line = TypeVar("_Line", bound=DraftLine)


def sort_draft_lines(plan: StripePlan, lines: Sequence[_Line]) -> tuple[list[_Line], list[tuple[str, str]]]:
    """(lines to keep, (line id, behavior) to remove): a line is kept when it is one of the plan's
    items, of the plan's version, once, with the planned amount. Our other lines are deleted; a line
    that is not ours (added by hand) is unassigned, so it goes back to the customer's pending items."""
    planned = plan.items_by_key
    keep: list[_Line] = []
    remove: list[tuple[str, str]] = []
    seen: set[str] = set()
    for line in lines:
        ours = line.metadata.get(METADATA_INVOICE_ID) == plan.invoice_id
        key = line.metadata.get(METADATA_ITEM_KEY)
        fits = (
            ours
            and key is not None
            and key not in seen
            and key in planned
            and planned[key].amount == line.amount
            and line.metadata.get(METADATA_INVOICE_VERSION) == str(plan.version)
        )
        if fits and key is not None:
            keep.append(line)
            seen.add(key)
        else:
            remove.append((line.id, "delete" if ours else "unassign"))
    return keep, remove
