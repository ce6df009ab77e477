"""`downbeat reconcile --provider stripe|aws_marketplace|azure_marketplace`: what the provider holds
against what the local stack recorded.

It runs the reconciler's own use cases (shared.services.reconcile, reconcile_marketplace) in this
process, against the running stack: the stack serves the reconciler's settings (its table, its
Stripe endpoint, its Azure metering endpoint), and the secrets come from this process's
environment, as for `downbeat invoke`. One row per difference on stdout (`provider  invoice_id
kind  expected  actual`), then a summary; `--json` prints one object instead. Exit 0 when clean,
1 when a difference is found, 2 on an error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TextIO

from local.cli_arguments import UsageError
from shared.domain.reconciliation import Difference

PROVIDERS = ("stripe", "aws_marketplace", "azure_marketplace")
FUNCTION = "ReconcilerFunction"


def since_argument(text: str) -> datetime:
    """`--since`: a date (midnight UTC) or an RFC 3339 timestamp."""
    from pydantic import TypeAdapter, ValidationError  # noqa: PLC0415 - only when --since is given

    from shared.services.api_requests import DateFilter  # noqa: PLC0415 - the API's own date rule

    try:
        return TypeAdapter(DateFilter).validate_python(text)
    except ValidationError:
        raise argparse.ArgumentTypeError(
            f"{text[:40]!r} is not a date or timestamp: give 2025-03-01 or 2025-03-01T00:00:00Z"
        ) from None


def add_reconcile_command(
    commands: Any, api: argparse.ArgumentParser, run: Callable[[argparse.Namespace], int]
) -> None:
    reconcile = commands.add_parser(
        "reconcile",
        parents=[api],
        help="compare what a provider holds with what downbeat recorded",
        description=(
            "Compare what the provider holds with what the local stack recorded, and print one row per difference "
            "(provider, invoice_id, kind, expected, actual), then a summary. Kinds: missing, duplicate, total, "
            "effective_at, status, unrecorded. Stripe: every synced invoice (a leave_as_draft draft and a voided one "
            "included) must exist once in Stripe (metadata downbeat_invoice_id) with our total, our effective_at and "
            "an agreeing status; a Stripe invoice with our metadata that we never recorded is unrecorded. "
            "Marketplaces: every invoice the meter is done with must have all its cents in accepted records with a "
            "receipt, or in expired or failed records (each one listed, status), and a customer's accepted records "
            "must hold what its invoices account for (total). Azure: our accepted events per resource and day "
            "against Azure's usageEvents (missing, unrecorded, total). AWS has no API to read metering records "
            "back, so only our side is checked there. The provider itself is read. Exit codes: 0 clean, 1 "
            "differences found, 2 error."
        ),
    )
    reconcile.add_argument("--provider", required=True, choices=PROVIDERS, help="which provider to reconcile")
    reconcile.add_argument(
        "--since", type=since_argument, metavar="DATE", help="only invoices whose end_timestamp is at or after DATE"
    )
    reconcile.add_argument("--customer", metavar="ID", help="only this downbeat customer")
    reconcile.add_argument("--json", action="store_true", help='print {"differences": [...], "summary": {...}}')
    reconcile.set_defaults(run=run)


class ProgressBar:
    """`checked N invoices` redrawn on one stderr line, only when stderr is a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._shown = stream.isatty()

    def __call__(self, checked: int) -> None:
        if self._shown and checked % 25 == 0:
            self._stream.write(f"\rreconcile: {checked} invoices checked")
            self._stream.flush()

    def done(self) -> None:
        if self._shown:
            self._stream.write("\r\x1b[K")
            self._stream.flush()


def reconcile_against_stack(args: argparse.Namespace, settings: Mapping[str, str], withheld: list[str]) -> int:
    from local.invoke import own_secrets, patched_environ  # noqa: PLC0415
    from shared import bootstrap  # noqa: PLC0415
    from shared.services.reconcile import UnknownCustomer, reconcile_stripe  # noqa: PLC0415
    from shared.services.reconcile_marketplace import ReadBackUnavailable, reconcile_marketplace  # noqa: PLC0415

    environment = {**settings, **own_secrets(withheld, os.environ)}
    progress = ProgressBar(sys.stderr)
    with patched_environ(environment):
        bootstrap.reset()
        try:
            options: dict[str, Any] = {"since": args.since, "customer_id": args.customer, "progress": progress}
            if args.provider == "stripe":
                report = reconcile_stripe(bootstrap.reconciler(), **options)
            else:
                report = reconcile_marketplace(bootstrap.marketplace_reconciler(), args.provider, **options)
        except (UnknownCustomer, ReadBackUnavailable) as refused:
            raise UsageError(str(refused)) from None
        finally:
            progress.done()
            bootstrap.reset()
    print_report(report.differences, report.summary(), as_json=args.json, out=sys.stdout)
    return 1 if report.differences else 0


def print_report(differences: list[Difference], summary: dict[str, int], *, as_json: bool, out: TextIO) -> None:
    if as_json:
        rows = [difference.__dict__ for difference in differences]
        out.write(json.dumps({"differences": rows, "summary": summary}) + "\n")
        return
    for difference in differences:
        out.write(difference.row() + "\n")
    out.write(f"checked {summary['checked']} invoice(s): {summary['differences']} difference(s)\n")
