"""`downbeat marketplace land|event PROVIDER …`: play a marketplace buyer against the local stack.

    downbeat marketplace land aws [--account ID --license ARN] [--product-code CODE] [--agreement ID]
                                  [--customer-identifier ID]
    downbeat marketplace land azure [--subscription ID] [--plan PLAN] [--quantity N]
    downbeat marketplace event aws ACTION --customer-identifier ID --product-code CODE
    downbeat marketplace event azure ACTION --subscription ID [--plan P] [--quantity N]

`land aws` asks the stack's AWS double for a registration token (`POST /_local/marketplace/aws-token`),
posts the landing form to the stack's `POST /v1/marketplaces/aws/fulfillment` as the buyer's browser
would (no bearer token) and prints the registration. `land azure` asks the Azure double for a
purchase and its landing token (`POST /_local/marketplace/azure-token`) and opens
`GET /v1/marketplaces/azure/landing?token=…` as the browser Microsoft sends there would. `event aws`
puts an SNS subscription action on the stack's subscription queue (`POST /_local/marketplace/aws-sns`);
agreement and licence events go through `downbeat send-event`. `event azure` makes the operation at
the Azure double (`POST /_local/marketplace/azure-operation`) and posts its webhook, with the
Microsoft Entra ID token the double signs, to `POST /v1/marketplaces/azure/webhook`, as Microsoft
would. Exit 0 done, 1 refused, 2 bad usage.
"""

from __future__ import annotations

import argparse
import http.client
import json
import secrets
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from local.cli_arguments import UsageError
from local.http_server import ControlError

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient

    from local.aws_metering_double import AwsMeteringDouble
    from local.azure_marketplace_double import AzureMarketplaceDouble
    from local.resources import QueueInfo

PROVIDERS = ("aws", "azure")
SNS_ACTIONS = ("subscribe-success", "subscribe-fail", "unsubscribe-pending", "unsubscribe-success")
AZURE_ACTIONS = ("ChangePlan", "ChangeQuantity", "Suspend", "Reinstate", "Unsubscribe", "Renew")
LOCAL_AZURE_PLAN = "gold"
SUBSCRIPTION_QUEUE = "MarketplaceSubscriptionQueue"
LOCAL_PRODUCT_CODE = "prod-downbeat-local"
_BUYER_FIELDS = ("account_id", "license_arn", "customer_identifier", "agreement_id")


# -- the stack's side (LocalStack.marketplace_action) ---------------------------------------------------


