"""`downbeat marketplace land|event PROVIDER …`: play a marketplace buyer against the local stack.

    downbeat marketplace land aws [--account ID --license ARN] [--product-code CODE] [--agreement ID]
                                  [--customer-identifier ID]
    downbeat marketplace event aws ACTION --customer-identifier ID --product-code CODE

`land` asks the stack's AWS double for a registration token (`POST /_local/marketplace/aws-token`),
posts the landing form to the stack's `POST /v1/marketplaces/aws/fulfillment` as the buyer's browser
would (no bearer token) and prints the registration. `event` puts an SNS subscription action on the
stack's subscription queue (`POST /_local/marketplace/aws-sns`); agreement and licence events go
through `downbeat send-event`. PROVIDER is `aws` today; the parser takes a provider first so the
Azure variants slot in beside it. Exit 0 done, 1 refused, 2 bad usage.
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
    from local.resources import QueueInfo

PROVIDERS = ("aws",)  # azure next
SNS_ACTIONS = ("subscribe-success", "subscribe-fail", "unsubscribe-pending", "unsubscribe-success")
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
) -> dict[str, Any]:
    body = document if isinstance(document, dict) else {}
    texts = {key: value for key, value in body.items() if isinstance(value, str) and value}
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
    raise ControlError(404, f"no marketplace action {action!r}; one of aws-token, aws-sns")


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
        description=(
            "Make a registration token at the stack's marketplace double, post the landing form to "
            "/v1/marketplaces/aws/fulfillment as the buyer's browser would, and print the registration it made "
            "(the same buyer again prints the same one). Without --account and --license a new licence-based "
            "buyer is made up; --customer-identifier alone lands a legacy buyer."
        ),
    )
    land.add_argument("provider", choices=PROVIDERS, help="the marketplace")
    land.add_argument("--account", metavar="ID", help="the buyer's AWS account (12 digits), with --license")
    land.add_argument("--license", metavar="ARN", help="the buyer's licence ARN, with --account")
    land.add_argument("--customer-identifier", metavar="ID", help="a legacy product's CustomerIdentifier")
    land.add_argument("--product-code", metavar="CODE", default=LOCAL_PRODUCT_CODE, help="the product code")
    land.add_argument("--agreement", metavar="ID", help="the agreement id ResolveCustomer names")
    land.set_defaults(run=cmd_land)
    event = actions.add_parser(
        "event",
        parents=[api],
        help="send a subscription action as the marketplace would",
        description=(
            "Put an SNS subscription action (the legacy aws-mp-subscription-notification topic's) on the stack's "
            "subscription queue; marketplace_lifecycle applies it. Agreement and licence events go through "
            "`downbeat send-event` with source aws.agreement-marketplace."
        ),
    )
    event.add_argument("provider", choices=PROVIDERS, help="the marketplace")
    event.add_argument("action", choices=SNS_ACTIONS, help="the SNS action")
    event.add_argument("--customer-identifier", metavar="ID", required=True, help="the buyer's CustomerIdentifier")
    event.add_argument("--product-code", metavar="CODE", required=True, help="the product code")
    event.set_defaults(run=cmd_event)


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


def cmd_land(args: argparse.Namespace) -> int:
    from local.cli import CommandFailed, answer_field, api_token, api_url, request_json  # noqa: PLC0415

    base = api_url(args)
    token = answer_field(request_json(base, "POST", "/_local/marketplace/aws-token", _buyer(args)), "token")
    form = urlencode({"x-amzn-marketplace-token": token}).encode()
    request = urllib.request.Request(
        base + "/v1/marketplaces/aws/fulfillment",
        data=form,
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "downbeat-marketplace-land"},
    )
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

    body = {"action": args.action, "customer_identifier": args.customer_identifier, "product_code": args.product_code}
    print(json.dumps(request_json(api_url(args), "POST", "/_local/marketplace/aws-sns", body), indent=2))
    return 0
