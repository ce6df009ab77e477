"""`make audit`: pip-audit over the packages the Lambda layer ships, failing closed.

    python tools/audit.py --pip-audit .tools/audit/bin/pip-audit --path SITE_PACKAGES --report FILE

Runs `pip-audit --strict --path SITE_PACKAGES` (the layer's dependencies, installed by
`make audit` as the layer installs them), then reads its JSON report. Exit 0 only when
pip-audit succeeded AND its report names every distribution found in the path, with none
skipped and no vulnerability. Without `--strict`, pip-audit exits 0 when the vulnerability service
cannot answer for a package ("could not be audited"), so an audit that audited nothing would pass;
the completeness check keeps that from ever passing here, whatever pip-audit's defaults become.

Standard library only: this runs with the pip-audit tool virtualenv's Python.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from importlib.metadata import distributions
from pathlib import Path
from typing import Any


def canonical(name: str) -> str:
    """PEP 503 normalised project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def installed(path: str) -> dict[str, str]:
    """Canonical name → version of every distribution in one site-packages directory."""
    return {canonical(d.metadata["Name"]): d.version for d in distributions(path=[path])}


def audit_problems(returncode: int, report: Mapping[str, Any] | None, expected: Mapping[str, str]) -> list[str]:
    """Why this audit does not pass; empty when every expected package was audited and is clean."""
    if not expected:
        return ["no distribution to audit: the path holds no installed package"]
    if report is None:
        return [f"pip-audit exited {returncode} without a report: the audit did not run (its error is above)"]
    problems: list[str] = []
    audited: dict[str, str] = {}
    for dependency in report.get("dependencies", []):
        name = canonical(str(dependency.get("name", "")))
        if "skip_reason" in dependency:
            problems.append(f"{name} was not audited: {dependency['skip_reason']}")
            continue
        audited[name] = str(dependency.get("version"))
        for vuln in dependency.get("vulns", []):
            fixes = ", ".join(vuln.get("fix_versions") or []) or "no fixed release"
            aliases = f" ({', '.join(vuln['aliases'])})" if vuln.get("aliases") else ""
            problems.append(f"{name} {audited[name]}: {vuln.get('id')}{aliases}, fixed in {fixes}")
    for name, version in sorted(expected.items()):
        if name not in audited:
            problems.append(f"{name} {version} is installed but absent from pip-audit's report")
        elif audited[name] != version:
            problems.append(f"{name}: pip-audit audited {audited[name]}, the layer has {version}")
    if returncode != 0 and not problems:
        problems.append(f"pip-audit exited {returncode} although its report shows no finding")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pip-audit", required=True, help="the pip-audit executable")
    parser.add_argument("--path", required=True, help="site-packages directory holding the layer's dependencies")
    parser.add_argument("--report", required=True, type=Path, help="where pip-audit writes its JSON report")
    args = parser.parse_args(argv)

    expected = installed(args.path)
    args.report.unlink(missing_ok=True)
    command = [args.pip_audit, "--strict", "--progress-spinner", "off", "--path", args.path]
    command += ["--format", "json", "--output", str(args.report)]
    returncode = subprocess.run(command, check=False).returncode
    report = json.loads(args.report.read_text()) if args.report.exists() else None
    problems = audit_problems(returncode, report, expected)
    for problem in problems:
        print(f"audit: {problem}", file=sys.stderr)
    if problems:
        where = f"; report: {args.report}" if report is not None else ""
        print(f"audit FAILED ({len(problems)} problem(s)){where}", file=sys.stderr)
        return 1
    print(f"audit passed: {len(expected)} packages, no known vulnerability (report: {args.report})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
