"""The Stripe adapter: the only module that imports the `stripe` SDK.

The SDK's `StripeClient` does the HTTP, the form encoding and the retries that are safe to do
blindly: with `max_network_retries` it retries connection errors, 409s, 5xx and any reply with
`Stripe-Should-Retry: true` (a 429 `lock_timeout`), under the same idempotency key. It does not
retry a 429 `rate_limit` (Stripe sends no Retry-After): that becomes `StripeRateLimited`, and a 409
its retries could not clear becomes `StripeConflict`; for both the service backs off, then hands
the record back. Every other SDK error becomes a `RetryableError` or a `PermanentError` carrying
Stripe's error `code`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import stripe

from shared.ports.errors import AdapterError, PermanentError, RetryableError
from shared.ports.stripe import (
    StripeConflict,
    StripeInvoiceView,
    StripeLineView,
    StripeRateLimited,
    WebhookSignatureInvalid,
)

STRIPE_API_BASE = "https://api.stripe.com"
DEFAULT_MAX_NETWORK_RETRIES = 2
DEFAULT_TIMEOUT_SECONDS = 20.0  # well inside the function's 60 s, even with the SDK's retries
LIST_PAGE = 100


class _PacedRequestsClient(stripe.RequestsClient):
    """The SDK's requests-based client with its retry pause chosen by us.

    The SDK computes the pause before retry n in `HTTPClient._sleep_time_seconds` (0.5 s doubling
    to 5 s, jittered, never under 0.5 s) and documents the method as the seam for tests. Overriding
    it here, in a subclass handed to `StripeClient(http_client=…)`, keeps the SDK's retry
    *decisions* intact and lets tests pass `retry_delay=lambda n: 0.0` instead of patching.
    """

    def __init__(self, retry_delay: Callable[[int], float], timeout: float) -> None:
        super().__init__(timeout=timeout)
        self._retry_delay = retry_delay

    def _sleep_time_seconds(self, num_retries: int) -> float:
        return self._retry_delay(num_retries)


def stripe_client(
    api_key: str,
    *,
    api_base: str = STRIPE_API_BASE,
    max_network_retries: int = DEFAULT_MAX_NETWORK_RETRIES,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    retry_delay: Callable[[int], float] | None = None,
) -> stripe.StripeClient:
    """A `StripeClient` on `api_base` (`STRIPE_API_BASE`); `retry_delay` overrides the SDK's pause."""
    http_client: stripe.HTTPClient = (
        stripe.RequestsClient(timeout=timeout) if retry_delay is None else _PacedRequestsClient(retry_delay, timeout)
    )
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base},
        max_network_retries=max_network_retries,
        http_client=http_client,
    )


def _field(obj: Any, name: str) -> Any:
    return getattr(obj, name, None)


def _metadata(obj: Any) -> dict[str, str]:
    metadata = _field(obj, "metadata")
    values = metadata.to_dict() if hasattr(metadata, "to_dict") else dict(metadata or {})
    return {str(key): str(value) for key, value in values.items()}


def _invoice(obj: stripe.Invoice) -> StripeInvoiceView:
    total_excluding_tax = _field(obj, "total_excluding_tax")
    customer = _field(obj, "customer")
    return StripeInvoiceView(
        id=str(obj.id),
        status=str(_field(obj, "status")),
        customer=str(customer if isinstance(customer, str) else _field(customer, "id")),
        currency=str(_field(obj, "currency")),
        total=int(_field(obj, "total") or 0),
        total_excluding_tax=None if total_excluding_tax is None else int(total_excluding_tax),
        metadata=_metadata(obj),
        effective_at=_field(obj, "effective_at"),
        auto_advance=_field(obj, "auto_advance"),
        created=_field(obj, "created"),
        attempted=_field(obj, "attempted"),
        amount_remaining=_field(obj, "amount_remaining"),
        from_invoice=_from_invoice(obj),
    )