def marketplace_action(
    double: AwsMeteringDouble | None,
    sqs: SQSClient,
    queues: Mapping[str, QueueInfo],
    action: str,
    document: Any,
    azure: AzureMarketplaceDouble | None = None,
) -> dict[str, Any]:
    body = document if isinstance(document, dict) else {}
    texts = {key: value for key, value in body.items() if isinstance(value, str) and value}
    if action in ("azure-token", "azure-operation"):
        return _azure_action(azure, action, body, texts)
    if action == "aws-token":
        if double is None:
            raise ControlError(404, "AWS_ENDPOINT_URL_MARKETPLACE_METERING is set: this stack runs no AWS double")
        if "product_code" not in texts:
            raise ControlError(400, 'the body names the buyer: {"product_code", "account_id", "license_arn", …}')
        buyer = {key: texts[key] for key in _BUYER_FIELDS if key in texts}
        return {"token": double.issue_token(texts["product_code"], **buyer)}
    if action == "aws-sns":
        if texts.get("action") not in SNS_ACTIONS or not {"customer_identifier", "product_code"} <= set(texts):
            raise ControlError(
                400, f'the body is {{"action": one of {", ".join(SNS_ACTIONS)}, "customer_identifier", "product_code"}}'
            )
        queue = queues.get(SUBSCRIPTION_QUEUE)
        if queue is None:
            raise ControlError(404, f"this build's template has no {SUBSCRIPTION_QUEUE}")
        message = {
            "action": texts["action"],
            "customer-identifier": texts["customer_identifier"],
            "product-code": texts["product_code"],
        }
        envelope = {
            "Type": "Notification",
            "MessageId": f"local-{secrets.token_hex(8)}",
            "TopicArn": "arn:aws:sns:us-east-1:000000000000:aws-mp-subscription-notification-local",
            "Message": json.dumps(message),
            "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        }
        sent = sqs.send_message(QueueUrl=queue.url, MessageBody=json.dumps(envelope))
        return {"queue": SUBSCRIPTION_QUEUE, "message_id": sent["MessageId"], "body": envelope}
    raise ControlError(
        404, f"no marketplace action {action!r}; one of aws-token, aws-sns, azure-token, azure-operation"
    )


def _azure_action(
    azure: AzureMarketplaceDouble | None, action: str, body: Mapping[str, Any], texts: Mapping[str, str]
) -> dict[str, Any]:
    """`azure-token`: a purchase and its landing token; `azure-operation`: the operation Microsoft
    starts, with its webhook body and signed Authorization header (the caller delivers it)."""
    from local.azure_metering_model import AzureError  # noqa: PLC0415 - only with the Azure double

    if azure is None:
        raise ControlError(404, "AZURE_FULFILLMENT_BASE_URL is set: this stack runs no Azure double")
    quantity = body.get("quantity")
    if quantity is not None and (isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1):
        raise ControlError(400, "quantity must be a whole number of 1 or more")
    try:
        if action == "azure-token":
            token, subscription = azure.landing_token(
                subscription_id=texts.get("subscription_id"), plan_id=texts.get("plan_id", LOCAL_AZURE_PLAN),
                quantity=quantity,
            )  # fmt: skip
            return {"token": token, "subscription_id": subscription}
        if texts.get("action") not in AZURE_ACTIONS or "subscription_id" not in texts:
            raise ControlError(400, f'the body is {{"action": one of {", ".join(AZURE_ACTIONS)}, "subscription_id"}}')
        return azure.start_operation(
            texts["subscription_id"], texts["action"], plan_id=texts.get("plan_id"), quantity=quantity
        )
    except AzureError as error:
        raise ControlError(error.status if error.status in (400, 404) else 409, error.message) from None


# -- the command --------------------------------------------------------------------------------------------


def add_marketplace_command(commands: Any, api: argparse.ArgumentParser) -> None:
    marketplace = commands.add_parser(
        "marketplace",
        help="play a marketplace buyer: land, or send a subscription event",
        description="Play a marketplace buyer against the local stack (docs/listings.md).",
    )
    actions = marketplace.add_subparsers(dest="marketplace_command", required=True, metavar="ACTION")
    land = actions.add_parser(
        "land",
        parents=[api],
        help="land as a buyer from the marketplace and print the registration",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Make a token at the stack's marketplace double, follow the landing as the buyer's browser would and\n"
            "print the registration it made (the same buyer again prints the same one).\n\n"
            "  aws    posts the form to /v1/marketplaces/aws/fulfillment. Without --account and --license a new\n"
            "         licence-based buyer is made up; --customer-identifier alone lands a legacy buyer.\n"
            "  azure  opens /v1/marketplaces/azure/landing?token=... for a purchase of --plan (default gold;\n"
            "         --quantity seats when per seat) by SaaS subscription --subscription (default: a new one).\n\n"
            "example: downbeat marketplace land azure --subscription 5a0e... --plan gold --quantity 3"
        ),
    )
    land.add_argument("provider", choices=PROVIDERS, help="the marketplace")
    aws = land.add_argument_group("aws")
    aws.add_argument("--account", metavar="ID", help="the buyer's AWS account (12 digits), with --license")
    aws.add_argument("--license", metavar="ARN", help="the buyer's licence ARN, with --account")
    aws.add_argument("--customer-identifier", metavar="ID", help="a legacy product's CustomerIdentifier")
    aws.add_argument("--product-code", metavar="CODE", default=LOCAL_PRODUCT_CODE, help="the product code")
    aws.add_argument("--agreement", metavar="ID", help="the agreement id ResolveCustomer names")
    azure = land.add_argument_group("azure")
    azure.add_argument("--subscription", metavar="ID", help="the SaaS subscription id (default: a new one)")
    azure.add_argument("--plan", metavar="PLAN", help=f"the plan bought (default {LOCAL_AZURE_PLAN})")
    azure.add_argument("--quantity", metavar="N", type=int, help="seats, for a per-seat plan")
    land.set_defaults(run=cmd_land)
    event = actions.add_parser(
        "event",
        parents=[api],
        help="send a subscription event as the marketplace would",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Send a subscription event as the marketplace would.\n\n"
            f"  aws    ACTION one of {', '.join(SNS_ACTIONS)}:\n"
            "         an SNS action (the legacy aws-mp-subscription-notification topic's) on the stack's\n"
            "         subscription queue, for --customer-identifier and --product-code; marketplace_lifecycle\n"
            "         applies it. Agreement and licence events go through `downbeat send-event` with source\n"
            "         aws.agreement-marketplace.\n"
            f"  azure  ACTION one of {', '.join(AZURE_ACTIONS)}:\n"
            "         the operation is made at the Azure double for --subscription (--plan for ChangePlan,\n"
            "         --quantity for ChangeQuantity), and its webhook is posted to /v1/marketplaces/azure/webhook\n"
            "         with the Microsoft Entra ID token the double signs. Prints the operation and the answer.\n\n"
            "example: downbeat marketplace event azure Suspend --subscription 5a0e..."
        ),
    )
    event.add_argument("provider", choices=PROVIDERS, help="the marketplace")
    event.add_argument("action", choices=(*SNS_ACTIONS, *AZURE_ACTIONS), metavar="ACTION", help="the action")
    event.add_argument("--customer-identifier", metavar="ID", help="aws: the buyer's CustomerIdentifier")
    event.add_argument("--product-code", metavar="CODE", help="aws: the product code")
    event.add_argument("--subscription", metavar="ID", help="azure: the SaaS subscription id")
    event.add_argument("--plan", metavar="PLAN", help="azure: the new plan (ChangePlan)")
    event.add_argument("--quantity", metavar="N", type=int, help="azure: the new quantity (ChangeQuantity)")
    event.set_defaults(run=cmd_event)


