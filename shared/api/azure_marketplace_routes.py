"""Azure Marketplace listings (docs/listings.md, "Azure"): the buyer's landing and the SaaS webhook.

    GET  /v1/marketplaces/azure/landing?token=…   no bearer token: the buyer's browser, sent here by
                                                  Microsoft with the landing token in the query
    POST /v1/marketplaces/azure/webhook           no API token: Microsoft's call, with a Microsoft
                                                  Entra ID bearer token checked before anything else

The landing takes the query's value as the HTTP API event holds it (already decoded once) and
resolves it with Microsoft before anything is stored. The webhook reads its raw body (not the
JSON body the other routes take), and only once the token passed.
"""

from __future__ import annotations

import json
from typing import Annotated, cast

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from shared.api.app import MAX_BODY_BYTES, OPERATION_DOCUMENTS, BodyTooLarge
from shared.api.landing_replies import LANDING_RESPONSES, buyer_caller, landing_reply
from shared.api.schemas import error_responses
from shared.domain.validation import FieldError
from shared.observability import count, logger
from shared.ports.errors import PermanentError, RetryableError
from shared.ports.marketplace_listing import InvalidLandingToken, WebhookTokenRefused
from shared.services.api_dependencies import AZURE_LANDING, ApiDependencies
from shared.services.api_errors import Unavailable
from shared.services.api_registrations import NotConfigured
from shared.services.azure_listing import handle_azure_webhook, land_azure

router = Router()  # type: ignore[no-untyped-call]
TOKEN_FIELD = "token"
MAX_TOKEN_CHARS = 4096
BUYER_ACTOR = "marketplace:azure_buyer"
WEBHOOK_OPERATION = "marketplaces.azure.webhook"
_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}


def _deps() -> ApiDependencies:
    return cast(ApiDependencies, router.context["deps"])


OPERATION_DOCUMENTS[AZURE_LANDING.name] = {
    "responses": {
        **LANDING_RESPONSES,
        "503": {"description": "Azure Marketplace is throttling or failing; nothing was stored: open it again",
                "content": _ERROR},
    },
}  # fmt: skip


@router.get(
    "/v1/marketplaces/azure/landing",
    operation_id=AZURE_LANDING.name,
    tags=["marketplaces"],
    summary="A buyer lands from Azure Marketplace (the offer's landing page URL)",
    description=(
        "No bearer token: Microsoft sends the buyer's browser here with `token` in the query. The token is resolved"
        " with the SaaS Fulfillment API at once and a pending registration is kept (the same SaaS subscription"
        " again: the registration made before). Answers 303 to the seller's sign-up page with"
        " `registration=<id>`, or 200 with the registration when no sign-up page is configured. A missing, invalid"
        " or expired token is a 400 naming `token` and nothing is stored; Microsoft throttling or failing is a 503"
        " (nothing stored)."
    ),
    responses=error_responses(400),
    security=[],
)
def azure_landing(
    token: Annotated[str | None, Query(description="the landing token, as Microsoft put it in the URL")] = None,
) -> Response[str]:
    value = (token or "").strip()
    if not value:
        raise FieldError(TOKEN_FIELD, "is required: the landing token Azure Marketplace puts in the landing URL")
    if len(value) > MAX_TOKEN_CHARS:
        raise FieldError(TOKEN_FIELD, f"is longer than {MAX_TOKEN_CHARS} characters: not a landing token")
    if not (value.isascii() and value.isprintable()):  # Microsoft's tokens are base64 text
        raise FieldError(TOKEN_FIELD, "holds characters no landing token has (it is base64 text)")
    try:
        landing = land_azure(_deps(), buyer_caller(router.current_event.raw_event, BUYER_ACTOR), value)
    except InvalidLandingToken as refused:
        raise FieldError(refused.field, str(refused)) from None
    except RetryableError:
        raise Unavailable(503, "Azure Marketplace did not answer; nothing was stored: open the link again") from None
    except NotConfigured as missing:
        raise Unavailable(501, str(missing)) from None
    return landing_reply(landing)


OPERATION_DOCUMENTS[WEBHOOK_OPERATION] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["id", "subscriptionId"],
                    "properties": {"id": {"type": "string"}, "subscriptionId": {"type": "string"}},
                }
            }
        },
    },
    "responses": {
        "200": {
            "description": "Handled: changed, unchanged, a duplicate, or kept as unmatched",
            "content": {"application/json": {"schema": {"type": "object", "required": ["data"]}}},
        },
        "401": {"description": "The Microsoft Entra ID token is missing or fails a check; nothing changed",
                "content": _ERROR},
        "502": {"description": "Microsoft refused to show the operation; nothing changed", "content": _ERROR},
        "503": {"description": "Microsoft could not be asked; nothing changed: the call is retried",
                "content": _ERROR},
    },
}  # fmt: skip


@router.post(
    "/v1/marketplaces/azure/webhook",
    operation_id=WEBHOOK_OPERATION,
    tags=["marketplaces"],
    summary="Azure Marketplace tells the publisher that a SaaS subscription changed (the offer's webhook)",
    description=(
        "No API token: Microsoft's `Authorization: Bearer` token from Microsoft Entra ID is verified first (RS256"
        " against the tenant's keys, audience AZURE_CLIENT_ID, tenant AZURE_TENANT_ID, the marketplace's app,"
        " the issuer, expiry); any failure is a 401 and nothing changes. Then the operation is read back from the"
        " SaaS Fulfillment API and what it says is applied to the customer's subscription; ChangePlan and"
        " ChangeQuantity are acknowledged. The same operation again changes nothing; an operation for no known"
        " buyer is kept as unmatched (200)."
    ),
    responses=error_responses(400, 413),
    security=[],
)
def azure_webhook() -> Response[str]:
    event = router.current_event
    try:
        result = handle_azure_webhook(_deps(), event.headers.get("authorization"), _body)
    except WebhookTokenRefused as refused:
        count("AzureWebhookRefused")
        logger.warning("Azure webhook refused", extra={"reason": str(refused)})
        raise Unavailable(401, f"the Microsoft Entra ID token was refused: {refused}") from None
    except RetryableError as error:
        raise Unavailable(503, f"Azure Marketplace could not be asked ({error}); nothing changed") from None
    except NotConfigured as missing:
        raise Unavailable(501, str(missing)) from None
    except PermanentError as error:
        raise Unavailable(502, f"Azure Marketplace refused to show the operation: {error}") from None
    count("AzureWebhookOperations", dimension=("outcome", result.outcome))
    if result.outcome == "unmatched":
        count("UnmatchedMarketplaceEvents")
        logger.warning("Azure operation names no known buyer; kept as unmatched", extra=result.to_json())
    else:
        logger.info("Azure operation handled", extra=result.to_json())
    return Response(
        status_code=200, content_type=content_types.APPLICATION_JSON, body=json.dumps({"data": result.to_json()})
    )


def _body() -> str:
    """The raw body (base64-decoded when the event says so), within the API's bounds."""
    body = router.current_event.decoded_body or ""
    if len(body.encode("utf-8", "surrogatepass")) > MAX_BODY_BYTES:
        raise BodyTooLarge
    return body
