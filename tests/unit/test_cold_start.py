"""Every handler turns the garbage collector back on after its imports (functions/__init__.py)."""

from __future__ import annotations

import pytest

from tests.fresh_interpreter import REPO, fresh_stdout

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
    assert fresh_stdout(probe).split() == ["True", "True", "True"]
