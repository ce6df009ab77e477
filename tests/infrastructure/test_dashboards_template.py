"""The dashboards in template.yaml: their routes reach the API function, and only the API reads
their signing secret (generated at deploy, never a template value)."""

from __future__ import annotations

import pytest

from tests.infrastructure.test_template import (
    FUNCTION,
    Json,
    environments,
    props,
    ref_target,
    resources,
    template,
    transformed,
    walk,
)

pytestmark = pytest.mark.template
__all__ = ["template", "transformed"]  # the fixtures, shared with test_template.py
SECRET = "DashboardSigningSecret"


def test_the_dashboard_routes_go_to_the_api_function_without_an_authorizer(template: dict[str, Json]) -> None:
    events = props(template["Resources"]["ApiFunction"])["Events"]
    routes = {
        (e["Properties"]["Method"], e["Properties"]["Path"]): e["Properties"]
        for e in events.values()
        if e["Type"] == "HttpApi" and ref_target(e["Properties"]["ApiId"]) == "DownbeatHttpApi"
    }
    for route in (("GET", "/v1/dashboards/embed"), ("GET", "/v1/dashboards/assets/{name}")):
        assert route in routes, route
        assert routes[route]["PayloadFormatVersion"] == "2.0"
        assert "Auth" not in routes[route], "the function checks the link's signature itself"
    assert "Auth" not in props(template["Resources"]["DownbeatHttpApi"])


def test_the_signing_secret_is_generated_and_read_by_the_api_alone(
    template: dict[str, Json], transformed: dict[str, Json]
) -> None:
    secret = props(template["Resources"][SECRET])
    assert template["Resources"][SECRET]["Type"] == "AWS::SecretsManager::Secret"
    assert secret["GenerateSecretString"]["PasswordLength"] >= 32
    assert "SecretString" not in secret
    variables = environments(template)
    assert ref_target(variables["ApiFunction"]["DASHBOARD_SIGNING_SECRET_NAME"]) == SECRET
    assert ref_target(variables["ApiFunction"]["DASHBOARD_FRAME_ANCESTORS"]) == "DashboardFrameAncestors"
    assert template["Parameters"]["DashboardFrameAncestors"]["Default"] == "'self'"
    readers = {
        lid.removesuffix("Role")
        for lid, role in resources(transformed, "AWS::IAM::Role").items()
        if any(ref_target(node) == SECRET for node in walk(props(role).get("Policies", [])))
    }
    assert readers == {"ApiFunction"}
    assert set(resources(template, FUNCTION)) >= readers
