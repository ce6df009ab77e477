"""Use case: bring one invoice into Stripe exactly once (DESIGN §3 "Stripe"; docs/stripe.md).

The plan (`shared.domain.stripe_plan`) says what the Stripe invoice must look like; this executor
makes Stripe look like that and records receipts. Each run:

1. loads the invoice (its latest version: a queued message only names it) and claims the
   invoice's `stripe` worker lease, which also counts the run (`attempt`, part of every
   idempotency key);
2. observes Stripe — unless no earlier run can have sent anything: the draft whose id we stored,
   else the customer's invoices listed and matched on metadata `downbeat_invoice_id` (a list,
   never search, which is eventually consistent);
3. acts on the difference: create the draft, add only the missing items, check the total, finalize
   (or stop at the draft); void/delete for a voided invoice;
4. settles the sync status, or — on a retryable failure — takes a new attempt number, observes
   again and continues, up to a few rounds, then hands the record back to its queue.

A run that fails on its message's last allowed receive (`Delivery.is_last`: SQS moves the message
to the Stripe sync DLQ next) records `failed` with the DLQ and a one-line reason before it lets
the message go, so the sync status never stays `pending` for a message nobody will deliver again.

A crash anywhere leaves the lease to expire; the next delivery observes and resumes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from shared.domain.invoice import Invoice
from shared.domain.providers import (
    StripeConfiguration,
    StripeProviderConfiguration,
    UnresolvableProvider,
)
from shared.domain.stripe_amounts import format_stripe_amount
from shared.domain.stripe_plan import (
    METADATA_INVOICE_ID,
    METADATA_INVOICE_VERSION,
    METADATA_ITEM_KEY,
    PlanOutcome,
    StripePlan,
    chunks,
    idempotency_key,
    plan_stripe_invoice,
    sort_draft_lines,
)
from shared.domain.stripe_state import LEASE_KIND, StripeStep, StripeSyncState
from shared.domain.sync import SyncStatus, reason_line
from shared.ports.errors import AdapterError, PermanentError, RetryableError
from shared.ports.leases import Lease, LeaseLost
from shared.ports.stripe import StripeBackOff, StripeInvoiceView, StripeLineView
from shared.services.stripe_sync_dependencies import (
    Delivery,
    StripeSyncDependencies,
    StripeSyncMessage,
    StripeSyncResult,
    SyncBusy,
)
from shared.services.stripe_sync_status import record_dead_letter, record_status


def sync_stripe_invoice(
    message: StripeSyncMessage, deps: StripeSyncDependencies, delivery: Delivery | None = None
) -> StripeSyncResult:
    """Run one delivery of `message`; raises when the record should be redelivered (RetryableError,
    or an unexpected error) — on its last allowed receive, after recording `failed`."""
    delivery = delivery or Delivery()
    try:
        invoice = deps.store.get_invoice(message.invoice_id, buckets=False)  # Stripe items never need them
        if invoice is None:
            reason = f"invoice {message.invoice_id} was never received; nothing to send to Stripe"
            record_status(deps, message.invoice_id, "failed", reason, "failed", None)
            return StripeSyncResult(message.invoice_id, "failed", reason, failure_code="unknown_invoice")
        now = deps.clock()
        lease = deps.store.claim(LEASE_KIND, invoice.id, now=now, until=now + deps.lease)
        if lease is None:
            raise SyncBusy(f"invoice {invoice.id}: another run is syncing it to Stripe; retry later", code="busy")
        state = deps.store.get_stripe_sync(invoice.id) or StripeSyncState(invoice_id=invoice.id)
    except SyncBusy:
        raise  # the run holding the lease records its own outcome
    except Exception as error:  # the table failed us before the run began
        if delivery.is_last:
            with contextlib.suppress(AdapterError):  # best effort: the table may be what failed
                record_dead_letter(deps, message.invoice_id, error, delivery, None)
        raise
    run = _Run(deps, invoice, state, lease, delivery)
    try:
        return run.execute()
    except Exception as error:  # retryable, lease lost or unexpected: release the lease, say why, re-raise
        run.hand_back(error)
        raise


@dataclass
class _Run:
    deps: StripeSyncDependencies
    invoice: Invoice
    state: StripeSyncState
    lease: Lease
    delivery: Delivery = field(default_factory=Delivery)
    calls_at_start: int = 0
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.calls_at_start = self.deps.stripe.calls
        self.calls_before = self.state.calls

    # -- bookkeeping -------------------------------------------------------------------------

    @property
    def calls(self) -> int:
        return self.deps.stripe.calls - self.calls_at_start

    def _key(self, step: str) -> str:
        return idempotency_key(self.invoice.id, self.invoice.version, step, self.lease.attempt)

    def _save(self, step: StripeStep | None = None, **changes: Any) -> None:
        now = self.deps.clock()
        state = self.state.moved(step or self.state.step, now, calls=self.calls_before + self.calls, **changes)
        self.deps.store.save_stripe_sync(state, self.lease)
        self.state = state

    def _new_attempt(self) -> None:
        now = self.deps.clock()
        self.lease = self.deps.store.renew(self.lease, now=now, until=now + self.deps.lease, new_attempt=True)

    def _settle(
        self,
        status: SyncStatus,
        step: StripeStep,
        reason: str,
        *,
        stripe_invoice_id: str | None = None,
        failure_code: str | None = None,
    ) -> StripeSyncResult:
        now = self.deps.clock()
        sid = stripe_invoice_id if stripe_invoice_id is not None else self.state.stripe_invoice_id
        total_calls = self.calls_before + self.calls
        state = self.state.moved(
            step, now, version=self.invoice.version, stripe_invoice_id=sid or None, calls=total_calls
        )
        self.deps.store.save_stripe_sync(state, self.lease, release=True)
        self.state = state
        detail = f"version {self.invoice.version}, attempt {self.lease.attempt}, {self.calls} Stripe calls: {reason}"
        record_status(self.deps, self.invoice.id, status, reason, status, sid, detail)
        return StripeSyncResult(
            self.invoice.id,
            status,
            reason,
            stripe_invoice_id=sid,
            failure_code=failure_code,
            calls=self.calls,
            total_calls=total_calls,
            attempt=self.lease.attempt,
        )

    def hand_back(self, error: BaseException) -> None:
        """The run ended in an error: release the lease, keep the step, say why in the sync status
        (`pending`, or `failed` in the DLQ when this was the message's last allowed receive)."""
        state = replace(self.state, calls=self.calls_before + self.calls, updated_at=self.deps.clock())
        try:
            self.deps.store.save_stripe_sync(state, self.lease, release=True)
        except LeaseLost:
            return  # another run owns the invoice now; it will record its own outcome
        what = f"version {self.invoice.version}, attempt {self.lease.attempt}, {self.calls} Stripe calls"
        if self.delivery.is_last:
            record_dead_letter(self.deps, self.invoice.id, error, self.delivery, self.state.stripe_invoice_id, what)
            return
        message = reason_line(str(error))
        reason = f"invoice {self.invoice.id}: Stripe sync will be retried: {message}"
        sid = self.state.stripe_invoice_id
        record_status(self.deps, self.invoice.id, "pending", reason, "retry", sid, f"{what}: {message}")

    # -- the run -----------------------------------------------------------------------------

    def execute(self) -> StripeSyncResult:
        configuration, why_not = self._configuration()
        if self.invoice.status == "VOID":
            return self._rounds(lambda: self._void(configuration))
        if configuration is None:
            return self._settle("skipped", "skipped", f"invoice {self.invoice.id}: {why_not}", failure_code=None)
        if self.invoice.status == "DRAFT":
            reason = f"invoice {self.invoice.id} is still DRAFT; it goes to Stripe when finalized"
            return self._settle("pending", self.state.step, reason)
        plan = plan_stripe_invoice(self.invoice, configuration)
        return self._rounds(lambda: self._sync(plan))

    def _configuration(self) -> tuple[StripeConfiguration | None, str]:
        customer = self.deps.store.get_customer(self.invoice.customer_id)
        if customer is None:
            return None, f"customer {self.invoice.customer_id} is unknown"
        contract = (
            self.deps.store.get_contract(self.invoice.customer_id, self.invoice.contract_id)
            if self.invoice.contract_id
            else None
        )
        try:
            resolution = customer.provider_for(contract)
        except UnresolvableProvider as error:
            return None, str(error)
        if isinstance(resolution.configuration, StripeProviderConfiguration):
            return resolution.configuration.configuration, resolution.reason
        return None, f"its provider is no longer Stripe ({resolution.reason})"

    def _rounds(self, act: Callable[[], StripeSyncResult]) -> StripeSyncResult:
        waited = 0.0
        for round_number in range(1, self.deps.max_rounds + 1):
            try:
                return act()
            except StripeBackOff:  # a 429 rate_limit, or a 409 the SDK's retries did not clear
                pause = min(0.5 * 2 ** (round_number - 1), 2.0) * (0.5 + 0.5 * self.deps.jitter())
                if round_number == self.deps.max_rounds or waited + pause > self.deps.rate_limit_wait_seconds:
                    raise
                self.deps.sleep(pause)
                waited += pause
            except RetryableError:
                if round_number == self.deps.max_rounds:
                    raise
            except PermanentError as error:
                return self._permanent(error)
            # A step failed or its outcome is unknown: Stripe may have applied it (and saved a 500
            # under its key for 24 h). Take a new attempt number (new keys) and observe again.
            self._new_attempt()
        raise AssertionError("unreachable")  # pragma: no cover

    def _permanent(self, error: PermanentError) -> StripeSyncResult:
        sid = self.state.stripe_invoice_id
        if sid is not None and self.state.step == "drafted":
            with contextlib.suppress(RetryableError, PermanentError):  # leave nothing half-built behind
                self.deps.stripe.delete_invoice(sid)
        reason = f"invoice {self.invoice.id}: {error} (Stripe error code {error.code})"
        return self._settle("failed", "failed", reason, failure_code=error.code or "stripe_error")

    # -- observing ---------------------------------------------------------------------------

    def _observe(self, customer: str | None) -> StripeInvoiceView | None:
        if not self.state.touched_stripe(self.lease.attempt):
            return None  # no earlier run: nothing of ours can exist in Stripe
        if self.state.stripe_invoice_id is not None:
            found = self.deps.stripe.retrieve_invoice(self.state.stripe_invoice_id)
            if found is not None and found.metadata.get(METADATA_INVOICE_ID) == self.invoice.id:
                return found
        if customer is None:
            return None
        candidates = self.deps.stripe.find_invoices(customer, METADATA_INVOICE_ID, self.invoice.id)
        if not candidates:
            return None
        rank = {"open": 0, "paid": 0, "uncollectible": 0, "void": 1, "draft": 2}
        return min(candidates, key=lambda found: rank.get(found.status, 3))

    # -- sync ----------------------------------------------------------------------------------

    def _sync(self, plan: StripePlan) -> StripeSyncResult:
        existing = self._observe(plan.customer)
        if existing is not None and existing.status != "draft":
            return self._already_final(plan, existing)
        if plan.outcome is not PlanOutcome.PUSH:
            if existing is not None:
                self.deps.stripe.delete_invoice(existing.id)  # an older version's draft
            if plan.outcome is PlanOutcome.SKIP:
                return self._settle("skipped", "skipped", plan.reason)
            return self._settle("failed", "failed", plan.reason, failure_code="residue_too_large")

        lines: list[StripeLineView] = []
        if existing is not None:
            existing, lines = self._reconcile_draft(plan, existing)
        else:
            existing = self.deps.stripe.create_invoice(plan.draft_params, idempotency_key=self._key("create_draft"))
            self._save("drafted", stripe_invoice_id=existing.id, version=plan.version)

        current = self._add_missing(plan, existing, lines)
        actual = current.amount(plan.total_field)
        if actual != plan.total:
            self.deps.stripe.delete_invoice(current.id)
            reason = (
                f"invoice {self.invoice.id}: Stripe's {plan.total_field} {format_stripe_amount(actual, plan.currency)}"
                f" differs from ours {format_stripe_amount(plan.total, plan.currency)}; the draft {current.id} was"
                " deleted and nothing was finalized"
            )
            return self._settle("failed", "failed", reason, stripe_invoice_id="", failure_code="total_mismatch")
        if not plan.finalize:
            reason = self._success_reason(plan, current.id, "left as a draft in Stripe (leave_as_draft)")
            return self._settle("draft", "draft", reason, stripe_invoice_id=current.id)
        final = self.deps.stripe.finalize_invoice(current.id, idempotency_key=self._key("finalize"))
        reason = self._success_reason(plan, final.id, "finalized")
        return self._settle("synced", "synced", reason, stripe_invoice_id=final.id)

    def _reconcile_draft(
        self, plan: StripePlan, draft: StripeInvoiceView
    ) -> tuple[StripeInvoiceView, list[StripeLineView]]:
        """Our draft, kept (never recreated): its own fields follow `plan`'s version, and every line
        that is not a planned item of that version with the planned amount is removed — ours deleted,
        anyone else's unassigned (back to a pending item, untouched). Returns the lines kept."""
        lines = self.deps.stripe.list_lines(draft.id)
        keep, remove = sort_draft_lines(plan, lines)
        old_version = draft.metadata.get(METADATA_INVOICE_VERSION)
        if old_version != str(plan.version):
            # A higher version replaces the draft's items (DESIGN §3); the draft itself stays.
            changes: dict[str, Any] = {
                "metadata": {METADATA_INVOICE_VERSION: str(plan.version)},
                "description": plan.draft_params["description"],
            }
            if plan.effective_at is not None:
                changes["effective_at"] = plan.effective_at
            draft = self.deps.stripe.update_invoice(draft.id, changes, idempotency_key=self._key("update_draft"))
            self.notes.append(f"replaced the items of the draft of version {old_version}")
        if remove:
            draft = self.deps.stripe.remove_lines(draft.id, remove, idempotency_key=self._key("remove_lines"))
            if old_version == str(plan.version):
                self.notes.append(f"removed {len(remove)} lines of the draft that were not in the plan")
        return draft, keep

    def _add_missing(
        self, plan: StripePlan, draft: StripeInvoiceView, lines: list[StripeLineView]
    ) -> StripeInvoiceView:
        present = {line.metadata.get(METADATA_ITEM_KEY) for line in lines}
        missing = [item for item in plan.items if item.key not in present]
        if not missing:
            return draft
        current = draft
        if self.deps.bulk_lines:
            for index, chunk in enumerate(chunks(missing, self.deps.add_lines_cap), start=1):
                lines_params = [plan.line_params(item) for item in chunk]
                key = self._key(f"add_lines_{index}")
                current = self.deps.stripe.add_lines(current.id, lines_params, idempotency_key=key)
            return current
        for item in missing:
            params = {**plan.line_params(item), "invoice": draft.id, "customer": plan.customer}
            self.deps.stripe.create_invoice_item(params, idempotency_key=self._key(f"item_{item.key}"))
        refreshed = self.deps.stripe.retrieve_invoice(draft.id)
        if refreshed is None:
            raise RetryableError(f"invoice {self.invoice.id}: Stripe draft {draft.id} vanished while adding items")
        return refreshed

    def _already_final(self, plan: StripePlan, existing: StripeInvoiceView) -> StripeSyncResult:
        if existing.status == "void":
            reason = (
                f"invoice {self.invoice.id}: its Stripe invoice {existing.id} was voided; a second Stripe invoice"
                " is never created"
            )
            return self._settle("failed", "failed", reason, stripe_invoice_id=existing.id, failure_code="stripe_voided")
        theirs = existing.amount(plan.total_field)
        if theirs == plan.total:
            reason = self._success_reason(plan, existing.id, f"already {existing.status} in Stripe with the same total")
            return self._settle("synced", "synced", reason, stripe_invoice_id=existing.id)
        reason = (
            f"invoice {self.invoice.id} version {plan.version}: total {format_stripe_amount(plan.total, plan.currency)}"
            f" differs from the finalized Stripe invoice {existing.id}"
            f" ({format_stripe_amount(theirs, plan.currency)}); a second Stripe invoice is never created"
        )
        return self._settle(
            "failed", "failed", reason, stripe_invoice_id=existing.id, failure_code="finalized_total_differs"
        )

    def _success_reason(self, plan: StripePlan, stripe_invoice_id: str, what: str) -> str:
        parts = [
            f"invoice {self.invoice.id} version {plan.version} {what} as {stripe_invoice_id}",
            f"total {format_stripe_amount(plan.total, plan.currency)}",
            plan.effective_at_note,
        ]
        if plan.collapsed_from:
            parts.append(f"{plan.collapsed_from} items collapsed into {len(plan.items)}")
        return "; ".join(parts + self.notes)

    # -- void --------------------------------------------------------------------------------

    def _void(self, configuration: StripeConfiguration | None) -> StripeSyncResult:
        customer = configuration.stripe_customer_id if configuration is not None else None
        existing = self._observe(customer)
        if existing is None:
            reason = f"invoice {self.invoice.id} was voided; nothing of it exists in Stripe"
            return self._settle("voided", "voided", reason)
        if existing.status == "draft":
            self.deps.stripe.delete_invoice(existing.id)
            reason = f"invoice {self.invoice.id} was voided; its Stripe draft {existing.id} was deleted"
            return self._settle("voided", "voided", reason, stripe_invoice_id=existing.id)
        if existing.status in ("open", "uncollectible"):
            self.deps.stripe.void_invoice(existing.id, idempotency_key=self._key("void"))
        elif existing.status == "paid":
            reason = (
                f"invoice {self.invoice.id} was voided, but its Stripe invoice {existing.id} is already paid;"
                " refund it or issue a credit note in Stripe"
            )
            return self._settle("failed", "failed", reason, stripe_invoice_id=existing.id, failure_code="invoice_paid")
        reason = f"invoice {self.invoice.id} was voided; Stripe invoice {existing.id} is void"
        return self._settle("voided", "voided", reason, stripe_invoice_id=existing.id)
