"""Marketplace listings (docs/listings.md): the buyers' landing and the registrations it makes.

    POST /v1/marketplaces/aws/fulfillment        no bearer token: the buyer's browser posts the
                                                 form field x-amzn-marketplace-token here
    GET  /v1/marketplaceRegistrations?status=…   bearer token
    POST /v1/marketplaceRegistrations/complete   bearer token; → {"data": customer}

The landing reads the raw body (base64-decoded when the event says so) as a form, not the JSON body
the other routes take, and resolves the token with AWS before anything is stored.
"""

from __future__ import annotations

from typing import Annotated, cast
from urllib.parse import parse_qs

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BaseModel, ConfigDict

from shared.api.app import MAX_BODY_BYTES, OPERATION_DOCUMENTS, BodyTooLarge
from shared.api.landing_replies import LANDING_RESPONSES, buyer_caller, landing_reply
from shared.api.routes import LimitQuery, NextPageQuery
from shared.api.routes import current_caller as _caller
from shared.api.schemas import CustomerData, CustomerView, error_responses
from shared.domain.audit import Caller
from shared.domain.paging import DEFAULT_LIMIT, PageRequest
from shared.domain.registrations import Registration, RegistrationStatus
from shared.domain.validation import FieldError
from shared.ports.errors import RetryableError
from shared.ports.marketplace_listing import InvalidLandingToken
from shared.services import api_registrations
from shared.services.api_dependencies import AWS_FULFILLMENT, REGISTRATIONS_COMPLETE, ApiDependencies
from shared.services.api_errors import Unavailable
from shared.services.api_registrations import CompleteRegistrationRequest, NotConfigured, UpstreamFailed

router = Router()  # type: ignore[no-untyped-call]
TOKEN_FIELD = "x-amzn-marketplace-token"
MAX_FORM_BYTES = 16 * 1024  # a token is a few hundred characters; the form holds nothing else we read
MAX_TOKEN_CHARS = 4096
BUYER_ACTOR = "marketplace:aws_buyer"


class RegistrationData(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    data: Registration


class RegistrationPage(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    data: list[Registration]
    next_page: str | None


def _deps() -> ApiDependencies:
    return cast(ApiDependencies, router.context["deps"])


def _buyer() -> Caller:
    return buyer_caller(router.current_event.raw_event, BUYER_ACTOR)


def _token() -> str:
    body = router.current_event.decoded_body or ""
    size = len(body.encode("utf-8", "surrogatepass"))
    if size > MAX_BODY_BYTES:
        raise BodyTooLarge
    if size > MAX_FORM_BYTES:
        raise FieldError(TOKEN_FIELD, f"the form is larger than {MAX_FORM_BYTES} bytes")
    try:
        form = parse_qs(body, keep_blank_values=True, max_num_fields=50)
    except ValueError:
        raise FieldError(None, "the request body must be a form (application/x-www-form-urlencoded)") from None
    values = form.get(TOKEN_FIELD) or [""]
    token = values[0].strip()
    if not token:
        raise FieldError(TOKEN_FIELD, "is required: the registration token AWS Marketplace posts with the form")
    if len(token) > MAX_TOKEN_CHARS:
        raise FieldError(TOKEN_FIELD, f"is longer than {MAX_TOKEN_CHARS} characters: not a registration token")
    return token


OPERATION_DOCUMENTS[AWS_FULFILLMENT.name] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": [TOKEN_FIELD],
                    "properties": {
                        TOKEN_FIELD: {"type": "string", "minLength": 1, "maxLength": MAX_TOKEN_CHARS},
                    },
                }
            }
        },
    },
    "responses": {
        **LANDING_RESPONSES,
        "411": {
            "description": "The form was sent without a Content-Length",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
        },
        "503": {
            "description": "AWS Marketplace is throttling or failing; nothing was stored: post again",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
        },
    },
}


@router.post(
    "/v1/marketplaces/aws/fulfillment",
    operation_id=AWS_FULFILLMENT.name,
    tags=["marketplaces"],
    summary="A buyer lands from AWS Marketplace (the product's fulfillment URL)",
    description=(
        "No bearer token: the buyer's browser posts the form field `x-amzn-marketplace-token`. The token is"
        " resolved with AWS Marketplace at once and a pending registration is kept (the same account and licence"
        " again: the registration made before). Answers 303 to the seller's sign-up page with"
        " `registration=<id>`, or 200 with the registration when no sign-up page is configured. An invalid or"
        " expired token is a 400 naming `x-amzn-marketplace-token` and nothing is stored; AWS throttling or"
        " failing is a 503 (nothing stored; post again)."
    ),
    responses=error_responses(400, 413),
    security=[],
)
def aws_fulfillment() -> Response[str]:
    token = _token()
    try:
        landing = api_registrations.land_aws(_deps(), _buyer(), token)
    except InvalidLandingToken as refused:
        raise FieldError(refused.field, str(refused)) from None
    except RetryableError:
        raise Unavailable(503, "AWS Marketplace did not answer; nothing was stored: post the form again") from None
    except NotConfigured as missing:
        raise Unavailable(501, str(missing)) from None
    return landing_reply(landing)


@router.get(
    "/v1/marketplaceRegistrations",
    operation_id="marketplaceRegistrations.list",
    tags=["marketplaces"],
    summary="Registrations of buyers who landed from a marketplace, by status (oldest first)",
    responses=error_responses(400, 401),
)
def list_registrations(
    status: Annotated[RegistrationStatus, Query()] = "pending",
    limit: LimitQuery = DEFAULT_LIMIT,
    next_page: NextPageQuery = None,
) -> RegistrationPage:
    page = api_registrations.list_registrations(_deps(), status, PageRequest(limit, next_page))
    return RegistrationPage(data=list(page.items), next_page=page.next_page)


@router.post(
    "/v1/marketplaceRegistrations/complete",
    operation_id=REGISTRATIONS_COMPLETE.name,
    tags=["marketplaces"],
    summary="Link a registration to an existing customer, or to a new one",
    description=(
        "`customer_id` (an existing customer) or `customer` (`name`, `custom_fields`: a new one). The customer's"
        " configuration for that marketplace is added, or replaces the one it has, with `subscription.status`"
        " `active`; it is the default when the customer has no other configuration. An Azure registration's SaaS"
        " subscription is activated first: when Microsoft refuses, nothing is written, the registration stays"
        " pending with the reason, and the answer is a 502 naming `registration_id`. An unknown registration"
        " or customer is a 404 naming it; a registration completed before (or failed) is a 409 naming"
        " `registration_id`."
    ),
    responses=error_responses(400, 401, 404, 409, 413, 502),
)
def complete_registration(request: CompleteRegistrationRequest) -> CustomerData:
    try:
        customer = api_registrations.complete(_deps(), _caller(), request)
    except UpstreamFailed as failed:
        raise Unavailable(
            502, f"the marketplace refused the activation: {failed}", "registration_id", audited=True
        ) from None
    except NotConfigured as missing:
        raise Unavailable(501, str(missing)) from None
    return CustomerData(data=CustomerView.of(customer))
