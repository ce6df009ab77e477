"""Use case: route one invoice event (the event contract: docs/architecture.md).

validate → check the customer and contract → store (highest version wins) → resolve the provider
→ hand the invoice to its provider's queue or outbox → record the sync status → ask for the
customer's alert evaluation when an alert can apply to it (`invoice_alert_requests`).

An event that cannot be accepted is written, with its reason, to the router DLQ and the call
returns normally: EventBridge invokes the router asynchronously, so raising would only make it
retry an event that can never succeed. Infrastructure errors do raise (and are retried, then land
in the same DLQ through the function's on-failure destination).

Either way the sync status says so (`failed`, the reason, `dead_letter_queue: RouterDLQ`) when the
event names a usable invoice id and no accepted version of that invoice has a status yet; once
one has, a rejection or failure only adds an attempt to its history (`record_rejection`).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import TypeAdapter, ValidationError

from shared.domain.claim_check import URI_FIELD, invoice_with_claimed_lines
from shared.domain.customers import Contract, Customer
from shared.domain.invoice import Invoice, InvoiceEvent
from shared.domain.invoice_storage import check_storable
from shared.domain.money import round_to_currency
from shared.domain.providers import BillingProvider, Resolution, UnresolvableProvider
from shared.domain.sync import ROUTER_DLQ, DeadLetterQueue, SyncAttempt, SyncStatus, reason_line
from shared.domain.types import DEFERRED, Identifier
from shared.domain.validation import MAX_JSON_DEPTH, FieldError, clipped, first_field_error, first_unknown, too_deep
from shared.ports.claim_checks import ClaimCheckReader, ClaimCheckUnreadable, NoClaimChecks
from shared.ports.errors import AdapterError
from shared.ports.queues import MessageQueue
from shared.ports.store import CustomerReads, InvoiceWriteOutcome, MeterOutboxEntry, RouterStore
from shared.services.invoice_alert_requests import InvoiceAlertRequests

Outcome = Literal["queued", "outboxed", "stored", "skipped", "failed", "duplicate", "stale", "rejected"]
MARKETPLACE_CURRENCY = "USD"
_invoice_id_adapter: TypeAdapter[str] = TypeAdapter(Identifier, config=DEFERRED)


@dataclass
class RouterDependencies:
    store: RouterStore
    stripe_queue: MessageQueue
    dead_letters: MessageQueue
    clock: Callable[[], datetime]
    claim_checks: ClaimCheckReader = field(default_factory=NoClaimChecks)
    # None: alerts see invoices at the evaluator's next scheduled run only.
    alert_requests: InvoiceAlertRequests | None = None


@dataclass(frozen=True)
class RouteResult:
    outcome: Outcome
    invoice_id: str | None
    customer_id: str | None = None
    provider: BillingProvider | None = None
    reason: str | None = None
    field: str | None = None
    # Applied credits drawn from nothing, and why: the invoice is routed regardless (docs/ledger.md).
    unapplied_credits: tuple[str, ...] = ()
    # Whether the customer's alert evaluation was asked for (a new version, and an alert can apply).
    alert_evaluation_asked: bool = False


def route_invoice_event(event: Mapping[str, Any], deps: RouterDependencies) -> RouteResult:
    """Route one event; an infrastructure error (or a bug) is raised for Lambda to retry, after the
    sync status says so (best effort: the table may be what failed)."""
    try:
        invoice, customer, contract = _accept(event, deps.store, deps.claim_checks)
    except FieldError as rejection:
        return _dead_letter(event, rejection, deps)
    except Exception as error:
        _record_failure_before_acceptance(event, error, deps)
        raise
    try:
        write = deps.store.save_invoice(invoice, deps.clock())
    except Exception as error:  # stored or not, nothing was routed: as if nothing was accepted
        _record_failure_before_acceptance(event, error, deps)
        raise
    if write.outcome is InvoiceWriteOutcome.STALE:
        return RouteResult("stale", invoice.id, invoice.customer_id, reason=f"version {write.stored_version} is stored")
    if write.outcome is InvoiceWriteOutcome.DUPLICATE and write.dispatched_version == invoice.version:
        return RouteResult("duplicate", invoice.id, invoice.customer_id)
    # CREATED / UPDATED, or a duplicate of an event whose routing did not finish: (re)dispatch.
    try:
        result = _dispatch(invoice, customer, contract, event, deps)
    except Exception as error:  # the stored version is the latest, and it is not on its way
        _record_dispatch_failure(invoice, customer, contract, error, deps)
        raise
    return dataclasses.replace(result, unapplied_credits=write.unapplied_credits)


def _accept(
    event: Mapping[str, Any], store: CustomerReads, claim_checks: ClaimCheckReader
) -> tuple[Invoice, Customer, Contract | None]:
    """The event's invoice with its customer and contract, or a FieldError naming what makes it
    unacceptable. Routing uses the customer and contract read here (customers and contracts are
    never deleted)."""
    try:
        parsed = InvoiceEvent.model_validate(event)
    except ValidationError as error:
        raise first_field_error(error, event) from None
    # After the model, so a known field that holds nesting instead of its value is named by it; what
    # is left too deep sits under a key the model ignores: that key is named.
    deep = too_deep(event)
    if deep is not None:
        where = first_unknown(deep, parsed.model_dump(by_alias=True))
        raise FieldError(".".join(where) or None, f"is nested deeper than {MAX_JSON_DEPTH} levels (JSON's bound here)")
    invoice = parsed.detail
    customer = store.get_customer(invoice.customer_id)
    if customer is None:
        raise FieldError("detail.customer_id", f"unknown customer {invoice.customer_id!r}")
    contract = None if invoice.contract_id is None else store.get_contract(invoice.customer_id, invoice.contract_id)
    if invoice.contract_id is not None and contract is None:
        raise FieldError(
            "detail.contract_id",
            f"contract {invoice.contract_id!r} is unknown or does not belong to customer {invoice.customer_id!r}",
        )
    if invoice.line_items_uri is not None:  # after the cheap checks: the object may be megabytes
        invoice = _with_claimed_lines(event, invoice.line_items_uri, claim_checks)
    check_storable(invoice)
    return invoice, customer, contract


def _with_claimed_lines(event: Mapping[str, Any], uri: str, claim_checks: ClaimCheckReader) -> Invoice:
    """The invoice with the claim check's lines, validated as inline lines would be. S3 throttling
    or a 5xx raises RetryableError: Lambda tries the event again."""
    try:
        document = claim_checks.read(uri)
    except ClaimCheckUnreadable as unreadable:
        raise FieldError(URI_FIELD, str(unreadable)) from None
    return invoice_with_claimed_lines(event, document, uri)


def _dispatch(
    invoice: Invoice,
    customer: Customer,
    contract: Contract | None,
    event: Mapping[str, Any],
    deps: RouterDependencies,
) -> RouteResult:
    try:
        resolution = customer.provider_for(contract)
    except UnresolvableProvider as error:
        # Stored but not dispatched: once the configuration is fixed, redriving the event routes it.
        field_error = FieldError("detail.contract_id", f"{error} (contract {invoice.contract_id})")
        _record(deps, invoice, None, "failed", str(field_error), "rejected", ROUTER_DLQ)
        asked = _ask_for_alert_evaluation(invoice, customer, deps)  # stored: its drawdowns and spend count
        return dataclasses.replace(_dead_letter(event, field_error, deps, invoice), alert_evaluation_asked=asked)

    provider = resolution.provider
    if provider is None:
        result = _finish(deps, invoice, None, "skipped", resolution.reason, "skipped")
    elif provider == "stripe":
        result = _to_stripe(invoice, resolution, deps)
    else:
        result = _to_marketplace(invoice, provider, resolution, deps)
    # Before the dispatch mark: a run that stops in between asks again on its retry (harmless).
    asked = _ask_for_alert_evaluation(invoice, customer, deps)
    deps.store.mark_dispatched(invoice.id, invoice.version)
    return dataclasses.replace(result, alert_evaluation_asked=asked)


def _ask_for_alert_evaluation(invoice: Invoice, customer: Customer, deps: RouterDependencies) -> bool:
    """A new version may change the customer's balances (drawdowns, a void reversing them) or
    spend: its alerts are evaluated now rather than at the next scheduled run."""
    if deps.alert_requests is None:
        return False
    return deps.alert_requests.after_new_version(customer, invoice.id)


def _to_stripe(invoice: Invoice, resolution: Resolution, deps: RouterDependencies) -> RouteResult:
    if invoice.status == "DRAFT":
        reason = "the invoice is still DRAFT; it goes to Stripe when finalized"
        return _finish(deps, invoice, "stripe", "pending", reason, "stored")
    action = "sync" if invoice.status == "FINALIZED" else "void"
    reason = f"queued for Stripe ({action}); {resolution.reason}"
    # Status first, then the hand-over: the worker may settle the invoice before we get back here,
    # and its status must not be overwritten by ours.
    result = _finish(deps, invoice, "stripe", "pending", reason, "queued")
    deps.stripe_queue.send(
        {"invoice_id": invoice.id, "version": invoice.version, "action": action},
        attributes={"invoice_id": invoice.id, "customer_id": invoice.customer_id},
    )
    return result


def _to_marketplace(
    invoice: Invoice, provider: BillingProvider, resolution: Resolution, deps: RouterDependencies
) -> RouteResult:
    if invoice.currency != MARKETPLACE_CURRENCY:
        reason = f"{provider} meters in USD only; invoice currency is {invoice.currency}"
        return _finish(deps, invoice, provider, "failed", reason, "failed")
    if invoice.status == "VOID":
        result = _finish(
            deps,
            invoice,
            provider,
            "voided",
            "the invoice was voided; nothing more is metered (usage already sent stays sent)",
            "outboxed",
        )
    else:
        reason = f"in the {provider} metering outbox; {resolution.reason}"
        result = _finish(deps, invoice, provider, "pending", reason, "outboxed")
    # After the status, as for Stripe: the meter run may pick the entry up at once.
    deps.store.upsert_meter_outbox(
        MeterOutboxEntry(
            invoice_id=invoice.id,
            provider=provider,
            customer_id=invoice.customer_id,
            currency=invoice.currency,
            invoice_version=invoice.version,
            invoice_status=invoice.status,
            target_amount=round_to_currency(invoice.total, invoice.currency),
            received_at=deps.clock(),
        )
    )
    return result


def _finish(
    deps: RouterDependencies,
    invoice: Invoice,
    provider: BillingProvider | None,
    status: SyncStatus,
    reason: str,
    outcome: Outcome,
) -> RouteResult:
    _record(deps, invoice, provider, status, reason, f"routed:{outcome}")
    return RouteResult(outcome, invoice.id, invoice.customer_id, provider, reason)


def _record(
    deps: RouterDependencies,
    invoice: Invoice,
    provider: BillingProvider | None,
    status: SyncStatus,
    reason: str,
    outcome: str,
    dead_letter_queue: DeadLetterQueue | None = None,
) -> None:
    attempt = SyncAttempt(at=deps.clock(), outcome=outcome, detail=f"version {invoice.version}: {reason}")
    deps.store.record_sync(
        invoice.id,
        provider=provider,
        status=status,
        reason=reason,
        attempt=attempt,
        dead_letter_queue=dead_letter_queue,
    )


def _dead_letter(
    event: Mapping[str, Any], rejection: FieldError, deps: RouterDependencies, invoice: Invoice | None = None
) -> RouteResult:
    invoice_id = invoice.id if invoice else _invoice_id_of(event)
    reason = f"invoice {invoice_id or '(no id)'} rejected: {rejection}"
    usable_id = None if invoice or rejection.field == "detail.id" else usable_invoice_id(event)
    if usable_id is not None:  # status first, as for a hand-over: then the event goes to the DLQ
        attempt = SyncAttempt(at=deps.clock(), outcome="rejected", detail=reason)
        deps.store.record_rejection(usable_id, reason=reason, attempt=attempt, dead_letter_queue=ROUTER_DLQ)
    # The body is the event exactly as received, so redriving it is a plain re-put on the bus;
    # why it was rejected travels beside it as message attributes.
    attributes = {"source": "invoice_router", "reason": reason}
    if rejection.field:
        attributes["field"] = rejection.field
    # Clipped below the depth bound: a deeper event could not even be serialized.
    deps.dead_letters.send(clipped(dict(event)), attributes=attributes)
    customer_id = invoice.customer_id if invoice else None
    return RouteResult("rejected", invoice_id, customer_id, reason=reason, field=rejection.field)


def _routing_failure(invoice_id: str, error: BaseException) -> str:
    message = reason_line(str(error) or type(error).__name__)
    return (
        f"invoice {invoice_id}: routing did not finish: {message}; Lambda retries the event, and once its"
        f" retries are spent the event is in {ROUTER_DLQ}"
    )


def _record_failure_before_acceptance(event: Mapping[str, Any], error: BaseException, deps: RouterDependencies) -> None:
    """`failed` while no accepted version has a status, else one more attempt; nothing without a
    usable id. A retry that succeeds replaces it."""
    invoice_id = usable_invoice_id(event)
    if invoice_id is None:
        return
    reason = _routing_failure(invoice_id, error)
    attempt = SyncAttempt(at=deps.clock(), outcome="router_error", detail=reason)
    with contextlib.suppress(AdapterError):
        deps.store.record_rejection(invoice_id, reason=reason, attempt=attempt, dead_letter_queue=ROUTER_DLQ)


def _record_dispatch_failure(
    invoice: Invoice, customer: Customer, contract: Contract | None, error: BaseException, deps: RouterDependencies
) -> None:
    provider: BillingProvider | None = None
    with contextlib.suppress(UnresolvableProvider):
        provider = customer.provider_for(contract).provider
    with contextlib.suppress(AdapterError):
        _record(deps, invoice, provider, "failed", _routing_failure(invoice.id, error), "router_error", ROUTER_DLQ)


def usable_invoice_id(event: Mapping[str, Any]) -> str | None:
    """`detail.id` when it is a valid invoice id (a status can be kept under it), else None."""
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        return None
    try:
        return _invoice_id_adapter.validate_python(detail.get("id"), strict=True)
    except ValidationError:
        return None


def _invoice_id_of(event: Mapping[str, Any]) -> str | None:
    detail = event.get("detail")
    if isinstance(detail, Mapping) and isinstance(detail.get("id"), str):
        return str(detail["id"])
    return None