def _refuse_other_providers_options(args: argparse.Namespace, names: dict[str, str]) -> None:
    given = [
        flag for attribute, flag in names.items() if getattr(args, attribute, None) not in (None, LOCAL_PRODUCT_CODE)
    ]
    if given:
        raise UsageError(f"{', '.join(given)}: not an option of {args.provider}")


def _buyer(args: argparse.Namespace) -> dict[str, str]:
    if (args.account is None) != (args.license is None):
        raise UsageError("--account and --license go together (a licence-based buyer)")
    if args.account is not None and not (len(args.account) == 12 and args.account.isascii() and args.account.isdigit()):
        raise UsageError(f"--account must be 12 digits, not {args.account!r}")
    buyer = {"product_code": args.product_code}
    if args.account is None and args.customer_identifier is None:
        args.account = "".join(secrets.choice("0123456789") for _ in range(12))
        args.license = f"arn:aws:license-manager::{args.account}:license:l-{secrets.token_hex(8)}"
    for key, value in (
        ("account_id", args.account),
        ("license_arn", args.license),
        ("customer_identifier", args.customer_identifier),
        ("agreement_id", args.agreement),
    ):
        if value is not None:
            buyer[key] = value
    return buyer


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 303 is the answer: it names the registration


AWS_OPTIONS = {"account": "--account", "license": "--license", "customer_identifier": "--customer-identifier",
               "agreement": "--agreement"}  # fmt: skip
AZURE_OPTIONS = {"subscription": "--subscription", "plan": "--plan", "quantity": "--quantity"}


