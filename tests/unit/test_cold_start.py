"""Every handler turns the garbage collector back on after its imports (functions/__init__.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HANDLERS = sorted(path.parent.name for path in (REPO / "functions").glob("*/handler.py"))


def test_there_are_handlers_to_check() -> None:
    assert {"api", "invoice_router", "stripe_sync"} <= set(HANDLERS)


@pytest.mark.parametrize("function", HANDLERS)
def test_importing_a_handler_leaves_the_collector_on_with_its_imports_frozen(function: str) -> None:
    probe = (
        "import gc, functions; paused = not gc.isenabled(); "
        f"import functions.{function}.handler; "
        "print(paused, gc.isenabled(), gc.get_freeze_count() > 1000)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO,
        env={"AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_TRACE_DISABLED": "true", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.split() == ["True", "True", "True"], result.stderr
