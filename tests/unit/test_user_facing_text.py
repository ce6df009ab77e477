"""What users read never cites the design handbook, which they do not have: it states the rule or links docs/.

Checked: every `downbeat` command's --help, the OpenAPI document the API serves, and the
repository's documentation (README.md, SECURITY.md, local/README.md, docs/).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest

from local.cli import build_parser
from shared.api.app import openapi_json

REPO = Path(__file__).resolve().parents[2]
CITATION = re.compile(r"DESIGN(\.md)?|§")
DOCUMENTS = sorted(
    [REPO / "README.md", REPO / "SECURITY.md", REPO / "local" / "README.md", *(REPO / "docs").rglob("*.md")]
)


def every_parser(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found.extend(every_parser(child))
    return found


def test_no_help_text_cites_the_handbook() -> None:
    parsers = every_parser(build_parser())
    assert {p.prog for p in parsers} >= {"downbeat local", "downbeat send-event", "downbeat dlq list", "downbeat sync"}
    cited = {p.prog: CITATION.findall(p.format_help()) for p in parsers}
    assert not {prog: found for prog, found in cited.items() if found}


def test_the_openapi_document_cites_no_handbook() -> None:
    text = json.dumps(json.loads(openapi_json()), ensure_ascii=False)
    assert not [m.group(0) for m in re.finditer(r".{0,60}(DESIGN|§).{0,60}", text)]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(REPO)))
def test_no_document_cites_the_handbook(document: Path) -> None:
    lines = [
        f"{number}: {line.strip()}"
        for number, line in enumerate(document.read_text(encoding="utf-8").splitlines(), start=1)
        if CITATION.search(line)
    ]
    assert not lines, "state the rule, or link the page in docs/ that states it"
