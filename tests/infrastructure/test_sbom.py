"""The SBOM (`make sbom`, build/sbom.cdx.json) lists what the Lambda layer ships, each with its version.

`make sbom` installs the `[project] dependencies` of pyproject.toml into build/runtime-env as
build-SharedLayer installs them (manylinux aarch64 wheels for CPython 3.13), then has
`cyclonedx-py environment` describe that environment. `make test` makes the SBOM first; run
`make sbom` before running this file alone. The closure is recomputed here from the installed
packages' own metadata, with their markers evaluated for Lambda, so an SBOM missing a transitive
dependency (or listing a package of this machine's) fails.
"""

from __future__ import annotations

import json
import tomllib
from collections import deque
from importlib.metadata import Distribution, distributions
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
SBOM = REPO / "build" / "sbom.cdx.json"
RUNTIME_ENV = REPO / "build" / "runtime-env"

# The layer's interpreter and platform (Makefile LAYER_PIP_FLAGS, template.yaml Globals).
LAMBDA_MARKERS = {
    "python_version": "3.13",
    "python_full_version": "3.13.0",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "aarch64",
    "os_name": "posix",
}


def runtime_requirements() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return [Requirement(line) for line in project["dependencies"]]


@pytest.fixture(scope="module")
def sbom() -> dict[str, Any]:
    assert SBOM.exists(), "build/sbom.cdx.json is missing: run `make sbom` (make test does)"
    document: dict[str, Any] = json.loads(SBOM.read_text())
    return document


@pytest.fixture(scope="module")
def components(sbom: dict[str, Any]) -> dict[str, str]:
    """Canonical name → version of every library the SBOM lists."""
    listed: dict[str, str] = {canonicalize_name(c["name"]): str(c.get("version", "")) for c in sbom["components"]}
    assert len(listed) == len(sbom["components"]), "a package is listed twice"
    return listed


@pytest.fixture(scope="module")
def installed() -> dict[str, Distribution]:
    sites = list(RUNTIME_ENV.glob("lib/python*/site-packages"))
    assert len(sites) == 1, f"build/runtime-env is missing or odd ({sites}): run `make sbom`"
    packages = distributions(path=[str(sites[0])])
    found: dict[str, Distribution] = {canonicalize_name(d.metadata["Name"]): d for d in packages}
    assert found, "build/runtime-env holds no package"
    return found


def test_sbom_is_cyclonedx_with_downbeat_as_its_root(sbom: dict[str, Any]) -> None:
    assert sbom["bomFormat"] == "CycloneDX"
    assert sbom["specVersion"].startswith("1.")
    root = sbom["metadata"]["component"]
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert (root["name"], root["version"]) == (project["name"], project["version"])


def test_sbom_lists_every_runtime_dependency_with_its_version(components: dict[str, str]) -> None:
    requirements = runtime_requirements()
    assert len(requirements) >= 6, "pyproject.toml's [project] dependencies were not read"
    for requirement in requirements:
        name = canonicalize_name(requirement.name)
        assert name in components, f"{requirement} is not in the SBOM (stale? run `make sbom`)"
        version = components[name]
        assert version, f"{name} has no version in the SBOM"
        assert Version(version) in requirement.specifier, f"{name} {version} does not satisfy {requirement}"


def test_sbom_lists_the_transitive_closure_as_installed_for_lambda(
    components: dict[str, str], installed: dict[str, Distribution]
) -> None:
    needed: dict[str, str] = {}
    queue = deque((canonicalize_name(r.name), frozenset(r.extras)) for r in runtime_requirements())
    seen: set[tuple[str, frozenset[str]]] = set()
    while queue:
        name, extras = queue.popleft()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        assert name in installed, f"{name} is required but was not installed for the layer"
        needed[name] = installed[name].version
        for line in installed[name].requires or []:
            requirement = Requirement(line)
            wanted = any(
                requirement.marker is None or requirement.marker.evaluate({**LAMBDA_MARKERS, "extra": extra})
                for extra in (extras or {""})
            )
            if wanted:
                queue.append((canonicalize_name(requirement.name), frozenset(requirement.extras)))
    assert "botocore" in needed, "boto3's own dependencies were not followed"
    assert "aws-xray-sdk" in needed, "aws-lambda-powertools[tracer] was followed without its extra"
    assert components == needed, "the SBOM and the layer's dependency closure differ"