def cmd_land(args: argparse.Namespace) -> int:
    from local.cli import answer_field, api_url, request_json  # noqa: PLC0415

    base = api_url(args)
    if args.provider == "azure":
        _refuse_other_providers_options(args, AWS_OPTIONS)
        if args.quantity is not None and args.quantity < 1:
            raise UsageError("--quantity must be 1 or more")
        purchase = {
            "subscription_id": args.subscription,
            "plan_id": args.plan or LOCAL_AZURE_PLAN,
            "quantity": args.quantity,
        }
        answer = request_json(base, "POST", "/_local/marketplace/azure-token", purchase)
        token = quote(str(answer_field(answer, "token")), safe="")
        return _follow_landing(base, urllib.request.Request(base + f"/v1/marketplaces/azure/landing?token={token}"))
    _refuse_other_providers_options(args, AZURE_OPTIONS)
    token = answer_field(request_json(base, "POST", "/_local/marketplace/aws-token", _buyer(args)), "token")
    form = urlencode({"x-amzn-marketplace-token": token}).encode()
    request = urllib.request.Request(
        base + "/v1/marketplaces/aws/fulfillment",
        data=form,
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    return _follow_landing(base, request)


def _follow_landing(base: str, request: urllib.request.Request) -> int:
    """Open the landing as the buyer's browser (no bearer token) and print the registration it made."""
    from local.cli import CommandFailed, api_token  # noqa: PLC0415

    request.add_header("User-Agent", "downbeat-marketplace-land")
    try:
        with urllib.request.build_opener(_NoRedirects).open(request, timeout=60) as response:
            status, payload, location = response.status, response.read(), response.headers.get("Location")
    except urllib.error.HTTPError as error:
        status, payload, location = error.code, error.read(), error.headers.get("Location")
    except (OSError, http.client.HTTPException) as error:
        raise CommandFailed(f"no local stack answers at {base} ({error}); start one with `downbeat local`") from None
    if status == 303 and location:
        registration_id = (parse_qs(urlsplit(location).query).get("registration") or [""])[0]
        print(json.dumps(_registration(base, api_token(), registration_id), indent=2))
        print(f"sent on to {location}", file=sys.stderr)
        return 0
    try:
        answer = json.loads(payload or b"null")
    except ValueError:
        answer = None
    if status != 200 or not isinstance(answer, dict):
        message = answer.get("message") if isinstance(answer, dict) else payload[:200]
        raise CommandFailed(f"the landing was refused ({status}): {message}")
    print(json.dumps(answer["data"], indent=2))
    return 0


def _registration(base: str, token: str, registration_id: str) -> Any:
    """The registration `registration_id` from the API's list (pending: a landing makes it so)."""
    from local.cli import CommandFailed, request_json  # noqa: PLC0415

    next_page: str | None = None
    while True:
        query = "status=pending&limit=100" + (f"&next_page={quote(next_page, safe='')}" if next_page else "")
        page = request_json(base, "GET", f"/v1/marketplaceRegistrations?{query}", token=token)
        for registration in page.get("data") or []:
            if registration.get("id") == registration_id:
                return registration
        next_page = page.get("next_page")
        if not next_page:
            raise CommandFailed(f"the landing named registration {registration_id!r}, which is not pending")


def cmd_event(args: argparse.Namespace) -> int:
    from local.cli import api_url, request_json  # noqa: PLC0415

    base = api_url(args)
    if args.provider == "azure":
        return _azure_event(base, args)
    _refuse_other_providers_options(args, AZURE_OPTIONS)
    if args.action not in SNS_ACTIONS:
        raise UsageError(f"ACTION for aws is one of {', '.join(SNS_ACTIONS)}, not {args.action!r}")
    if args.customer_identifier is None or args.product_code is None:
        raise UsageError("aws events need --customer-identifier and --product-code")
    body = {"action": args.action, "customer_identifier": args.customer_identifier, "product_code": args.product_code}
    print(json.dumps(request_json(base, "POST", "/_local/marketplace/aws-sns", body), indent=2))
    return 0


def _azure_event(base: str, args: argparse.Namespace) -> int:
    """Make the operation at the double, then post its webhook as Microsoft would."""
    from local.cli import CommandFailed, request_json  # noqa: PLC0415

    _refuse_other_providers_options(
        args, {"customer_identifier": "--customer-identifier", "product_code": "--product-code"}
    )
    if args.action not in AZURE_ACTIONS:
        raise UsageError(f"ACTION for azure is one of {', '.join(AZURE_ACTIONS)}, not {args.action!r}")
    if args.subscription is None:
        raise UsageError("azure events need --subscription (the SaaS subscription id)")
    if args.quantity is not None and args.quantity < 1:
        raise UsageError("--quantity must be 1 or more")
    body = {
        "action": args.action,
        "subscription_id": args.subscription,
        "plan_id": args.plan,
        "quantity": args.quantity,
    }
    started = request_json(base, "POST", "/_local/marketplace/azure-operation", body)
    request = urllib.request.Request(
        base + "/v1/marketplaces/azure/webhook",
        data=json.dumps(started["webhook"]).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": started["authorization"],
                 "User-Agent": "downbeat-marketplace-event"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, payload = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, payload = error.code, error.read()
    except (OSError, http.client.HTTPException) as error:
        raise CommandFailed(f"no local stack answers at {base} ({error}); start one with `downbeat local`") from None
    try:
        answer = json.loads(payload or b"null")
    except ValueError:
        answer = {"message": payload[:200].decode("utf-8", "replace")}
    if status != 200:
        raise CommandFailed(f"the webhook was refused ({status}): {answer.get('message')}")
    print(json.dumps({"operation": started["operation"], "webhook": answer["data"]}, indent=2))
    return 0
