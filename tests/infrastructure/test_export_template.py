"""The data export in template.yaml: a private, encrypted, TLS-only, versioned bucket whose
superseded runs expire; a daily schedule with retries and a DLQ; a role that reaches that bucket
only, with the few actions the export calls; pyarrow in that function's artifact alone."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shared.domain.data_export import SUPERSEDED_TAG
from tests.infrastructure.test_template import (
    FUNCTION,
    Json,
    getatt_target,
    props,
    ref_target,
    resources,
    template,
    transformed,
    walk,
)

pytestmark = pytest.mark.template
__all__ = ["template", "transformed"]  # the fixtures, shared with test_template.py
REPO = Path(__file__).resolve().parents[2]
BUCKET = "ExportBucket"
EXPORT = "DataExportFunction"


def test_the_bucket_is_private_encrypted_versioned_and_kept(template: dict[str, Json]) -> None:
    resource = template["Resources"][BUCKET]
    bucket = props(resource)
    assert resource["Type"] == "AWS::S3::Bucket"
    assert resource["DeletionPolicy"] == resource["UpdateReplacePolicy"] == "Retain"
    [rule] = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}
    assert bucket["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
    )
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}


def test_only_superseded_runs_expire_and_old_versions_do_not_pile_up(template: dict[str, Json]) -> None:
    rules = props(template["Resources"][BUCKET])["LifecycleConfiguration"]["Rules"]
    expiring = [rule for rule in rules if "ExpirationInDays" in rule]
    # The one rule that expires current objects is the tag the export puts on other runs' files:
    # the export a manifest names never expires.
    assert len(expiring) == 1
    [superseded] = expiring
    assert superseded["Status"] == "Enabled"
    assert superseded["TagFilters"] == [{"Key": SUPERSEDED_TAG[0], "Value": SUPERSEDED_TAG[1]}]
    assert "Prefix" not in superseded
    assert 1 <= superseded["ExpirationInDays"] <= 30  # a reader of the previous manifest has days to finish
    [versions] = [rule for rule in rules if "NoncurrentVersionExpiration" in rule]
    assert versions["Status"] == "Enabled"
    assert versions["NoncurrentVersionExpiration"]["NoncurrentDays"] >= 7


def test_the_bucket_refuses_every_request_without_tls(template: dict[str, Json]) -> None:
    [policy] = [
        props(r)
        for r in resources(template, "AWS::S3::BucketPolicy").values()
        if ref_target(props(r)["Bucket"]) == BUCKET
    ]
    [statement] = policy["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Principal"] == "*"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    covered = {str(getatt_target(r) or r) for r in statement["Resource"]}
    assert str((BUCKET, "Arn")) in covered
    assert any("/*" in str(r) for r in statement["Resource"])


def _s3_statements(role: dict[str, Json]) -> list[dict[str, Json]]:
    return [
        node
        for node in walk(props(role).get("Policies", []))
        if isinstance(node, dict)
        and "Effect" in node
        and any(
            str(a).startswith("s3:") for a in (node["Action"] if isinstance(node["Action"], list) else [node["Action"]])
        )
    ]


def test_only_the_export_reaches_its_bucket_with_the_actions_it_calls(transformed: dict[str, Json]) -> None:
    roles = resources(transformed, "AWS::IAM::Role")
    reaching = {lid for lid, role in roles.items() if any(BUCKET in str(s["Resource"]) for s in _s3_statements(role))}
    assert reaching == {f"{EXPORT}Role"}
    granted: dict[str, set[str]] = {}
    for statement in _s3_statements(roles[f"{EXPORT}Role"]):
        assert statement["Effect"] == "Allow"
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        granted.setdefault(str(statement["Resource"]), set()).update(actions)
    assert granted == {
        str({"Fn::Sub": "${ExportBucket.Arn}/*"}): {"s3:PutObject", "s3:GetObject", "s3:PutObjectTagging"},
        str({"Fn::GetAtt": [BUCKET, "Arn"]}): {"s3:ListBucket"},
    }


def test_the_export_runs_daily_with_retries_and_a_dlq_and_knows_its_bucket(template: dict[str, Json]) -> None:
    function = props(resources(template, FUNCTION)[EXPORT])
    [schedule] = function["Events"].values()
    assert schedule["Type"] == "ScheduleV2"
    assert re.fullmatch(r"cron\(\d+ \d+ \* \* \? \*\)", schedule["Properties"]["ScheduleExpression"])
    assert schedule["Properties"]["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    assert getatt_target(schedule["Properties"]["DeadLetterConfig"]["Arn"]) == ("DataExportDLQ", "Arn")
    env = function["Environment"]["Variables"]
    assert ref_target(env["EXPORT_BUCKET"]) == BUCKET
    assert ref_target(env["EXPORT_BUCKET_OWNER"]) == "AWS::AccountId"
    assert function["Timeout"] == 900
    assert ref_target(template["Outputs"]["ExportBucketName"]["Value"]) == BUCKET


def test_pyarrow_is_the_export_s_own_dependency_never_the_layer_s() -> None:
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert not [d for d in project["dependencies"] if d.startswith("pyarrow")], "pyarrow would be in every function"
    [dev] = [d for d in project["optional-dependencies"]["dev"] if d.startswith("pyarrow")]
    requirements = (REPO / "functions" / "data_export" / "requirements.txt").read_text().splitlines()
    assert [line for line in requirements if line and not line.startswith("#")] == [dev]  # tested = shipped
    # Nothing the other functions import loads it at module level.
    for path in [*REPO.joinpath("shared").rglob("*.py"), *REPO.joinpath("functions").rglob("*.py")]:
        if path.name == "s3_exports.py":
            continue
        assert not re.search(r"^(import|from) pyarrow", path.read_text(), re.MULTILINE), path
