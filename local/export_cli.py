"""`downbeat export --date D`: the data export for date D, now, against the running local stack.

It runs the data_export function's own use case (shared.services.data_export) in this process: the
stack serves the function's settings (its table, its bucket on moto), the secrets come from this
process's environment, as for `downbeat invoke`. A progress bar on stderr counts customers (their
number is read first); stdout gets the run's summary as JSON. `downbeat trigger data_export` runs
the function itself, as its daily schedule does (for today's date).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any, TextIO

from local.cli_arguments import UsageError, shown

FUNCTION = "DataExportFunction"
BAR_WIDTH = 30


def export_date_argument(text: str) -> date:
    """`--date`: YYYY-MM-DD."""
    try:
        if len(text) != 10:
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{shown(text[:40])} is not a date: give YYYY-MM-DD, e.g. 2025-03-01"
        ) from None


def add_export_command(commands: Any, api: argparse.ArgumentParser, run: Callable[[argparse.Namespace], int]) -> None:
    export = commands.add_parser(
        "export",
        parents=[api],
        help="export commits and balances to the stack's export bucket as Parquet, now",
        description=(
            "Run the data export (what the data_export function does daily) against the running local stack: every "
            "customer's commits and credits become the commits and balances tables, Parquet files under a new run "
            "prefix of the stack's export bucket, each row with its balance as of now (the rule customerBalances/list "
            "applies). Then the date's manifest is switched to the new run, so a reader never sees half an export or "
            "two; an earlier export of the same date is replaced and its files expire a week later. A progress bar "
            "goes to stderr; the summary (run id, rows and files per table) to stdout as JSON. The layout and how to "
            "read it with pyarrow or Athena: docs/export.md. Exit codes: 0 exported, 1 failed (no stack, S3 or the "
            "table unreachable: the previous export stays), 2 bad usage."
        ),
    )
    export.add_argument(
        "--date",
        type=export_date_argument,
        metavar="YYYY-MM-DD",
        help="the export date (the partition it replaces); default: today, UTC; a date after today is refused",
    )
    export.set_defaults(run=run)


class ProgressBar:
    """`export 2025-03-01 [#####.....] 12/40 customers, 1,234 commits`, on stderr.

    Redrawn in place on a terminal; elsewhere (a log, a pipe) one line per tenth of the way.
    """

    def __init__(self, stream: TextIO, label: str, total: int) -> None:
        self._stream = stream
        self._label = label
        self._total = total
        self._live = stream.isatty()
        self._shown_tenth = -1

    def __call__(self, customers: int, rows: int) -> None:
        done = min(1.0, customers / self._total) if self._total else 1.0
        filled = round(done * BAR_WIDTH)
        line = (
            f"{self._label} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] "
            f"{customers:,}/{self._total:,} customers, {rows:,} commits and credits"
        )
        if self._live:
            self._stream.write("\r" + line)
        elif int(done * 10) > self._shown_tenth:
            self._shown_tenth = int(done * 10)
            self._stream.write(line + "\n")
        self._stream.flush()

    def done(self) -> None:
        if self._live:
            self._stream.write("\n")
            self._stream.flush()


def export_against_stack(args: argparse.Namespace, settings: Mapping[str, str], withheld: list[str]) -> int:
    from local.invoke import own_secrets, patched_environ  # noqa: PLC0415
    from shared import bootstrap  # noqa: PLC0415
    from shared.domain.data_export import manifest_key  # noqa: PLC0415
    from shared.services.data_export import (  # noqa: PLC0415
        ExportProgress,
        FutureExportDate,
        count_customers,
        export_tables,
    )

    environment = {**settings, **own_secrets(withheld, os.environ)}
    with patched_environ(environment):
        bootstrap.reset()
        try:
            deps = bootstrap.data_export()
            day = args.date or deps.clock().date()
            bar = ProgressBar(sys.stderr, f"export {day}", count_customers(deps.store))
            bar(0, 0)

            def progress(step: ExportProgress) -> None:
                bar(step.customers, step.rows)

            try:
                result = export_tables(deps, day, progress=progress)
            except FutureExportDate as error:
                raise UsageError(str(error)) from None
            finally:
                bar.done()
        finally:
            bootstrap.reset()
    print(json.dumps(result.summary(), indent=2))
    manifest = f"s3://{settings.get('EXPORT_BUCKET', '')}/{manifest_key(day)}"
    print(f"downbeat export: {manifest} names run {result.manifest.run_id}", file=sys.stderr)
    return 0
