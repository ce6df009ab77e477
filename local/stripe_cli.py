"""`downbeat stripe ACTION INVOICE`: do in the local stack's Stripe double what happens in Stripe itself.

A customer pays, a card is declined, finance voids an invoice or marks it uncollectible: the
double changes the invoice and sends the signed webhook Stripe would send, to the stack's
`POST /v1/webhooks/stripe`, and the command prints what happened (the invoice's Stripe status and
the webhook's answer). Exit 0 once the webhook was answered 200, 1 otherwise (the stack refused the
change, or the webhook was not accepted), 2 for an unknown action or invoice.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any
from urllib.parse import quote

from local.stripe_double_webhooks import HAND_ACTIONS


def add_stripe_command(commands: Any, api: argparse.ArgumentParser) -> None:
    stripe = commands.add_parser(
        "stripe",
        parents=[api],
        help="act on an invoice in the local Stripe double (pay, fail-payment, void, uncollectible)",
        description=(
            "Do to INVOICE in the local stack's Stripe double what a customer or finance would do in Stripe: "
            + "; ".join(f"{action} sends {event}" for action, event in HAND_ACTIONS.items())
            + ". The event is signed with the stack's webhook secret and POSTed to its /v1/webhooks/stripe, which "
            "reads the invoice back from the double and records its provider_status (GET /v1/invoices/ID/sync "
            "shows it). INVOICE is the Stripe id (in_…) or the downbeat invoice id its metadata names. Prints one "
            "JSON object; exit 0 once the webhook answered 200, 1 when Stripe refused the change or the webhook "
            "was not accepted, 2 for an unknown INVOICE."
        ),
    )
    stripe.add_argument("action", choices=list(HAND_ACTIONS), help="what happens to the invoice in Stripe")
    stripe.add_argument("invoice", metavar="INVOICE", help="a Stripe invoice id (in_…) or a downbeat invoice id")
    stripe.set_defaults(run=cmd_stripe)


def cmd_stripe(args: argparse.Namespace) -> int:
    from local.cli import CommandFailed, api_url, request_json  # noqa: PLC0415 - cli imports this module

    path = f"/_local/stripe/{quote(args.action, safe='')}"
    answer = request_json(api_url(args), "POST", path, {"invoice": args.invoice}, timeout=120)
    print(json.dumps(answer, indent=2, default=str))
    webhook = answer.get("webhook") if isinstance(answer, dict) else None
    status = webhook.get("status") if isinstance(webhook, dict) else None
    if status != 200:
        raise CommandFailed(f"the webhook was not accepted (status {status}): see its response above")
    print(f"{args.action}: {answer.get('stripe_invoice_id')} is {answer.get('status')} in Stripe", file=sys.stderr)
    return 0
