"""The Stripe double's webhooks: events in Stripe's shape, signed as Stripe signs them, POSTed to an endpoint.

What it follows (https://docs.stripe.com/webhooks, "Verify webhook signatures"): the body is the
event object as JSON; the `Stripe-Signature` header is `t=<unix seconds>,v1=<hex HMAC-SHA256 of
"<t>.<body>" keyed with the endpoint's secret>`. The header is made by the SDK's own helper,
`stripe.WebhookSignature.generate_signature_header`, so what the double signs is what the SDK's
`construct_event` checks. Tests may sign with another secret or time, or leave the header out.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]
USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
DELIVERY_TIMEOUT_SECONDS = 30.0

# The hand actions of the double (what happens in Stripe outside downbeat) and the event each sends.
HAND_ACTIONS: dict[str, str] = {
    "pay": "invoice.paid",
    "fail-payment": "invoice.payment_failed",
    "void": "invoice.voided",
    "uncollectible": "invoice.marked_uncollectible",
}


@dataclass(frozen=True)
class WebhookDelivery:
    event: JSON
    status: int | None  # None: nothing answered (no endpoint configured, or it was unreachable)
    body: Any = None
    error: str | None = None

    def to_json(self) -> JSON:
        return {
            "event_id": self.event["id"],
            "type": self.event["type"],
            "status": self.status,
            "response": self.body,
            "error": self.error,
        }


def event_json(event_id: str, event_type: str, obj: JSON, created: int, api_version: str) -> JSON:
    """An event as Stripe sends it to a webhook endpoint (a snapshot of the object)."""
    return {
        "id": event_id,
        "object": "event",
        "api_version": api_version,
        "created": created,
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }


def signature_header(payload: str, secret: str, timestamp: int) -> str:
    import stripe  # noqa: PLC0415 - only a double that sends webhooks needs the SDK's signing helper

    return str(stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp=timestamp))


@dataclass
class WebhookEndpoint:
    url: str | None = None
    secret: str | None = field(default=None, repr=False)
    deliveries: list[WebhookDelivery] = field(default_factory=list)

    def deliver(
        self,
        event: JSON,
        *,
        timestamp: int,
        secret: str | None = None,
        signature: str | None = None,
        signed: bool = True,
    ) -> WebhookDelivery:
        """POST `event` to the endpoint, signed at `timestamp` with `secret` (default: the endpoint's),
        or with `signature` as given, or with no header at all (`signed=False`)."""
        if self.url is None:
            delivery = WebhookDelivery(event, None, error="no webhook endpoint is configured")
            self.deliveries.append(delivery)
            return delivery
        payload = json.dumps(event, indent=2)
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT}
        if signed:
            key = secret if secret is not None else self.secret
            headers["Stripe-Signature"] = signature or signature_header(payload, key or "", timestamp)
        request = urllib.request.Request(self.url, data=payload.encode("utf-8"), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=DELIVERY_TIMEOUT_SECONDS) as response:
                delivery = WebhookDelivery(event, response.status, _json_or_text(response.read()))
        except urllib.error.HTTPError as refused:
            delivery = WebhookDelivery(event, refused.code, _json_or_text(refused.read()))
        except OSError as error:
            delivery = WebhookDelivery(event, None, error=f"{type(error).__name__}: {error}")
        self.deliveries.append(delivery)
        return delivery


def _json_or_text(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", errors="replace")
