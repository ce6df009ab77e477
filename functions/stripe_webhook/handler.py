"""stripe_webhook: `POST /v1/webhooks/stripe` (HTTP API, payload 2.0), Stripe's invoice events.

No bearer token: the `Stripe-Signature` header is the credential, checked over the raw body before
anything else (shared/services/stripe_webhook.py). A function of its own, not a route of the API
function: it reads the Stripe key to read invoices back, which the API's role must never reach
(docs/stripe-webhooks.md).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions import imports_done
from shared import bootstrap
from shared.observability import count, logger, metrics, tracer
from shared.services.stripe_webhook import StripeWebhookDependencies, WebhookAnswer, handle_stripe_webhook

imports_done()

MAX_BODY_BYTES = 1_048_576  # Stripe's events are a few kilobytes; the API's own limit


def raw_body(event: dict[str, Any]) -> bytes | None:
    """The bytes Stripe signed: the body as sent (base64-decoded when API Gateway encoded it)."""
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            return None
    return body.encode("utf-8", errors="surrogatepass")


def _response(answer: WebhookAnswer) -> dict[str, Any]:
    return {
        "statusCode": answer.status_code,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(answer.body()),
    }


# log_event=False: the body is customer billing data, and the signature header has no use in a log.
@logger.inject_lambda_context(clear_state=True, log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, deps: StripeWebhookDependencies | None = None
) -> dict[str, Any]:
    count("StripeWebhookRequests")
    headers = {str(name).lower(): value for name, value in (event.get("headers") or {}).items()}
    body = raw_body(event)
    if body is None:
        answer = WebhookAnswer(400, "refused", "the body is not valid base64", None)
    elif len(body) > MAX_BODY_BYTES:
        answer = WebhookAnswer(413, "refused", f"the request body is larger than {MAX_BODY_BYTES} bytes", None)
    else:
        answer = handle_stripe_webhook(deps or bootstrap.stripe_webhook(), body, headers.get("stripe-signature"))
    count("StripeWebhookEvents", dimension=("outcome", answer.outcome))
    logger.info(
        "Stripe webhook handled",
        extra={
            "status": answer.status_code,
            "outcome": answer.outcome,
            "event_id": answer.event_id,
            "event_type": answer.event_type,
            "invoice_id": answer.invoice_id,
            "provider_status": answer.provider_status,
            "reason": answer.message,
        },
    )
    return _response(answer)
