"""Route families load with their first request, and each family's pattern covers exactly its paths."""

from __future__ import annotations

import importlib
import json
import re

import pytest

from shared.api import product_routes, routes
from shared.api.app import ROUTE_FAMILIES, openapi_json
from tests.fresh_interpreter import fresh_stdout


def _paths(module_name: str) -> list[str]:
    """Each route's path with its parameters filled in, as a request would send it."""
    module = importlib.import_module(module_name)
    return sorted({re.sub(r"<[^>]+>", "x_1", key[0]) for key in module.router._routes})


@pytest.mark.parametrize("family", sorted(ROUTE_FAMILIES))
def test_a_familys_pattern_matches_each_of_its_paths(family: str) -> None:
    paths = _paths(family)
    assert paths
    assert [path for path in paths if not ROUTE_FAMILIES[family].fullmatch(path)] == []


def test_no_eagerly_loaded_path_matches_a_family() -> None:
    eager = [path for module in (routes, product_routes) for path in _paths(module.__name__)]
    assert len(eager) >= 10
    claimed = {path: family for path in eager for family, pattern in ROUTE_FAMILIES.items() if pattern.fullmatch(path)}
    assert claimed == {}


def test_the_openapi_document_has_the_families_paths() -> None:
    documented = set(json.loads(openapi_json())["paths"])
    assert {
        "/v1/contracts/create",
        "/v1/contracts/customerCommits/list",
        "/v1/contracts/customerBalances/list",
        "/v1/dashboards/getEmbeddableUrl",
    } <= documented


def test_a_cold_start_imports_a_family_only_for_its_first_request() -> None:
    probe = (
        "import sys\n"
        "import functions.api.handler\n"
        f"families = {sorted(ROUTE_FAMILIES)!r}\n"
        "print(sorted(name for name in families if name in sys.modules))\n"
        "from shared.api.app import include_route_families\n"
        "include_route_families('/v1/contracts/customerBalances/list')\n"
        "print(sorted(name for name in families if name in sys.modules))\n"
    )
    assert fresh_stdout(probe).splitlines() == ["[]", "['shared.api.ledger_routes']"]
