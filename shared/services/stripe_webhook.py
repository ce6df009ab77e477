"""`POST /v1/webhooks/stripe`: a verified Stripe event updates the sync record's `provider_status`.

The order of the checks is the point (docs/stripe-webhooks.md): the signature before anything is read;
the event id before any Stripe call (a duplicate costs nothing); the sync record before Stripe
(only our recorded invoice, or a revision of it, is looked at); then one retrieve of the Stripe
invoice, whose own state is what gets recorded — never the event's copy, so events arriving out of
order or twice end in Stripe's real state.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import ValidationError

from shared.domain.stripe_webhooks import (
    EVENT_ID_RETENTION_DAYS,
    HANDLED_EVENT_TYPES,
    EventEnvelope,
    InvoiceEvent,
    OurInvoiceId,
    ReadBack,
    provider_status,
    relation_to_record,
    status_order,
)
from shared.ports.errors import AdapterError
from shared.ports.store import ProviderStatusWrite, StripeWebhookStore
from shared.ports.stripe import StripeInvoiceView, WebhookSignatureInvalid

SIGNATURE_HEADER = "Stripe-Signature"


class StripeInvoiceReads(Protocol):
    calls: int

    def retrieve_invoice(self, invoice_id: str) -> StripeInvoiceView | None: ...


@dataclass(frozen=True)
class StripeWebhookDependencies:
    store: StripeWebhookStore
    stripe: StripeInvoiceReads
    # Raises WebhookSignatureInvalid unless the raw body is signed by one of our webhook secrets.
    verify: Callable[[bytes, str | None], None]
    clock: Callable[[], datetime]


@dataclass(frozen=True)
class WebhookAnswer:
    status_code: int
    outcome: str  # applied, stale, duplicate, ignored, refused, unavailable
    message: str
    field: str | None = None
    event_id: str | None = None
    event_type: str | None = None
    invoice_id: str | None = None
    provider_status: str | None = None

    def body(self) -> dict[str, Any]:
        if self.status_code != 200:
            return {"message": self.message, "field": self.field}
        return {
            "data": {
                "event_id": self.event_id,
                "type": self.event_type,
                "outcome": self.outcome,
                "message": self.message,
                "invoice_id": self.invoice_id,
                "provider_status": self.provider_status,
            }
        }


def _refused(message: str, field: str | None) -> WebhookAnswer:
    return WebhookAnswer(400, "refused", message, field)


def _first_error(error: ValidationError) -> WebhookAnswer:
    """A signed event Stripe sent in a shape we cannot read: refused naming the field."""
    detail = error.errors()[0]
    field = ".".join(str(part) for part in detail["loc"])
    return _refused(f"{field}: {detail['msg']}", field)


def handle_stripe_webhook(deps: StripeWebhookDependencies, payload: bytes, signature: str | None) -> WebhookAnswer:
    try:
        deps.verify(payload, signature)
    except WebhookSignatureInvalid as error:
        return _refused(f"the {SIGNATURE_HEADER} header does not verify: {error}", SIGNATURE_HEADER)
    document = json.loads(payload)  # verified, and the SDK has parsed it already
    try:
        envelope = EventEnvelope.model_validate(document)
    except ValidationError as error:
        return _first_error(error)
    ignored = WebhookAnswer(200, "ignored", "", event_id=envelope.id, event_type=envelope.type)
    if envelope.type not in HANDLED_EVENT_TYPES:
        return _with(ignored, message=f"event type {envelope.type} is not one downbeat follows")
    try:
        event = InvoiceEvent.model_validate(document)
    except ValidationError as error:
        return _first_error(error)
    our_id = event.downbeat_invoice_id
    if our_id is None:
        return _with(ignored, message="the Stripe invoice carries no downbeat_invoice_id metadata")
    try:
        OurInvoiceId(invoice_id=our_id)
    except ValidationError:
        return _with(ignored, message="the downbeat_invoice_id metadata is not an invoice id downbeat can hold")
    if deps.store.stripe_event_seen(event.id):
        return _with(ignored, outcome="duplicate", message="this event was handled before", invoice_id=our_id)
    return _apply(deps, event, our_id, _with(ignored, invoice_id=our_id))


def _apply(deps: StripeWebhookDependencies, event: InvoiceEvent, our_id: str, ignored: WebhookAnswer) -> WebhookAnswer:
    expires_at = deps.clock() + timedelta(days=EVENT_ID_RETENTION_DAYS)
    try:
        record = deps.store.get_sync(our_id)
        if record is None or record.provider != "stripe":
            deps.store.remember_stripe_event(event.id, expires_at)
            return _with(ignored, message=f"invoice {our_id!r} has no Stripe sync record")
        recorded = record.provider_ids.get("stripe_invoice_id")
        if record.status == "pending" and not recorded:
            # The worker is still pushing it (Stripe's invoice.finalized can beat the worker's own
            # record of the invoice it made): not yet known, so not ignored; Stripe delivers it again.
            return WebhookAnswer(503, "unavailable", f"invoice {our_id!r} is still being pushed to Stripe; retry", None)
        revised = event.data.object.from_invoice.invoice if event.data.object.from_invoice else None
        relation = relation_to_record(recorded if isinstance(recorded, str) else None, event.stripe_invoice_id, revised)
        if relation == "other":
            deps.store.remember_stripe_event(event.id, expires_at)
            return _with(
                ignored,
                message=f"{event.stripe_invoice_id} is not the Stripe invoice recorded for {our_id!r}"
                " (reconciliation reports it)",
            )
        view = deps.stripe.retrieve_invoice(event.stripe_invoice_id)
        read = ReadBack(
            exists=view is not None,
            status=view.status if view else None,
            attempted=view.attempted if view else None,
            amount_remaining=view.amount_remaining if view else None,
        )
        status = provider_status(read)
        if status is None:
            deps.store.remember_stripe_event(event.id, expires_at)
            return _with(ignored, message=f"Stripe status {read.status!r} is not one downbeat knows")
        written = deps.store.record_provider_status(
            our_id,
            event_id=event.id,
            status=status,
            at=event.created_at,
            order=status_order(event.created, status),
            expires_at=expires_at,
            stripe_invoice_id=event.stripe_invoice_id if relation == "revision" else None,
        )
    except AdapterError as error:
        # Not the event's fault: a non-2xx makes Stripe deliver it again later, and nothing was
        # remembered, so that delivery is handled in full.
        return WebhookAnswer(503, "unavailable", f"the event could not be handled now ({error.code}); retry", None)
    messages = {
        ProviderStatusWrite.APPLIED: f"provider_status is {status}",
        ProviderStatusWrite.STALE: "a newer event's status is recorded; kept",
        ProviderStatusWrite.DUPLICATE: "this event was handled before",
    }
    return _with(ignored, outcome=written.value, message=messages[written], provider_status=status)


def _with(answer: WebhookAnswer, **changes: Any) -> WebhookAnswer:
    return dataclasses.replace(answer, **changes)
