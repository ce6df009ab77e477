"""Cold-start import cost: each handler module vs. the SDKs it needs, in fresh interpreters.

For each function, `python -c "import functions.<name>.handler"` is timed against
`python -c "import <the SDKs that handler needs>"` (both with `-X importtime` off, fresh process,
same environment); the ratio of medians over >= 7 alternating runs is what our own code costs on
top of the SDKs at a Lambda cold start. Goal: <= 1.15x. Also checks that a handler does not import
SDKs it should not (the router must never import stripe or azure).
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUNS = 11
GOAL = 1.15
POWERTOOLS = "from aws_lambda_powertools import Logger, Metrics, Tracer; import aws_xray_sdk.core"
# The pydantic names our models use (pydantic imports them lazily), and one trivial model, since
# pydantic loads its schema machinery when the first model class is defined: the SDK's cost.
PYDANTIC = (
    "import pydantic; from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer,"
    " StringConstraints, TypeAdapter, ValidationError, field_validator, model_validator; "
    "exec('class _Warm(pydantic.BaseModel):\\n    x: int')"
)


@dataclass(frozen=True)
class Case:
    function: str
    baseline: str  # the SDK imports the handler cannot avoid
    forbidden: tuple[str, ...]  # top-level packages the handler must not import


CASES = [
    Case("invoice_router", f"import boto3; {PYDANTIC}; {POWERTOOLS}", ("stripe", "azure")),
    Case(
        "stripe_sync",
        f"import boto3, stripe; {PYDANTIC}; {POWERTOOLS}; "
        "from aws_lambda_powertools.utilities.batch import BatchProcessor",
        ("azure",),
    ),
    Case(
        "api",
        f"import boto3; {PYDANTIC}; {POWERTOOLS}; "
        "from aws_lambda_powertools.event_handler import APIGatewayHttpResolver; "
        # enable_validation=True loads Powertools' OpenAPI models: the SDK's cost, not ours
        "import aws_lambda_powertools.event_handler.openapi.models",
        ("stripe", "azure"),
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


def _time(code: str) -> float:
    """CPU seconds (user + system) the child interpreter spent: steadier than wall time on a busy box."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", code], cwd=REPO, env=_env(), check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _imports_forbidden(module: str, forbidden: tuple[str, ...]) -> list[str]:
    probe = (
        f"import sys, {module}; print(','.join(sorted({{m.split('.')[0] for m in sys.modules}} & {set(forbidden)!r})))"
    )
    output = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, env=_env(), check=True, capture_output=True, text=True
    ).stdout.strip()
    return [name for name in output.split(",") if name]


def main() -> None:
    print(f"CPU seconds, median of {RUNS} fresh interpreters each; goal handler/baseline <= {GOAL:.2f}x")
    print(f"{'function':<16}{'baseline s':>12}{'handler s':>12}{'ratio':>8}  {'goal':<5} forbidden imports")
    for case in CASES:
        module = f"functions.{case.function}.handler"
        if not (REPO / "functions" / case.function / "handler.py").exists():
            print(f"{case.function:<16}{'(not built yet)':>32}")
            continue
        _time(case.baseline)  # warm the OS file cache and the .pyc files before measuring
        _time(f"import {module}")
        baseline, handler = [], []
        for _ in range(RUNS):  # alternate so drift on a busy machine hits both sides alike
            baseline.append(_time(case.baseline))
            handler.append(_time(f"import {module}"))
        ratio = statistics.median(handler) / statistics.median(baseline)
        leaked = _imports_forbidden(module, case.forbidden)
        print(
            f"{case.function:<16}{statistics.median(baseline):>12.3f}{statistics.median(handler):>12.3f}"
            f"{ratio:>7.2f}x  {'ok' if ratio <= GOAL else 'MISS':<5} {', '.join(leaked) or 'none'}"
        )


if __name__ == "__main__":
    main()