def _from_invoice(obj: Any) -> str | None:
    revised = _field(_field(obj, "from_invoice"), "invoice")
    return revised if isinstance(revised, str) or revised is None else str(_field(revised, "id"))


def verify_webhook(payload: bytes, signature: str | None, secrets: Sequence[str], tolerance: int) -> None:
    """Check `Stripe-Signature` over the raw body with the SDK (`Webhook.construct_event`): any of
    `secrets` may have made it (several while one is rotated); older than `tolerance` seconds is
    refused. Raises WebhookSignatureInvalid, whose message never holds a secret."""
    if not signature:
        raise WebhookSignatureInvalid("no Stripe-Signature header")
    try:
        payload.decode("utf-8")  # Stripe signs UTF-8 JSON; the SDK would raise on anything else
    except UnicodeDecodeError:
        raise WebhookSignatureInvalid("the body is not UTF-8 text") from None
    last = "no webhook secret is configured"
    for secret in secrets:
        try:
            stripe.Webhook.construct_event(payload, signature, secret, tolerance=tolerance)
        except stripe.SignatureVerificationError as error:
            last = str(error).split(" (")[0]  # the SDK's reason; it quotes no secret
            continue
        except ValueError:  # the signature held, and the body is not JSON
            raise WebhookSignatureInvalid("the body is not a JSON Stripe event") from None
        return
    raise WebhookSignatureInvalid(last)


def _line(obj: stripe.InvoiceLineItem) -> StripeLineView:
    details = _field(_field(obj, "parent"), "invoice_item_details")
    item = _field(details, "invoice_item")
    return StripeLineView(
        id=str(obj.id), amount=int(_field(obj, "amount") or 0), metadata=_metadata(obj), invoice_item=item
    )


def map_stripe_error(error: stripe.StripeError, action: str) -> AdapterError:
    """SDK error → RetryableError / StripeRateLimited / PermanentError, with Stripe's code."""
    body = error.error  # Stripe's error object; RateLimitError and APIError leave `error.code` unset
    code = error.code or (body.code if body is not None else None) or (body.type if body is not None else None)
    status = error.http_status
    detail = f"Stripe {action} failed: {code or type(error).__name__} (HTTP {status}): {error.user_message or error}"
    if isinstance(error, stripe.RateLimitError):
        if code in (None, "rate_limit"):
            return StripeRateLimited(detail, code="rate_limit")
        return RetryableError(detail, code=code)  # lock_timeout after the SDK's own retries
    if status == 409:  # the SDK already retried it max_network_retries times
        return StripeConflict(detail, code=code or "http_409")
    if isinstance(error, stripe.APIConnectionError | stripe.IdempotencyError):
        return RetryableError(detail, code=code or "connection_error")
    if status is None or status >= 500:
        return RetryableError(detail, code=code or f"http_{status}")
    return PermanentError(detail, code=code or f"http_{status}")


