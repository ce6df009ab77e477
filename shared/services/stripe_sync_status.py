"""How the Stripe worker writes an invoice's sync status, a dead-lettered message's included."""

from __future__ import annotations

from shared.domain.sync import STRIPE_SYNC_DLQ, DeadLetterQueue, SyncAttempt, SyncStatus, reason_line
from shared.services.stripe_sync_dependencies import Delivery, StripeSyncDependencies


def dead_letter_reason(invoice_id: str, error: BaseException, delivery: Delivery) -> str:
    """One line for the status and `dlq list`: the error's message, never its traceback."""
    return (
        f"invoice {invoice_id}: Stripe sync gave up after {delivery.receive_count} deliveries"
        f" (the message is in {STRIPE_SYNC_DLQ}): {reason_line(str(error) or type(error).__name__)}"
    )


def record_dead_letter(
    deps: StripeSyncDependencies,
    invoice_id: str,
    error: BaseException,
    delivery: Delivery,
    stripe_invoice_id: str | None,
    what: str = "",
) -> None:
    reason = dead_letter_reason(invoice_id, error, delivery)
    detail = f"{what}: {reason}" if what else reason
    record_status(deps, invoice_id, "failed", reason, "dead_lettered", stripe_invoice_id, detail, STRIPE_SYNC_DLQ)


def record_status(
    deps: StripeSyncDependencies,
    invoice_id: str,
    status: SyncStatus,
    reason: str,
    outcome: str,
    stripe_invoice_id: str | None,
    detail: str | None = None,
    dead_letter_queue: DeadLetterQueue | None = None,
) -> None:
    provider_ids = {"stripe_invoice_id": stripe_invoice_id or None} if stripe_invoice_id is not None else None
    deps.store.record_sync(
        invoice_id,
        provider="stripe",
        status=status,
        reason=reason,
        attempt=SyncAttempt(at=deps.clock(), outcome=outcome, detail=detail or reason),
        provider_ids=provider_ids,
        dead_letter_queue=dead_letter_queue,
    )
