"""docs/threat-model.md stays true: every test its STRIDE table names exists and is collected by pytest.

The table's rows need at least one pytest node id each (in backticks, in the `test` column), or
`planned` when the row's boundary is itself marked "(planned)". Every STRIDE letter needs a row.
Node ids are checked against `pytest --collect-only` over the files the table names, so a renamed,
deleted or never-written test fails here; a parametrized test matches by its name without the
`[…]` part.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
THREAT_MODEL = REPO / "docs" / "threat-model.md"
STRIDE = "STRIDE"

NODE_ID = re.compile(r"`(tests/[\w/]+\.py::[\w\[\]\-.]+)`")

Collector = Callable[[Iterable[str]], set[str]]


@dataclass(frozen=True)
class Row:
    cells: dict[str, str]

    @property
    def label(self) -> str:
        return self.cells.get("id") or self.cells.get("threat", "?")[:40]

    @property
    def letters(self) -> set[str]:
        return set(re.findall(r"[A-Z]", self.cells.get("stride", "")))

    @property
    def node_ids(self) -> list[str]:
        return NODE_ID.findall(self.cells.get("test", ""))

    @property
    def planned(self) -> bool:
        return self.cells.get("test", "").strip().lower() == "planned"


def split_row(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def stride_rows(markdown: str) -> list[Row]:
    """The rows of the first table whose header has threat, STRIDE, mitigation and test columns."""
    lines = markdown.splitlines()
    for number, line in enumerate(lines):
        if not line.lstrip().startswith("|"):
            continue
        header = [cell.lower() for cell in split_row(line)]
        if not {"threat", "stride", "mitigation", "test"} <= set(header):
            continue
        rows = []
        for body in lines[number + 2 :]:  # past the |---| line
            if not body.lstrip().startswith("|"):
                break
            cells = split_row(body)
            assert len(cells) == len(header), f"a row has {len(cells)} cells, the header {len(header)}: {body}"
            rows.append(Row(dict(zip(header, cells, strict=True))))
        return rows
    raise AssertionError("no table with threat | STRIDE | mitigation | test columns")


def collect(node_ids: Iterable[str]) -> set[str]:
    """Node ids pytest collects from the files these ids name (files that do not exist are left out)."""
    files = sorted({node.split("::", 1)[0] for node in node_ids})
    existing = [f for f in files if (REPO / f).is_file()]
    if not existing:
        return set()
    # addopts cleared: its -q would add to ours and print only counts per file.
    command = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-o", "addopts=", "-p", "no:cacheprovider"]
    result = subprocess.run([*command, *existing], cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, f"collection failed:\n{result.stdout[-4000:]}{result.stderr[-4000:]}"
    return {line.strip() for line in result.stdout.splitlines() if "::" in line}


def is_collected(node_id: str, collected: set[str]) -> bool:
    return node_id in collected or any(c.startswith(node_id + "[") for c in collected)


def problems(markdown: str, collector: Collector) -> list[str]:
    rows = stride_rows(markdown)
    found: list[str] = []
    if not rows:
        return ["the STRIDE table has no row"]
    named = [node for row in rows for node in row.node_ids]
    collected = collector(named)
    for row in rows:
        if not row.letters or not row.letters <= set(STRIDE):
            found.append(f"{row.label}: STRIDE column {row.cells.get('stride')!r} is not letters of {STRIDE}")
        if row.planned:
            if "(planned)" not in row.cells.get("boundary", ""):
                found.append(f"{row.label}: 'planned' is only for a boundary marked (planned)")
        elif not row.node_ids:
            found.append(f"{row.label}: names no test (`tests/…py::test_…`) and is not planned")
        for node in row.node_ids:
            if not is_collected(node, collected):
                found.append(f"{row.label}: {node} is not collected by pytest")
    missing_letters = set(STRIDE) - {letter for row in rows for letter in row.letters}
    if missing_letters:
        found.append(f"no row for {''.join(sorted(missing_letters, key=STRIDE.index))}")
    return found


@pytest.fixture(scope="module")
def document() -> str:
    return THREAT_MODEL.read_text()


@pytest.fixture(scope="module")
def collected(document: str) -> set[str]:
    """One collection run over every file the document names, shared by the tests below."""
    return collect(node for row in stride_rows(document) for node in row.node_ids)


def test_every_named_test_exists_and_every_stride_letter_has_a_row(document: str, collected: set[str]) -> None:
    assert problems(document, lambda named: collected) == []
    assert len(stride_rows(document)) >= 6


# -- the checker on bad tables ---------------------------------------------------------------------
HEADER = "| id | threat | boundary | STRIDE | mitigation | test |\n|---|---|---|---|---|---|\n"
REAL = "`tests/unit/test_api_auth.py::test_refusals_say_why_without_the_token`"  # parametrized


def table(*rows: str) -> str:
    return "# Threats\n\n" + HEADER + "\n".join(rows) + "\n\nAfter the table.\n"


def every_letter(test: str = REAL) -> list[str]:
    return [f"| {letter}1 | a threat | HTTP API | {letter} | a mitigation | {test} |" for letter in STRIDE]


def test_a_row_naming_a_test_that_does_not_exist_fails(collected: set[str]) -> None:
    bad = table(
        *every_letter(),
        "| T9 | x | HTTP API | T | y | `tests/unit/test_api_auth.py::test_no_such_test` |",
        "| T8 | x | HTTP API | T | y | `tests/unit/test_no_such_file.py::test_anything` |",
    )
    assert problems(bad, lambda named: collected) == [
        "T9: tests/unit/test_api_auth.py::test_no_such_test is not collected by pytest",
        "T8: tests/unit/test_no_such_file.py::test_anything is not collected by pytest",
    ]


def test_a_good_table_passes_and_a_parametrized_test_matches_by_name(collected: set[str]) -> None:
    assert REAL.strip("`") not in collected  # only its [params] ids are
    assert problems(table(*every_letter()), lambda named: collected) == []


def test_a_missing_letter_an_untested_row_and_a_planned_row_on_a_live_boundary_fail() -> None:
    rows = [row for row in every_letter() if not row.startswith("| E1")]
    rows += [
        "| S7 | x | HTTP API | S | y | planned |",
        "| S8 | x | Stripe webhooks (planned) | S | y | planned |",
        "| S9 | x | HTTP API | S | y | tests/unit/test_api_auth.py::test_without_backticks |",
        "| S0 | x | HTTP API | Q | y | " + REAL + " |",
    ]
    assert problems(table(*rows), lambda named: {REAL.strip("`")}) == [
        "S7: 'planned' is only for a boundary marked (planned)",
        "S9: names no test (`tests/…py::test_…`) and is not planned",
        "S0: STRIDE column 'Q' is not letters of STRIDE",
        "no row for E",
    ]


def test_no_table_is_an_error() -> None:
    with pytest.raises(AssertionError, match="no table"):
        stride_rows("# nothing here\n")
