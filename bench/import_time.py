"""Cold-start import cost: each handler module vs. the SDKs it needs, in fresh interpreters.

For each function, `import functions.<name>.handler` plus what its bootstrap factory imports on
the first invocation (the stripe SDK for the worker) is measured against `import <the SDKs that
handler needs>` (boto3, the pydantic names our models use, Powertools, X-Ray, and per function
stripe or the HTTP resolver), each in its own fresh interpreter with the same environment. What
is measured is the CPU time (user + system) of the imports themselves, taken inside the child:
interpreter start-up and shutdown are the same for every function and are not an import's cost,
and CPU time is steadier than wall time on a busy 2-core machine. The ratio of medians over
alternating runs is what our own code costs on top of the SDKs at a Lambda cold start.
Our handlers pause the garbage collector while they import (functions/__init__.py); the baseline
does the same (`gc.disable()` before its imports, `gc.freeze(); gc.enable()` after), so the ratio
is our code's cost and not the collector's. The saving itself is printed on its own line: the
API's imports with the collector left on, against the same imports with it paused.
Goal: <= 1.15x. Also checks that a handler does not import SDKs it should not (the router must
never import stripe or azure)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUNS = 21
GOAL = 1.15
POWERTOOLS = "from aws_lambda_powertools import Logger, Metrics, Tracer; import aws_xray_sdk.core"
# The pydantic names our models use (pydantic imports them lazily), and one trivial model, since
# pydantic loads its schema machinery when the first model class is defined: the SDK's cost.
PYDANTIC = (
    "import pydantic; from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer,"
    " StringConstraints, TypeAdapter, ValidationError, field_validator, model_validator; "
    "exec('class _Warm(pydantic.BaseModel):\\n    x: int')"
)


PARAMETERS = "import aws_lambda_powertools.utilities.parameters"


@dataclass(frozen=True)
class Case:
    function: str
    baseline: str  # the SDK imports the handler cannot avoid
    forbidden: tuple[str, ...]  # top-level packages the handler must not import
    # What the function's bootstrap factory imports on the first invocation (shared/bootstrap.py):
    # still part of the cold start, so measured with the handler.
    first_call: tuple[str, ...] = ()

    @property
    def baseline_imports(self) -> str:
        return f"import gc; gc.disable(); {self.baseline}; gc.freeze(); gc.enable()"

    @property
    def handler_imports(self) -> str:
        return "; ".join(f"import {module}" for module in (f"functions.{self.function}.handler", *self.first_call))


CASES = [
    Case(
        "invoice_router",
        f"import boto3; {PYDANTIC}; {POWERTOOLS}",
        ("stripe", "azure", "pyarrow"),
        ("shared.adapters.sqs_queue", "shared.config", "shared.services.route_invoice"),
    ),
    Case(
        "stripe_sync",
        f"import boto3, stripe; {PYDANTIC}; {POWERTOOLS}; {PARAMETERS}; "
        "from aws_lambda_powertools.utilities.batch import BatchProcessor",
        ("azure", "pyarrow"),
        (
            "shared.adapters.stripe_gateway",
            "shared.config",
            "shared.services.stripe_sync",
            "aws_lambda_powertools.utilities.parameters",
        ),
    ),
    Case(
        "api",
        f"import boto3; {PYDANTIC}; {POWERTOOLS}; {PARAMETERS}; "
        "from aws_lambda_powertools.event_handler import APIGatewayHttpResolver; "
        # enable_validation=True loads Powertools' OpenAPI models: the SDK's cost, not ours
        "import aws_lambda_powertools.event_handler.openapi.models",
        ("stripe", "azure", "pyarrow"),
        (
            "shared.api.auth",
            "shared.config",
            "shared.services.api_dependencies",
            "aws_lambda_powertools.utilities.parameters",
        ),
    ),
    Case(
        "data_export",
        # pyarrow (its Parquet writer) is what this function is for: the SDK's cost, in its baseline.
        f"import boto3; {PYDANTIC}; {POWERTOOLS}; import pyarrow, pyarrow.parquet",
        ("stripe", "azure"),
        ("shared.adapters.s3_exports", "shared.config", "shared.services.data_export"),
    ),
    Case(
        "stripe_webhook",
        f"import boto3, stripe; {PYDANTIC}; {POWERTOOLS}; {PARAMETERS}",
        ("azure",),
        (
            "shared.adapters.stripe_gateway",
            "shared.config",
            "shared.services.stripe_webhook",
            "aws_lambda_powertools.utilities.parameters",
        ),
    ),
    Case(
        "webhook_sender",
        f"import boto3, requests; {PYDANTIC}; {POWERTOOLS}; {PARAMETERS}; "
        "from aws_lambda_powertools.utilities.batch import BatchProcessor",
        ("stripe", "azure", "pyarrow", "jwt"),
        (
            "shared.adapters.webhook_http",
            "shared.adapters.sqs_notifications",
            "shared.config",
            "aws_lambda_powertools.utilities.parameters",
        ),
    ),
]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "AWS_DEFAULT_REGION": "us-east-1",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_SERVICE_NAME": "bench",
            "PYTHONDONTWRITEBYTECODE": "0",
        }
    )
    return env


_MEASURE = """
import resource
def _cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
_started = _cpu()
exec({code!r})
print(_cpu() - _started)
"""


def _time(code: str) -> float:
    """CPU seconds (user + system) the imports took in a fresh interpreter.

    Measured inside the child around the imports only: interpreter start-up and shutdown are the
    same for every Lambda function and not part of an import's cost, and CPU time is steadier
    than wall time on a busy machine.
    """
    result = subprocess.run(
        [sys.executable, "-c", _MEASURE.format(code=code)],
        cwd=REPO,
        env=_env(),
        check=True,
        capture_output=True,
        text=True,
    )
    return float(result.stdout.strip().splitlines()[-1])


def _imports_forbidden(imports: str, forbidden: tuple[str, ...]) -> list[str]:
    probe = (
        f"import sys; {imports}; print(','.join(sorted({{m.split('.')[0] for m in sys.modules}} & {set(forbidden)!r})))"
    )
    output = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, env=_env(), check=True, capture_output=True, text=True
    ).stdout.strip()
    return [name for name in output.split(",") if name]


def main() -> None:
    print(f"CPU seconds, median of {RUNS} fresh interpreters each; goal handler/baseline <= {GOAL:.2f}x")
    print(f"{'function':<16}{'baseline s':>12}{'handler s':>12}{'ratio':>8}  {'goal':<5} forbidden imports")
    for case in CASES:
        if not (REPO / "functions" / case.function / "handler.py").exists():
            print(f"{case.function:<16}{'(not built yet)':>32}")
            continue
        _time(case.baseline_imports)  # warm the OS file cache and the .pyc files before measuring
        _time(case.handler_imports)
        baseline, handler = [], []
        for _ in range(RUNS):  # alternate so drift on a busy machine hits both sides alike
            baseline.append(_time(case.baseline_imports))
            handler.append(_time(case.handler_imports))
        ratio = statistics.median(handler) / statistics.median(baseline)
        leaked = _imports_forbidden(case.handler_imports, case.forbidden)
        print(
            f"{case.function:<16}{statistics.median(baseline):>12.3f}{statistics.median(handler):>12.3f}"
            f"{ratio:>7.2f}x  {'ok' if ratio <= GOAL else 'MISS':<5} {', '.join(leaked) or 'none'}"
        )
    _collector_saving(next(case for case in CASES if case.function == "api"))


def _collector_saving(case: Case) -> None:
    """What pausing the collector saves: the same imports with it left on (re-enabled before the
    handler package pauses it) against the handler as shipped."""
    collector_on = f"import functions, gc; gc.enable(); {case.handler_imports}"
    on, paused = [], []
    for _ in range(RUNS):
        on.append(_time(collector_on))
        paused.append(_time(case.handler_imports))
    on_s, paused_s = statistics.median(on), statistics.median(paused)
    print(
        f"{case.function} imports with the collector on: {on_s:.3f} s, paused: {paused_s:.3f} s"
        f" ({on_s - paused_s:.3f} s saved per cold start)"
    )


if __name__ == "__main__":
    main()
