"""checkov on template.yaml: every finding is fixed, or accepted with a reason in tools/checkov-accepted.yaml.

checkov runs from its own virtualenv, .tools/checkov (`make checkov-tool`, which `make test` does
first), never from .venv: it pins an old boto3. `--skip-download` keeps it off the network.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.template

REPO = Path(__file__).resolve().parents[2]
CHECKOV = REPO / ".tools" / "checkov" / "bin" / "checkov"
ACCEPTED = REPO / "tools" / "checkov-accepted.yaml"

Finding = tuple[str, str]  # (check id, "Type.LogicalId")


@dataclass(frozen=True)
class Verdict:
    new: list[str]  # findings nobody accepted: fix them or accept them with a reason
    stale: list[str]  # accepted findings checkov no longer reports: delete their entries
    problems: list[str]  # the run or the accepted list cannot be trusted


def load_accepted(text: str) -> dict[str, dict[str, Any]]:
    data = yaml.safe_load(text) or {}
    assert isinstance(data, dict), "the accepted list is a mapping: check id → {resources, reason}"
    return data


def judge(report: Mapping[str, Any], accepted: Mapping[str, Mapping[str, Any]]) -> Verdict:
    """Compare one checkov JSON report (one framework) with the accepted findings."""
    problems: list[str] = []
    summary = report.get("summary", {})
    results = report.get("results", {})
    if summary.get("parsing_errors") or results.get("parsing_errors"):
        problems.append(f"checkov could not parse: {results.get('parsing_errors')}")
    if not results.get("passed_checks") and not results.get("failed_checks"):
        problems.append("checkov ran no check: it did not see the template's resources")
    for skipped in results.get("skipped_checks", []):
        problems.append(f"inline suppression {skipped['check_id']} on {skipped['resource']}: use {ACCEPTED.name}")

    allowed: set[Finding] = set()
    for check_id, entry in accepted.items():
        reason = str((entry or {}).get("reason", ""))
        if len(reason.split()) < 12:
            problems.append(f"{check_id}: the reason must say why the check does not apply (got {reason!r})")
        resources = (entry or {}).get("resources") or []
        if not resources:
            problems.append(f"{check_id}: name the resources it covers")
        allowed |= {(check_id, str(resource)) for resource in resources}

    # `<Type>.*` covers every resource of that type: a check that is accepted for the same reason on
    # every function (VPC, reserved concurrency…) needs no new line when a function is added.
    def covered(finding: Finding) -> bool:
        check_id, resource = finding
        return finding in allowed or (check_id, resource.split(".", 1)[0] + ".*") in allowed

    failed = {(c["check_id"], c["resource"]): c for c in results.get("failed_checks", [])}
    new = [
        f"{check_id} {resource}: {failed[(check_id, resource)].get('check_name')}"
        for check_id, resource in sorted(finding for finding in failed if not covered(finding))
    ]
    stale = [
        f"{check_id} {resource}"
        for check_id, resource in sorted(allowed)
        if not any(
            found_id == check_id and (found == resource or found.split(".", 1)[0] + ".*" == resource)
            for found_id, found in failed
        )
    ]
    return Verdict(new, stale, problems)


def run_checkov() -> dict[str, Any]:
    assert CHECKOV.exists(), f"{CHECKOV.relative_to(REPO)} is missing: run `make checkov-tool` (make test does)"
    command = [str(CHECKOV), "--file", "template.yaml", "--framework", "cloudformation"]
    command += ["--skip-download", "--output", "json", "--soft-fail"]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    report = json.loads(result.stdout)
    assert isinstance(report, dict), "one framework was asked for, so checkov answers with one report"
    return report


def test_checkov_reports_only_accepted_findings() -> None:
    report = run_checkov()
    assert report["check_type"] == "cloudformation"
    verdict = judge(report, load_accepted(ACCEPTED.read_text()))
    assert not verdict.problems, verdict.problems
    assert not verdict.new, f"new checkov findings: fix them in template.yaml or accept them in {ACCEPTED.name}"
    assert not verdict.stale, f"accepted in {ACCEPTED.name} but no longer reported: delete them {verdict.stale}"


# -- judge, on made-up reports ---------------------------------------------------------------------
def report(*failed: Finding, passed: int = 1, skipped: tuple[Finding, ...] = ()) -> dict[str, Any]:
    def check(finding: Finding) -> dict[str, str]:
        return {"check_id": finding[0], "resource": finding[1], "check_name": "a check"}

    return {
        "summary": {"parsing_errors": 0},
        "results": {
            "passed_checks": [check(("CKV_AWS_28", "AWS::DynamoDB::Table.T"))] * passed,
            "failed_checks": [check(f) for f in failed],
            "skipped_checks": [check(f) for f in skipped],
            "parsing_errors": [],
        },
    }


REASON = "the check asks for a setting this resource cannot use, for reasons given in full here"
VPC = ("CKV_AWS_117", "AWS::Serverless::Function.A")


def test_judge_accepts_exactly_the_listed_findings() -> None:
    verdict = judge(report(VPC), {"CKV_AWS_117": {"resources": [VPC[1]], "reason": REASON}})
    assert verdict == Verdict([], [], [])


def test_judge_names_a_new_finding_even_of_an_accepted_check_on_another_resource() -> None:
    other = ("CKV_AWS_117", "AWS::Serverless::Function.B")
    verdict = judge(report(VPC, other), {"CKV_AWS_117": {"resources": [VPC[1]], "reason": REASON}})
    assert verdict.new == ["CKV_AWS_117 AWS::Serverless::Function.B: a check"]


def test_judge_names_stale_entries_short_reasons_and_inline_skips() -> None:
    verdict = judge(
        report(skipped=(VPC,)),
        {
            "CKV_AWS_117": {"resources": [VPC[1]], "reason": REASON},
            "CKV_AWS_115": {"resources": ["X.Y"], "reason": "n/a"},
        },
    )
    assert verdict.stale == ["CKV_AWS_115 X.Y", "CKV_AWS_117 AWS::Serverless::Function.A"]
    assert any("CKV_AWS_115: the reason" in p for p in verdict.problems)
    assert any("inline suppression CKV_AWS_117" in p for p in verdict.problems)


def test_a_type_wildcard_covers_every_resource_of_that_type_and_goes_stale_when_none_fails() -> None:
    lambda_a = ("CKV_AWS_117", "AWS::Serverless::Function.A")
    lambda_b = ("CKV_AWS_117", "AWS::Serverless::Function.B")
    accepted = {"CKV_AWS_117": {"resources": ["AWS::Serverless::Function.*"], "reason": REASON}}
    assert judge(report(lambda_a, lambda_b), accepted) == Verdict([], [], [])
    other_type = ("CKV_AWS_117", "AWS::Lambda::Function.C")
    assert judge(report(lambda_a, other_type), accepted).new == [f"{other_type[0]} {other_type[1]}: a check"]
    assert judge(report(other_type), accepted).stale == ["CKV_AWS_117 AWS::Serverless::Function.*"]


def test_judge_refuses_a_run_that_checked_nothing() -> None:
    assert judge(report(passed=0), {}).problems == ["checkov ran no check: it did not see the template's resources"]
