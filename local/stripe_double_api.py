"""The in-memory Stripe invoicing model served by :mod:`local.stripe_double`.

This part knows Stripe's objects and rules (invoices, invoice items, lines, totals, transitions);
``stripe_double_wire`` knows the wire format and ``stripe_double`` HTTP, idempotency keys, rate
limits and fault injection. Sources for the behaviour are listed in ``local/stripe_double.py``.
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from local.stripe_double_wire import (
    JSON,
    THREE_DECIMAL_CURRENCIES,
    Form,
    StripeError,
    check_minor_units,
    currency_of,
    invalid_param,
    merge_metadata,
    no_such,
    round_half_up,
)

MAX_ITEMS_PER_INVOICE = 250  # docs.stripe.com/changelog/2016-02-22/no-more-than-250-invoice-items
DEFAULT_LIST_LIMIT = 10
MAX_LIST_LIMIT = 100
INVOICE_EMBEDDED_LINES = 10  # an invoice carries "the first handful" of its lines
DAY = 86_400


# ---- objects ------------------------------------------------------------------------------


@dataclass
class Customer:
    id: str
    created: int
    currency: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    email: str | None = None
    name: str | None = None

    def to_json(self) -> JSON:
        return {
            "id": self.id,
            "object": "customer",
            "created": self.created,
            "currency": self.currency,
            "email": self.email,
            "name": self.name,
            "livemode": False,
            "metadata": dict(self.metadata),
        }


@dataclass
class InvoiceItem:
    id: str
    line_id: str
    seq: int
    customer: str
    currency: str
    amount: int
    created: int
    invoice: str | None = None
    description: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    quantity: int = 1
    unit_amount_decimal: Decimal | None = None
    period: tuple[int, int] | None = None
    discountable: bool = True

    def period_json(self) -> JSON:
        start, end = self.period or (self.created, self.created)
        return {"start": start, "end": end}

    def to_json(self) -> JSON:
        unit = self.unit_amount_decimal if self.unit_amount_decimal is not None else self.amount
        return {
            "id": self.id,
            "object": "invoiceitem",
            "amount": self.amount,
            "currency": self.currency,
            "customer": self.customer,
            "date": self.created,
            "description": self.description,
            "discountable": self.discountable,
            "discounts": [],
            "invoice": self.invoice,
            "livemode": False,
            "metadata": dict(self.metadata),
            "parent": None,
            "period": self.period_json(),
            "pricing": {"price_details": None, "type": None, "unit_amount_decimal": str(unit)},
            "proration": False,
            "quantity": self.quantity,
            "tax_rates": [],
            "test_clock": None,
        }

    def line_json(self) -> JSON:
        return {
            "id": self.line_id,
            "object": "line_item",
            "amount": self.amount,
            "currency": self.currency,
            "description": self.description,
            "discount_amounts": [],
            "discountable": self.discountable,
            "discounts": [],
            "invoice": self.invoice,
            "livemode": False,
            "metadata": dict(self.metadata),
            "parent": {
                "type": "invoice_item_details",
                "invoice_item_details": {
                    "invoice_item": self.id,
                    "proration": False,
                    "proration_details": {"credited_items": None},
                    "subscription": None,
                },
                "subscription_item_details": None,
            },
            "period": self.period_json(),
            "pretax_credit_amounts": [],
            "pricing": {"price_details": None, "type": None, "unit_amount_decimal": None},
            "quantity": self.quantity,
            "subtotal": self.amount,
            "taxes": [],
        }


@dataclass
class Invoice:
    id: str
    seq: int
    customer: str
    currency: str
    created: int
    collection_method: str
    auto_advance: bool
    automatic_tax: bool
    days_until_due: int | None = None
    due_date: int | None = None
    effective_at: int | None = None
    description: str | None = None
    footer: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    status: str = "draft"
    number: str | None = None
    finalized_at: int | None = None
    paid_at: int | None = None
    voided_at: int | None = None
    marked_uncollectible_at: int | None = None
    attempted: bool = False  # a payment was tried (by hand in the double: `pay_by_hand`, `fail_payment`)
    attempt_count: int = 0
    item_ids: list[str] = field(default_factory=list)


# ---- the API ------------------------------------------------------------------------------

_INVOICE_CREATE = {
    "account_tax_ids", "application_fee_amount", "auto_advance", "automatic_tax",
    "automatically_finalizes_at", "collection_method", "currency", "custom_fields", "customer",
    "days_until_due", "default_payment_method", "default_source", "default_tax_rates",
    "description", "discounts", "due_date", "effective_at", "expand", "footer", "issuer",
    "metadata", "number", "on_behalf_of", "payment_settings", "pending_invoice_items_behavior",
    "rendering", "shipping_cost", "shipping_details", "statement_descriptor", "transfer_data",
}  # fmt: skip
_INVOICE_UPDATE = _INVOICE_CREATE - {"customer", "currency", "pending_invoice_items_behavior"}
_EDITABLE_AFTER_FINALIZATION = {"metadata", "auto_advance", "expand"}
_ITEM_CREATE = {
    "amount", "currency", "customer", "description", "discountable", "discounts", "expand",
    "invoice", "metadata", "period", "price_data", "pricing", "quantity", "quantity_decimal",
    "subscription", "tax_behavior", "tax_code", "tax_rates", "unit_amount_decimal",
}  # fmt: skip
_LINE_ADD = {
    "amount", "description", "discountable", "discounts", "invoice_item", "metadata", "period",
    "price_data", "pricing", "quantity", "quantity_decimal", "tax_amounts", "tax_rates",
}  # fmt: skip
_LIST = {"limit", "starting_after", "ending_before", "expand"}


class StripeModel:
    """Stripe's invoicing objects and rules, without HTTP. Not thread-safe: callers lock."""

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        add_lines_max_per_call: int = MAX_ITEMS_PER_INVOICE,
        tax_rate_bps: int = 1000,
        seed: int | None = None,
        auto_create_customers: bool = False,
    ) -> None:
        self.clock = clock
        # The local stack's double stands in for a Stripe account whose customers already exist:
        # a `cus_…` id it has not seen is created on first use instead of answering resource_missing.
        self.auto_create_customers = auto_create_customers
        self.add_lines_max_per_call = add_lines_max_per_call
        self.tax_rate_bps = tax_rate_bps
        self._random = random.Random(seed)
        self.reset()

    def reset(self) -> None:
        self.customers: dict[str, Customer] = {}
        self.invoices: dict[str, Invoice] = {}
        self.items: dict[str, InvoiceItem] = {}
        self._seq = 0
        self._numbers: dict[str, int] = {}

    # -- helpers --------------------------------------------------------------------------

    def now(self) -> int:
        return int(self.clock())

    def new_id(self, prefix: str) -> str:
        alphabet = string.ascii_letters + string.digits
        return prefix + "_1" + "".join(self._random.choice(alphabet) for _ in range(23))

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def add_customer(self, customer_id: str | None = None, *, currency: str | None = None, **fields: Any) -> Customer:
        customer = Customer(
            id=customer_id or self.new_id("cus"),
            created=self.now(),
            currency=currency.lower() if currency else None,
            metadata=dict(fields.get("metadata") or {}),
            email=fields.get("email"),
            name=fields.get("name"),
        )
        self.customers[customer.id] = customer
        return customer

    def invoice(self, invoice_id: str, param: str | None = None) -> Invoice:
        found = self.invoices.get(invoice_id)
        if found is None:
            raise no_such("invoice", invoice_id, param)
        return found

    def item(self, item_id: str, param: str | None = None) -> InvoiceItem:
        found = self.items.get(item_id)
        if found is None:
            raise no_such("invoiceitem", item_id, param)
        return found

    def customer(self, customer_id: str, param: str | None = "customer") -> Customer:
        found = self.customers.get(customer_id)
        if found is None and self.auto_create_customers and customer_id.startswith("cus_"):
            found = self.add_customer(customer_id)
        if found is None:
            raise no_such("customer", customer_id, param)
        return found

    def invoice_items(self, invoice: Invoice) -> list[InvoiceItem]:
        return [self.items[i] for i in invoice.item_ids]

    def totals(self, invoice: Invoice) -> JSON:
        subtotal = sum(item.amount for item in self.invoice_items(invoice))
        tax = 0
        if invoice.automatic_tax and subtotal > 0:
            step = 10 if invoice.currency in THREE_DECIMAL_CURRENCIES else 1
            tax = round_half_up(Decimal(subtotal) * self.tax_rate_bps / 10_000, step)
        total = subtotal + tax
        amount_due = max(total, 0)
        amount_paid = amount_due if invoice.status == "paid" else 0
        return {
            "subtotal": subtotal,
            "subtotal_excluding_tax": subtotal,
            "total_excluding_tax": subtotal,
            "total": total,
            "tax": tax,
            "amount_due": amount_due,
            "amount_paid": amount_paid,
            "amount_remaining": 0 if invoice.status == "void" else amount_due - amount_paid,
        }

    # -- rendering ------------------------------------------------------------------------

    def invoice_json(self, invoice: Invoice) -> JSON:
        totals = self.totals(invoice)
        tax = totals.pop("tax")
        lines = [item.line_json() for item in self.invoice_items(invoice)]
        finalized = invoice.finalized_at is not None
        return {
            "id": invoice.id,
            "object": "invoice",
            **totals,
            "amount_overpaid": 0,
            "amount_shipping": 0,
            "attempt_count": invoice.attempt_count,
            "attempted": invoice.attempted,
            "auto_advance": invoice.auto_advance,
            "automatic_tax": {
                "enabled": invoice.automatic_tax,
                "disabled_reason": None,
                "liability": {"type": "self"} if invoice.automatic_tax else None,
                "provider": "stripe" if invoice.automatic_tax else None,
                "status": "complete" if invoice.automatic_tax else None,
            },
            "billing_reason": "manual",
            "collection_method": invoice.collection_method,
            "created": invoice.created,
            "currency": invoice.currency,
            "customer": invoice.customer,
            "default_tax_rates": [],
            "description": invoice.description,
            "discounts": [],
            "due_date": invoice.due_date,
            "effective_at": invoice.effective_at,
            "ending_balance": 0 if finalized else None,
            "footer": invoice.footer,
            "hosted_invoice_url": f"https://invoice.stripe.com/i/{invoice.id}" if finalized else None,
            "invoice_pdf": f"https://pay.stripe.com/invoice/{invoice.id}/pdf" if finalized else None,
            "issuer": {"type": "self"},
            "last_finalization_error": None,
            "lines": {
                "object": "list",
                "data": lines[:INVOICE_EMBEDDED_LINES],
                "has_more": len(lines) > INVOICE_EMBEDDED_LINES,
                "url": f"/v1/invoices/{invoice.id}/lines",
            },
            "livemode": False,
            "metadata": dict(invoice.metadata),
            "number": invoice.number,
            "parent": None,
            "period_end": invoice.created,
            "period_start": invoice.created,
            "starting_balance": 0,
            "status": invoice.status,
            "status_transitions": {
                "finalized_at": invoice.finalized_at,
                "marked_uncollectible_at": invoice.marked_uncollectible_at,
                "paid_at": invoice.paid_at,
                "voided_at": invoice.voided_at,
            },
            "total_discount_amounts": [],
            "total_pretax_credit_amounts": [],
            "total_taxes": [
                {
                    "amount": tax,
                    "tax_behavior": "exclusive",
                    "tax_rate_details": None,
                    "taxability_reason": "standard_rated",
                    "taxable_amount": totals["subtotal"],
                    "type": "tax_rate_details",
                }
            ]
            if tax
            else [],
            "webhooks_delivered_at": invoice.created,
        }

    @staticmethod
    def page(objects: list[JSON], query: Form, url: str, kind: str) -> JSON:
        """Cursor pagination over ``objects`` already in API order."""
        limit = query.integer("limit")
        if limit is None:
            limit = DEFAULT_LIST_LIMIT
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise invalid_param("This value must be between 1 and 100.", "limit")
        ids = [o["id"] for o in objects]
        after, before = query.text("starting_after"), query.text("ending_before")
        if after is not None:
            if after not in ids:
                raise no_such(kind, after, "starting_after")
            start = ids.index(after) + 1
            chunk = objects[start : start + limit]
            has_more = start + limit < len(objects)
        elif before is not None:
            if before not in ids:
                raise no_such(kind, before, "ending_before")
            end = ids.index(before)
            chunk = objects[max(0, end - limit) : end]
            has_more = end - limit > 0
        else:
            chunk, has_more = objects[:limit], len(objects) > limit
        return {"object": "list", "data": chunk, "has_more": has_more, "url": url}

    # -- dispatch -------------------------------------------------------------------------

    def handle(self, method: str, path: str, params: JSON) -> JSON:
        """Serve one API call; returns the JSON body of a 200 or raises :class:`StripeError`."""
        form = Form(params)
        for pattern, verb, handler in self._routes():
            match = re.fullmatch(pattern, path)
            if match and verb == method:
                return handler(form, *match.groups())
        raise StripeError(
            404,
            f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs.",
            saved=False,
        )

    def _routes(self) -> list[tuple[str, str, Callable[..., JSON]]]:
        obj = r"([A-Za-z0-9_]+)"
        return [
            (r"/v1/customers", "POST", self.create_customer),
            (rf"/v1/customers/{obj}", "GET", self.retrieve_customer),
            (r"/v1/invoices", "POST", self.create_invoice),
            (r"/v1/invoices", "GET", self.list_invoices),
            (rf"/v1/invoices/{obj}", "GET", self.retrieve_invoice),
            (rf"/v1/invoices/{obj}", "POST", self.update_invoice),
            (rf"/v1/invoices/{obj}", "DELETE", self.delete_invoice),
            (rf"/v1/invoices/{obj}/finalize", "POST", self.finalize_invoice),
            (rf"/v1/invoices/{obj}/void", "POST", self.void_invoice),
            (rf"/v1/invoices/{obj}/add_lines", "POST", self.add_lines),
            (rf"/v1/invoices/{obj}/remove_lines", "POST", self.remove_lines),
            (rf"/v1/invoices/{obj}/lines", "GET", self.list_lines),
            (r"/v1/invoiceitems", "POST", self.create_item),
            (r"/v1/invoiceitems", "GET", self.list_items),
            (rf"/v1/invoiceitems/{obj}", "GET", self.retrieve_item),
            (rf"/v1/invoiceitems/{obj}", "POST", self.update_item),
            (rf"/v1/invoiceitems/{obj}", "DELETE", self.delete_item),
        ]

    # -- customers ------------------------------------------------------------------------

    def create_customer(self, form: Form) -> JSON:
        form.reject_unknown({"email", "name", "description", "metadata", "expand"})
        return self.add_customer(email=form.text("email"), name=form.text("name"), metadata=form.metadata()).to_json()

    def retrieve_customer(self, form: Form, customer_id: str) -> JSON:
        return self.customer(customer_id, None).to_json()

    # -- invoices -------------------------------------------------------------------------

    def _collection(self, form: Form, method: str | None, days: int | None) -> tuple[str, int | None]:
        method = method or "charge_automatically"
        if days is not None and method != "send_invoice":
            raise invalid_param(
                "The `days_until_due` parameter can only be set when `collection_method` is `send_invoice`.",
                "days_until_due",
            )
        if days is not None and days < 0:
            raise invalid_param("`days_until_due` must be a non-negative integer.", "days_until_due")
        return method, days

    def create_invoice(self, form: Form) -> JSON:
        form.reject_unknown(_INVOICE_CREATE)
        customer_id = form.text("customer", required=True)
        collection_method = form.choice("collection_method", ("charge_automatically", "send_invoice"))
        days_until_due, due_date = form.integer("days_until_due"), form.integer("due_date")
        behaviour = form.choice("pending_invoice_items_behavior", ("exclude", "include"))
        tax_form = form.sub("automatic_tax")
        automatic_tax = bool(tax_form and tax_form.boolean("enabled"))
        auto_advance, effective_at = form.boolean("auto_advance"), form.integer("effective_at")
        currency, metadata = currency_of(form), form.metadata()
        description, footer = form.text("description"), form.text("footer")
        method, days = self._collection(form, collection_method, days_until_due)
        if method == "send_invoice" and days is None and due_date is None:
            raise invalid_param(
                "Invoices with `collection_method=send_invoice` need either `due_date` or `days_until_due`.",
                "days_until_due",
            )
        customer = self.customer(str(customer_id))
        now = self.now()
        invoice = Invoice(
            id=self.new_id("in"),
            seq=self.next_seq(),
            customer=customer.id,
            currency=currency or customer.currency or "usd",
            created=now,
            collection_method=method,
            auto_advance=bool(auto_advance),  # one-off invoices default to auto_advance=false
            automatic_tax=automatic_tax,
            days_until_due=days,
            due_date=due_date if due_date is not None else (now + days * DAY if days is not None else None),
            effective_at=effective_at,
            description=description,
            footer=footer,
            metadata=merge_metadata({}, metadata),
        )
        if behaviour == "include":
            pending = [
                i
                for i in self.items.values()
                if i.customer == customer.id and i.invoice is None and i.currency == invoice.currency
            ]
            self._check_capacity(invoice, len(pending), "pending_invoice_items_behavior")
            for item in sorted(pending, key=lambda i: i.seq):
                self._attach(item, invoice)
        self.invoices[invoice.id] = invoice
        return self.invoice_json(invoice)

    def list_invoices(self, form: Form) -> JSON:
        form.reject_unknown(_LIST | {"customer", "status", "collection_method", "created", "subscription"})
        customer, status = form.text("customer"), form.text("status")
        method = form.text("collection_method")
        found = [
            inv
            for inv in sorted(self.invoices.values(), key=lambda i: -i.seq)
            if (customer is None or inv.customer == customer)
            and (status is None or inv.status == status)
            and (method is None or inv.collection_method == method)
        ]
        return self.page([self.invoice_json(i) for i in found], form, "/v1/invoices", "invoice")

    def retrieve_invoice(self, form: Form, invoice_id: str) -> JSON:
        return self.invoice_json(self.invoice(invoice_id))

    def update_invoice(self, form: Form, invoice_id: str) -> JSON:
        form.reject_unknown(_INVOICE_UPDATE)
        invoice = self.invoice(invoice_id)
        if invoice.status != "draft":
            frozen = sorted(set(form.values) - _EDITABLE_AFTER_FINALIZATION)
            if frozen or (form.has("auto_advance") and invoice.status != "open"):
                raise StripeError(
                    400,
                    f"You can't change `{(frozen or ['auto_advance'])[0]}` on an invoice whose status "
                    f"is {invoice.status}; only drafts are fully editable.",
                    code="invoice_not_editable",
                    param=(frozen or ["auto_advance"])[0],
                )
        auto_advance, effective_at = form.boolean("auto_advance"), form.integer("effective_at")
        metadata = form.metadata()
        method = form.choice("collection_method", ("charge_automatically", "send_invoice"))
        days = form.integer("days_until_due")
        if method is not None or days is not None:
            invoice.collection_method, invoice.days_until_due = self._collection(
                form, method or invoice.collection_method, days
            )
            if invoice.days_until_due is not None:
                invoice.due_date = invoice.created + invoice.days_until_due * DAY
            if invoice.collection_method == "charge_automatically":
                invoice.days_until_due = invoice.due_date = None
        tax_form = form.sub("automatic_tax")
        if tax_form is not None:
            invoice.automatic_tax = bool(tax_form.boolean("enabled"))
        if auto_advance is not None:
            invoice.auto_advance = auto_advance
        if effective_at is not None:
            invoice.effective_at = effective_at
        if form.has("description"):
            invoice.description = form.text("description") or None
        if form.has("footer"):
            invoice.footer = form.text("footer") or None
        invoice.metadata = merge_metadata(invoice.metadata, metadata)
        return self.invoice_json(invoice)

    def delete_invoice(self, form: Form, invoice_id: str) -> JSON:
        invoice = self.invoice(invoice_id)
        if invoice.status != "draft":
            raise StripeError(
                400,
                f"You can only delete draft invoices. This invoice is {invoice.status}; void it instead.",
                code="invoice_not_editable",
            )
        for item_id in invoice.item_ids:  # the draft's items go with it
            del self.items[item_id]
        del self.invoices[invoice.id]
        return {"id": invoice.id, "object": "invoice", "deleted": True}

    def finalize_invoice(self, form: Form, invoice_id: str) -> JSON:
        form.reject_unknown({"auto_advance", "expand"})
        auto_advance = form.boolean("auto_advance")
        invoice = self.invoice(invoice_id)
        if invoice.status != "draft":
            raise StripeError(
                400,
                f"This invoice is already finalized (status {invoice.status}); only draft invoices can be finalized.",
                code="status_transition_invalid",
            )
        now = self.now()
        invoice.finalized_at = now
        if invoice.effective_at is None:
            invoice.effective_at = now
        if auto_advance is not None:
            invoice.auto_advance = auto_advance
        number = self._numbers.get(invoice.customer, 0) + 1
        self._numbers[invoice.customer] = number
        invoice.number = f"{invoice.customer.removeprefix('cus_')[:8].upper()}-{number:04d}"
        if self.totals(invoice)["amount_due"] == 0:
            invoice.status, invoice.paid_at = "paid", now
        else:
            invoice.status = "open"
        return self.invoice_json(invoice)

    def void_invoice(self, form: Form, invoice_id: str) -> JSON:
        form.reject_unknown({"expand"})
        invoice = self.invoice(invoice_id)
        if invoice.status not in ("open", "uncollectible"):
            raise StripeError(
                400,
                f"You can only void open or uncollectible invoices; this invoice is {invoice.status}.",
                code="status_transition_invalid",
            )
        invoice.status, invoice.voided_at = "void", self.now()
        return self.invoice_json(invoice)

    # -- what happens in Stripe outside downbeat (a customer pays, a card fails, finance acts) ----

    def _require_status(self, invoice: Invoice, allowed: tuple[str, ...], what: str) -> None:
        if invoice.status not in allowed:
            raise StripeError(
                400,
                f"You can only {what} {' or '.join(allowed)} invoices; this invoice is {invoice.status}.",
                code="status_transition_invalid",
            )

    def pay_by_hand(self, invoice_id: str) -> JSON:
        """The customer pays the whole amount due (Stripe: `invoice.paid`)."""
        invoice = self.invoice(invoice_id)
        self._require_status(invoice, ("open", "uncollectible"), "pay")
        invoice.status, invoice.paid_at = "paid", self.now()
        invoice.attempted, invoice.attempt_count = True, invoice.attempt_count + 1
        return self.invoice_json(invoice)

    def fail_payment(self, invoice_id: str) -> JSON:
        """A collection attempt fails: the invoice stays open, attempted (`invoice.payment_failed`)."""
        invoice = self.invoice(invoice_id)
        self._require_status(invoice, ("open",), "attempt payment on")
        invoice.attempted, invoice.attempt_count = True, invoice.attempt_count + 1
        return self.invoice_json(invoice)

    def mark_uncollectible(self, invoice_id: str) -> JSON:
        """Finance gives up on collecting it (`invoice.marked_uncollectible`)."""
        invoice = self.invoice(invoice_id)
        self._require_status(invoice, ("open",), "mark uncollectible")
        invoice.status, invoice.marked_uncollectible_at = "uncollectible", self.now()
        return self.invoice_json(invoice)

    def void_by_hand(self, invoice_id: str) -> JSON:
        """Finance voids it in the dashboard (`invoice.voided`)."""
        invoice = self.invoice(invoice_id)
        self._require_status(invoice, ("open", "uncollectible"), "void")
        invoice.status, invoice.voided_at = "void", self.now()
        return self.invoice_json(invoice)

    def _require_draft(self, invoice: Invoice, param: str | None = None) -> None:
        if invoice.status != "draft":
            raise StripeError(
                400,
                f"The invoice {invoice.id} is {invoice.status} and can no longer be edited; "
                "invoice items can only be added to or changed on draft invoices.",
                code="invoice_not_editable",
                param=param,
            )

    def _check_capacity(self, invoice: Invoice, adding: int, param: str) -> None:
        if len(invoice.item_ids) + adding > MAX_ITEMS_PER_INVOICE:
            raise StripeError(
                400,
                f"An invoice can have at most {MAX_ITEMS_PER_INVOICE} invoice items; {invoice.id} has "
                f"{len(invoice.item_ids)} and this request adds {adding}.",
                param=param,
            )

    def _attach(self, item: InvoiceItem, invoice: Invoice) -> None:
        item.invoice = invoice.id
        invoice.item_ids.append(item.id)

    def _amount(self, form: Form, currency: str) -> tuple[int, int, Decimal | None]:
        """(amount, quantity, unit_amount_decimal) from ``amount`` or ``unit_amount_decimal`` times quantity."""
        amount, unit = form.integer("amount"), form.decimal("unit_amount_decimal")
        quantity = form.integer("quantity")
        price_data = form.sub("price_data")
        if price_data is not None and unit is None:
            unit = price_data.decimal("unit_amount_decimal")
            if unit is None and (unit_int := price_data.integer("unit_amount")) is not None:
                unit = Decimal(unit_int)
        if quantity is not None and quantity < 0:
            raise invalid_param("Quantity must be a non-negative integer.", form.name("quantity"))
        if amount is not None and unit is not None:
            raise invalid_param(
                "You may only specify one of `amount` and `unit_amount_decimal`.",
                form.name("amount"),
                "parameters_exclusive",
            )
        if amount is None and unit is None:
            raise invalid_param(
                f"Missing required param: {form.name('amount')}.", form.name("amount"), "parameter_missing"
            )
        if unit is not None:
            amount = round_half_up(unit * (quantity if quantity is not None else 1))
        assert amount is not None
        check_minor_units(currency, amount, form.name("amount"))
        return amount, quantity if quantity is not None else 1, unit

    def _period(self, form: Form) -> tuple[int, int] | None:
        period = form.sub("period")
        if period is None:
            return None
        start, end = period.integer("start", required=True), period.integer("end", required=True)
        assert start is not None
        assert end is not None
        return start, end

    def add_lines(self, form: Form, invoice_id: str) -> JSON:
        form.reject_unknown({"lines", "invoice_metadata", "expand"})
        lines = form.forms("lines")
        invoice_metadata = form.metadata("invoice_metadata")
        if not lines:
            raise invalid_param("Missing required param: lines.", "lines", "parameter_missing")
        if len(lines) > self.add_lines_max_per_call:
            raise invalid_param(
                f"You can add at most {self.add_lines_max_per_call} lines in one call; got {len(lines)}.",
                "lines",
            )
        invoice = self.invoice(invoice_id)
        self._require_draft(invoice)
        staged: list[InvoiceItem | JSON] = []
        for line in lines:
            line.reject_unknown(_LINE_ADD)
            existing = line.text("invoice_item")
            if existing is not None:
                item = self.item(existing, line.name("invoice_item"))
                if item.invoice is not None or item.customer != invoice.customer or item in staged:
                    raise invalid_param(
                        f"Invoice item {existing} is not a pending item of customer {invoice.customer}.",
                        line.name("invoice_item"),
                    )
                if item.currency != invoice.currency:
                    raise invalid_param(
                        f"Invoice item {existing} is in {item.currency}, the invoice in {invoice.currency}.",
                        line.name("invoice_item"),
                    )
                staged.append(item)
                continue
            amount, quantity, unit = self._amount(line, invoice.currency)
            if amount < 0 and invoice.automatic_tax:
                raise self._negative_with_tax(line.name("amount"))
            fields = {
                "amount": amount,
                "quantity": quantity,
                "unit_amount_decimal": unit,
                "description": line.text("description"),
                "metadata": merge_metadata({}, line.metadata()),
                "period": self._period(line),
                "discountable": line.boolean("discountable"),
            }
            staged.append(fields)
        self._check_capacity(invoice, len(staged), "lines")
        for entry in staged:  # all lines were valid: apply them together
            if isinstance(entry, InvoiceItem):
                self._attach(entry, invoice)
            else:
                self._attach(self._new_item(invoice.customer, invoice.currency, **entry), invoice)
        invoice.metadata = merge_metadata(invoice.metadata, invoice_metadata)
        return self.invoice_json(invoice)

    def remove_lines(self, form: Form, invoice_id: str) -> JSON:
        """Bulk remove (docs.stripe.com/api/invoice-line-item/invoices/remove-lines/bulk): drafts only;
        each line is `delete`d (its invoice item goes) or `unassign`ed (back to a pending item)."""
        form.reject_unknown({"lines", "invoice_metadata", "expand"})
        lines = form.forms("lines")
        invoice_metadata = form.metadata("invoice_metadata")
        if not lines:
            raise invalid_param("Missing required param: lines.", "lines", "parameter_missing")
        invoice = self.invoice(invoice_id)
        self._require_draft(invoice)
        by_line = {item.line_id: item for item in self.invoice_items(invoice)}
        staged: list[tuple[InvoiceItem, str]] = []
        for line in lines:
            line.reject_unknown({"id", "behavior"})
            line_id = str(line.text("id", required=True))
            behavior = line.choice("behavior", ("delete", "unassign"))
            if behavior is None:
                raise invalid_param(
                    f"Missing required param: {line.name('behavior')}.", line.name("behavior"), "parameter_missing"
                )
            item = by_line.get(line_id)
            if item is None or any(item is seen for seen, _ in staged):
                raise no_such("line item", line_id, line.name("id"))
            staged.append((item, behavior))
        for item, behavior in staged:  # all lines were valid: apply them together
            invoice.item_ids.remove(item.id)
            if behavior == "delete":
                del self.items[item.id]
            else:
                item.invoice = None
        invoice.metadata = merge_metadata(invoice.metadata, invoice_metadata)
        return self.invoice_json(invoice)

    def list_lines(self, form: Form, invoice_id: str) -> JSON:
        form.reject_unknown(_LIST)
        invoice = self.invoice(invoice_id)
        lines = [item.line_json() for item in self.invoice_items(invoice)]
        return self.page(lines, form, f"/v1/invoices/{invoice.id}/lines", "line item")

    # -- invoice items --------------------------------------------------------------------

    @staticmethod
    def _negative_with_tax(param: str) -> StripeError:
        return StripeError(
            400,
            "Invoice items with negative amounts can't be added to invoices with automatic tax enabled.",
            param=param,
        )

    def _new_item(self, customer: str, currency: str, **fields: Any) -> InvoiceItem:
        item = InvoiceItem(
            id=self.new_id("ii"),
            line_id=self.new_id("il"),
            seq=self.next_seq(),
            customer=customer,
            currency=currency,
            created=self.now(),
            amount=fields["amount"],
            quantity=fields["quantity"],
            unit_amount_decimal=fields["unit_amount_decimal"],
            description=fields["description"],
            metadata=fields["metadata"],
            period=fields["period"],
            discountable=fields["discountable"] if fields["discountable"] is not None else True,
        )
        self.items[item.id] = item
        return item

    def create_item(self, form: Form) -> JSON:
        form.reject_unknown(_ITEM_CREATE)
        customer_id, invoice_id = form.text("customer"), form.text("invoice")
        currency = currency_of(form)
        if customer_id is None and invoice_id is None:
            raise invalid_param("Missing required param: customer.", "customer", "parameter_missing")
        invoice = self.invoice(invoice_id, "invoice") if invoice_id is not None else None
        customer = self.customer(customer_id or (invoice.customer if invoice else ""))
        if invoice is not None:
            if invoice.customer != customer.id:
                raise invalid_param(
                    f"The invoice {invoice.id} belongs to customer {invoice.customer}, not {customer.id}.",
                    "invoice",
                )
            self._require_draft(invoice, "invoice")
            if currency is not None and currency != invoice.currency:
                raise invalid_param(
                    f"The currency {currency} does not match the invoice's currency {invoice.currency}.",
                    "currency",
                )
            currency = invoice.currency
        currency = currency or customer.currency
        if currency is None:
            raise invalid_param("Missing required param: currency.", "currency", "parameter_missing")
        amount, quantity, unit = self._amount(form, currency)
        if invoice is not None:
            if amount < 0 and invoice.automatic_tax:
                raise self._negative_with_tax("amount")
            self._check_capacity(invoice, 1, "invoice")
        item = self._new_item(
            customer.id,
            currency,
            amount=amount,
            quantity=quantity,
            unit_amount_decimal=unit,
            description=form.text("description"),
            metadata=merge_metadata({}, form.metadata()),
            period=self._period(form),
            discountable=form.boolean("discountable"),
        )
        if invoice is not None:
            self._attach(item, invoice)
        return item.to_json()

    def list_items(self, form: Form) -> JSON:
        form.reject_unknown(_LIST | {"invoice", "customer", "pending", "created"})
        invoice, customer, pending = form.text("invoice"), form.text("customer"), form.boolean("pending")
        found = [
            item.to_json()
            for item in sorted(self.items.values(), key=lambda i: -i.seq)
            if (invoice is None or item.invoice == invoice)
            and (customer is None or item.customer == customer)
            and (pending is None or (item.invoice is None) == pending)
        ]
        return self.page(found, form, "/v1/invoiceitems", "invoiceitem")

    def retrieve_item(self, form: Form, item_id: str) -> JSON:
        return self.item(item_id).to_json()

    def _editable_item(self, item_id: str) -> InvoiceItem:
        item = self.item(item_id)
        if item.invoice is not None:
            self._require_draft(self.invoices[item.invoice])
        return item

    def update_item(self, form: Form, item_id: str) -> JSON:
        form.reject_unknown({"amount", "description", "metadata", "quantity", "period", "expand"})
        amount, quantity = form.integer("amount"), form.integer("quantity")
        metadata, period = form.metadata(), self._period(form)
        item = self._editable_item(item_id)
        if amount is not None:
            check_minor_units(item.currency, amount, "amount")
            item.amount, item.unit_amount_decimal = amount, None
        if quantity is not None:
            item.quantity = quantity
        if form.has("description"):
            item.description = form.text("description") or None
        if period is not None:
            item.period = period
        item.metadata = merge_metadata(item.metadata, metadata)
        return item.to_json()

    def delete_item(self, form: Form, item_id: str) -> JSON:
        item = self._editable_item(item_id)
        if item.invoice is not None:
            self.invoices[item.invoice].item_ids.remove(item.id)
        del self.items[item.id]
        return {"id": item.id, "object": "invoiceitem", "deleted": True}