class StripeGateway:
    """`shared.ports.stripe.StripeInvoices` on the official SDK."""

    def __init__(self, client: stripe.StripeClient) -> None:
        self._client = client
        self.calls = 0

    def _call(self, action: str, perform: Callable[[], Any]) -> Any:
        self.calls += 1
        try:
            return perform()
        except stripe.StripeError as error:
            raise map_stripe_error(error, action) from error

    def list_invoices(self, customer: str) -> list[StripeInvoiceView]:
        found: list[StripeInvoiceView] = []
        params: dict[str, Any] = {"customer": customer, "limit": LIST_PAGE}
        while True:
            page = self._call("list invoices", lambda: self._client.v1.invoices.list(params=cast(Any, dict(params))))
            invoices = [_invoice(obj) for obj in page.data]
            found.extend(invoices)
            if not page.has_more or not invoices:
                return found
            params["starting_after"] = invoices[-1].id

    def find_invoices(self, customer: str, metadata_key: str, metadata_value: str) -> list[StripeInvoiceView]:
        return [
            invoice for invoice in self.list_invoices(customer) if invoice.metadata.get(metadata_key) == metadata_value
        ]

    def retrieve_invoice(self, invoice_id: str) -> StripeInvoiceView | None:
        try:
            obj = self._call("retrieve invoice", lambda: self._client.v1.invoices.retrieve(invoice_id))
        except PermanentError as error:
            if error.code == "resource_missing":
                return None
            raise
        return _invoice(obj)

    def list_lines(self, invoice_id: str) -> list[StripeLineView]:
        lines: list[StripeLineView] = []
        params: dict[str, Any] = {"limit": LIST_PAGE}
        while True:
            page = self._call(
                "list invoice lines",
                lambda: self._client.v1.invoices.line_items.list(invoice_id, params=cast(Any, dict(params))),
            )
            batch = [_line(obj) for obj in page.data]
            lines.extend(batch)
            if not page.has_more or not batch:
                return lines
            params["starting_after"] = batch[-1].id

    def create_invoice(self, params: Mapping[str, Any], *, idempotency_key: str) -> StripeInvoiceView:
        obj = self._call(
            "create invoice",
            lambda: self._client.v1.invoices.create(
                params=cast(Any, dict(params)), options={"idempotency_key": idempotency_key}
            ),
        )
        return _invoice(obj)

    def add_lines(
        self, invoice_id: str, lines: Sequence[Mapping[str, Any]], *, idempotency_key: str
    ) -> StripeInvoiceView:
        obj = self._call(
            "add invoice lines",
            lambda: self._client.v1.invoices.add_lines(
                invoice_id,
                params=cast(Any, {"lines": [dict(line) for line in lines]}),
                options={"idempotency_key": idempotency_key},
            ),
        )
        return _invoice(obj)

    def update_invoice(self, invoice_id: str, params: Mapping[str, Any], *, idempotency_key: str) -> StripeInvoiceView:
        obj = self._call(
            "update invoice",
            lambda: self._client.v1.invoices.update(
                invoice_id, params=cast(Any, dict(params)), options={"idempotency_key": idempotency_key}
            ),
        )
        return _invoice(obj)

    def remove_lines(
        self, invoice_id: str, lines: Sequence[tuple[str, str]], *, idempotency_key: str
    ) -> StripeInvoiceView:
        obj = self._call(
            "remove invoice lines",
            lambda: self._client.v1.invoices.remove_lines(
                invoice_id,
                params={"lines": [{"id": line_id, "behavior": behavior} for line_id, behavior in lines]},
                options={"idempotency_key": idempotency_key},
            ),
        )
        return _invoice(obj)

    def create_invoice_item(self, params: Mapping[str, Any], *, idempotency_key: str) -> None:
        self._call(
            "create invoice item",
            lambda: self._client.v1.invoice_items.create(
                params=cast(Any, dict(params)), options={"idempotency_key": idempotency_key}
            ),
        )

    def finalize_invoice(self, invoice_id: str, *, idempotency_key: str) -> StripeInvoiceView:
        obj = self._call(
            "finalize invoice",
            lambda: self._client.v1.invoices.finalize_invoice(
                invoice_id, params={"auto_advance": True}, options={"idempotency_key": idempotency_key}
            ),
        )
        return _invoice(obj)

    def void_invoice(self, invoice_id: str, *, idempotency_key: str) -> StripeInvoiceView:
        obj = self._call(
            "void invoice",
            lambda: self._client.v1.invoices.void_invoice(invoice_id, options={"idempotency_key": idempotency_key}),
        )
        return _invoice(obj)

    def delete_invoice(self, invoice_id: str) -> None:
        try:
            self._call("delete draft invoice", lambda: self._client.v1.invoices.delete(invoice_id))
        except PermanentError as error:
            if error.code != "resource_missing":
                raise
