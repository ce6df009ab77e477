"""The items of a Stripe invoice: lines, credits, collapsing per product, the rounding residue.

Every line is one amount (never quantity x price); its quantity and unit price go in the
description, so Stripe's arithmetic can never differ from ours. Applied credits are negative items
named after them, so Σ items = the invoice `total`; with automatic tax (which refuses negative
items) they are taken off the largest lines instead. The rounding residue goes onto the largest
positive item. More items than Stripe allows on one invoice are collapsed per product.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Literal

from shared.domain.invoice import AppliedCredit, LineItem
from shared.domain.stripe_amounts import format_stripe_amount, stripe_amount

# "You can no longer add more than 250 invoice items to an invoice"
# (https://docs.stripe.com/changelog/2016-02-22/no-more-than-250-invoice-items).
MAX_ITEMS_PER_INVOICE = 250
MAX_DESCRIPTION = 500


@dataclass(frozen=True)
class PlannedItem:
    """One invoice item on the Stripe invoice."""

    key: str  # stable within the invoice: a line id, "credit:<id>", "product:<id>", "other"
    amount: int  # Stripe minor units; negative for a credit
    description: str
    line_ids: tuple[str, ...] = ()
    kind: Literal["line", "collapsed", "credit", "credits", "other"] = "line"

    def with_amount(self, amount: int, note: str | None = None) -> PlannedItem:
        description = self.description if note is None else clip_description(f"{self.description} ({note})")
        return replace(self, amount=amount, description=description)


def _number(value: Decimal) -> str:
    normalized = value.normalize()
    return f"{normalized:,f}"


def clip_description(text: str) -> str:
    return text if len(text) <= MAX_DESCRIPTION else text[: MAX_DESCRIPTION - 1] + "…"


def line_description(line: LineItem, currency: str) -> str:
    """The line's name with its quantity (and unit price) spelled out: Stripe only sees the amount."""
    if line.unit_price is not None:
        detail = f"{_number(line.quantity)} x {_number(line.unit_price)} {currency}"
    elif line.quantity != 1:
        detail = f"quantity {_number(line.quantity)}"
    else:
        return clip_description(line.name)
    return clip_description(f"{line.name} ({detail})")


def _credit_name(credit: AppliedCredit) -> str:
    return credit.name or f"{credit.type.replace('_', ' ').lower()} {credit.id}"


def plan_items(
    lines: Sequence[LineItem], credits: Sequence[AppliedCredit], currency: str, credits_as_items: bool
) -> tuple[list[PlannedItem], int | None]:
    credit_items = [
        PlannedItem(
            key=f"credit:{credit.id}",
            amount=-stripe_amount(credit.amount, currency),
            description=clip_description(f"Applied {_credit_name(credit)}"),
            kind="credit",
        )
        for credit in credits
    ]
    extra = len(credit_items) if credits_as_items else 0
    line_items = [
        PlannedItem(
            key=line.id, amount=stripe_amount(line.total, currency), description=line_description(line, currency),
            line_ids=(line.id,),
        )
        for line in lines
    ]  # fmt: skip
    if len(line_items) + extra <= MAX_ITEMS_PER_INVOICE:
        return line_items + (credit_items if credits_as_items else []), None

    collapsed_from = len(line_items) + extra
    grouped = _collapse_per_product(lines, currency)
    if credits_as_items and len(grouped) + len(credit_items) > MAX_ITEMS_PER_INVOICE and len(credit_items) > 1:
        credit_items = [_merge_credits(credits, currency)]
        extra = 1
    room = MAX_ITEMS_PER_INVOICE - extra
    if len(grouped) > room:
        grouped = _merge_smallest(grouped, lines, room, currency)
    return grouped + (credit_items if credits_as_items else []), collapsed_from


