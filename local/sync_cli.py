"""`downbeat sync --dry-run INVOICE_FILE`: print the Stripe plan for an invoice, calling nothing.

INVOICE_FILE is an invoice event (EventBridge envelope) or a bare invoice. The Stripe configuration
comes from `--config FILE` (a Stripe `configuration` object, as on a customer), else the file's own
`stripe_configuration`, else the defaults with a placeholder customer id.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from local.cli_arguments import UsageError, read_json_file
from shared.domain.invoice import Invoice, InvoiceEvent
from shared.domain.providers import StripeConfiguration
from shared.domain.stripe_plan import plan_stripe_invoice


def add_sync_command(commands: Any) -> None:
    """Register `sync` on the `downbeat` CLI's subparsers."""
    sync = commands.add_parser(
        "sync",
        help="print the Stripe plan for an invoice (--dry-run)",
        description=(
            "Print, as JSON, the Stripe calls the worker would make for INVOICE_FILE (an invoice event or a bare "
            "invoice): the draft's parameters and effective_at, every item with its amount in minor units, "
            "add_lines chunks, idempotency keys, the total check and finalize. Nothing is sent to Stripe."
        ),
    )
    sync.add_argument("invoice_file", metavar="INVOICE_FILE", help="an invoice event or invoice as JSON")
    sync.add_argument("--dry-run", action="store_true", help="print the plan only (required: the worker syncs)")
    sync.add_argument(
        "--config",
        metavar="FILE",
        help="a Stripe configuration object as JSON, as a customer's stripe configuration holds",
    )
    sync.set_defaults(run=cmd_sync)


def cmd_sync(args: argparse.Namespace) -> int:
    if not args.dry_run:
        print("downbeat sync: only --dry-run is available here; the stripe_sync worker does the real sync",
              file=sys.stderr)  # fmt: skip
        return 2
    try:
        document = read_json_file(args.invoice_file)
        configuration = read_json_file(args.config, what="--config") if args.config else None
        if not isinstance(document, dict) or not isinstance(configuration, dict | None):
            raise UsageError("INVOICE_FILE and --config each hold a JSON object")
    except UsageError as error:
        print(f"downbeat sync: {error}", file=sys.stderr)
        return 2
    try:
        print(render_dry_run(document, configuration))
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(top)'}: {e['msg']}" for e in error.errors())
        print(f"downbeat sync: {args.invoice_file} is not a valid invoice: {problems}", file=sys.stderr)
        return 1
    return 0


def dry_run_plan(document: Mapping[str, Any], configuration: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The plan for an invoice event (or a bare invoice), no Stripe call.

    The Stripe configuration comes from `configuration`, else from the document's
    `stripe_configuration`, else the defaults with a placeholder customer.
    """
    event = "detail" in document
    invoice = InvoiceEvent.model_validate(document).detail if event else Invoice.model_validate(document)
    raw = dict(configuration or document.get("stripe_configuration") or {})
    raw.setdefault("stripe_customer_id", "cus_DRY_RUN")  # a placeholder of the shape Stripe ids have
    plan = plan_stripe_invoice(invoice, StripeConfiguration.model_validate(raw))
    return plan.describe()


def render_dry_run(document: Mapping[str, Any], configuration: Mapping[str, Any] | None = None) -> str:
    return json.dumps(dry_run_plan(document, configuration), indent=2, default=str)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="downbeat")
    add_sync_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
