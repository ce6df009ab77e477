"""`make audit` fails closed: it passes only when pip-audit audited every layer package and found nothing."""

from __future__ import annotations

from typing import Any

from tools.audit import audit_problems, canonical

LAYER = {"pydantic": "2.14.4", "typing-extensions": "4.16.0"}


def clean(**extra: Any) -> dict[str, Any]:
    return {
        "dependencies": [
            {"name": "pydantic", "version": "2.14.4", "vulns": []},
            {"name": "typing_extensions", "version": "4.16.0", "vulns": []},
            *extra.get("more", []),
        ],
        "fixes": [],
    }


def test_a_complete_clean_report_passes() -> None:
    assert audit_problems(0, clean(), LAYER) == []


def test_no_report_means_the_audit_did_not_run() -> None:
    (problem,) = audit_problems(1, None, LAYER)
    assert "did not run" in problem


def test_a_package_the_service_could_not_answer_for_fails() -> None:
    report = clean()
    report["dependencies"][1] = {
        "name": "typing_extensions",
        "skip_reason": "Dependency not found on PyPI and could not be audited: typing-extensions (4.16.0)",
    }
    problems = audit_problems(0, report, LAYER)
    assert problems[0].startswith("typing-extensions was not audited: Dependency not found on PyPI")
    assert "typing-extensions 4.16.0 is installed but absent from pip-audit's report" in problems


def test_a_package_missing_from_the_report_or_at_another_version_fails() -> None:
    report = clean()
    del report["dependencies"][0]
    assert audit_problems(0, report, {**LAYER, "stripe": "16.1.0"}) == [
        "pydantic 2.14.4 is installed but absent from pip-audit's report",
        "stripe 16.1.0 is installed but absent from pip-audit's report",
    ]
    assert audit_problems(0, clean(), {**LAYER, "pydantic": "2.15.0"}) == [
        "pydantic: pip-audit audited 2.14.4, the layer has 2.15.0"
    ]


def test_a_vulnerability_is_named_with_its_aliases_and_fix() -> None:
    report = clean()
    report["dependencies"][0]["vulns"] = [{"id": "PYSEC-1", "aliases": ["CVE-1"], "fix_versions": ["2.14.5"]}]
    assert audit_problems(1, report, LAYER) == ["pydantic 2.14.4: PYSEC-1 (CVE-1), fixed in 2.14.5"]


def test_a_failed_run_with_a_clean_report_still_fails() -> None:
    assert audit_problems(1, clean(), LAYER) == ["pip-audit exited 1 although its report shows no finding"]


def test_nothing_to_audit_fails() -> None:
    assert audit_problems(0, {"dependencies": []}, {}) != []


def test_names_compare_as_pep_503_names() -> None:
    assert canonical("Typing_Extensions") == canonical("typing.extensions") == "typing-extensions"
