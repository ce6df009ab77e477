"""Run a snippet in a fresh interpreter at the repository root: what a Lambda cold start imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def fresh_stdout(code: str) -> str:
    """The snippet's standard output; a failure raises with its standard error."""
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={"AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_TRACE_DISABLED": "true", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        raise AssertionError(f"the snippet failed:\n{result.stderr}")
    return result.stdout
