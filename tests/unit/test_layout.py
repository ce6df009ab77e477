"""The library stays in small modules: none under shared/ is over 400 lines (docs/architecture.md)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MAX_LINES = 400


def test_no_shared_module_is_over_400_lines() -> None:
    modules = sorted((REPO / "shared").rglob("*.py"))
    assert len(modules) > 50
    too_long = {
        str(path.relative_to(REPO)): lines
        for path in modules
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not too_long, f"split these modules (at most {MAX_LINES} lines each): {too_long}"