def _collapse_per_product(lines: Sequence[LineItem], currency: str) -> list[PlannedItem]:
    """One item per product (first-appearance order), amount = the rounded sum of its exact totals."""
    groups: dict[str | None, list[LineItem]] = {}
    for line in lines:
        groups.setdefault(line.product_id, []).append(line)
    items = []
    for product_id, members in groups.items():
        if len(members) == 1:
            line = members[0]
            items.append(
                PlannedItem(
                    key=line.id,
                    amount=stripe_amount(line.total, currency),
                    description=line_description(line, currency),
                    line_ids=(line.id,),
                )
            )
            continue
        exact = sum((line.total for line in members), Decimal(0))
        names = sorted({line.name for line in members})
        named = names[0] if len(names) == 1 else f"{names[0]} and {len(names) - 1} other line names"
        product = f"product {product_id}" if product_id else "lines without a product"
        items.append(
            PlannedItem(
                key=f"product:{product_id or '-'}",
                amount=stripe_amount(exact, currency),
                description=clip_description(
                    f"{named}: {len(members)} lines of {product} collapsed into one "
                    f"(Stripe allows {MAX_ITEMS_PER_INVOICE} items per invoice)"
                ),
                line_ids=tuple(line.id for line in members),
                kind="collapsed",
            )
        )
    return items


def _merge_smallest(
    grouped: list[PlannedItem], lines: Sequence[LineItem], room: int, currency: str
) -> list[PlannedItem]:
    """Keep the `room - 1` largest groups; everything else becomes one "other usage" item."""
    ranked = sorted(range(len(grouped)), key=lambda index: (-grouped[index].amount, index))
    keep = set(ranked[: room - 1])
    merged_ids = {line_id for index, item in enumerate(grouped) if index not in keep for line_id in item.line_ids}
    exact = sum((line.total for line in lines if line.id in merged_ids), Decimal(0))
    products = len(grouped) - len(keep)
    other = PlannedItem(
        key="other",
        amount=stripe_amount(exact, currency),
        description=clip_description(
            f"Other usage: {len(merged_ids)} lines across {products} products collapsed into one "
            f"(Stripe allows {MAX_ITEMS_PER_INVOICE} items per invoice)"
        ),
        line_ids=tuple(line.id for line in lines if line.id in merged_ids),
        kind="other",
    )
    return [item for index, item in enumerate(grouped) if index in keep] + [other]


def _merge_credits(credits: Sequence[AppliedCredit], currency: str) -> PlannedItem:
    exact = sum((credit.amount for credit in credits), Decimal(0))
    return PlannedItem(
        key="credits",
        amount=-stripe_amount(exact, currency),
        description=clip_description(f"Applied commits and credits: {len(credits)} collapsed into one"),
        kind="credits",
    )


def absorb_residue(items: list[PlannedItem], residue: int, currency: str) -> tuple[list[PlannedItem], str | None]:
    """Put the residue on the largest positive item (the first of equals); else on the largest item."""
    candidates = [index for index, item in enumerate(items) if item.amount > 0 and item.kind != "credit"]
    if not candidates:
        candidates = [index for index, item in enumerate(items) if item.kind not in ("credit", "credits")]
    if not candidates:
        return items, None
    target = max(candidates, key=lambda index: (items[index].amount, -index))
    updated = list(items)
    item = items[target]
    updated[target] = item.with_amount(item.amount + residue)
    return updated, item.key


def net_credits(items: list[PlannedItem], credits: Iterable[AppliedCredit], currency: str) -> list[PlannedItem]:
    """Automatic tax refuses negative items: take each credit off the largest lines instead."""
    updated = list(items)
    notes: dict[int, list[str]] = {}
    for credit in credits:
        remaining = stripe_amount(credit.amount, currency)
        for index in sorted(range(len(updated)), key=lambda i: (-updated[i].amount, i)):
            if remaining <= 0:
                break
            take = min(remaining, updated[index].amount)
            if take <= 0:
                continue
            updated[index] = replace(updated[index], amount=updated[index].amount - take)
            notes.setdefault(index, []).append(f"less {format_stripe_amount(take, currency)} {_credit_name(credit)}")
            remaining -= take
        if remaining > 0:
            updated.append(
                PlannedItem(key=f"credit:{credit.id}", amount=-remaining, description="", kind="credit")
            )  # left negative on purpose: the caller turns it into a permanent failure
    for index, parts in notes.items():
        updated[index] = updated[index].with_amount(updated[index].amount, "; ".join(parts))
    return updated
