"""The claim-check bucket in template.yaml: private, encrypted, TLS only, short-lived, and read by
the router alone — only `s3:GetObject`, only on its objects."""

from __future__ import annotations

import pytest

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
BUCKET = "ClaimCheckBucket"


def test_the_bucket_is_private_encrypted_and_expires_its_objects(template: dict[str, Json]) -> None:
    bucket = props(template["Resources"][BUCKET])
    assert template["Resources"][BUCKET]["Type"] == "AWS::S3::Bucket"
    [rule] = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}
    assert bucket["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
    )
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    [expiry] = [r for r in bucket["LifecycleConfiguration"]["Rules"] if "ExpirationInDays" in r]
    assert expiry["Status"] == "Enabled"
    assert 1 <= expiry["ExpirationInDays"] <= 30
    assert "Prefix" not in expiry  # every object, not some
    assert "Filter" not in expiry


def test_the_bucket_refuses_every_request_without_tls(template: dict[str, Json]) -> None:
    policies = [
        props(r)
        for r in resources(template, "AWS::S3::BucketPolicy").values()
        if ref_target(props(r)["Bucket"]) == BUCKET
    ]
    assert len(policies) == 1
    [statement] = [s for s in policies[0]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert statement["Principal"] == "*"
    assert statement["Action"] == "s3:*"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    covered = {str(getatt_target(r) or r) for r in statement["Resource"]}
    assert str((BUCKET, "Arn")) in covered  # the bucket itself
    assert any("/*" in str(r) for r in statement["Resource"])  # and every object
    assert not [s for s in policies[0]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]


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


def _on_claim_checks(statement: dict[str, Json]) -> bool:
    named = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
    return any(BUCKET in str(resource) for resource in named)


def test_only_the_router_reads_claim_checks_and_only_get_object_on_that_bucket(transformed: dict[str, Json]) -> None:
    roles = resources(transformed, "AWS::IAM::Role")
    # Statements on other buckets (the data export's) are tests/infrastructure/test_export_template.py's.
    statements = {lid: [s for s in _s3_statements(role) if _on_claim_checks(s)] for lid, role in roles.items()}
    assert {lid for lid, found in statements.items() if found} == {"InvoiceRouterFunctionRole"}
    [statement] = statements["InvoiceRouterFunctionRole"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "s3:GetObject"
    assert statement["Resource"] == {"Fn::Sub": "${ClaimCheckBucket.Arn}/*"}


def test_the_router_is_told_its_bucket_and_its_owner_and_the_stack_outputs_its_name(
    template: dict[str, Json],
) -> None:
    router = resources(template, FUNCTION)["InvoiceRouterFunction"]
    env = props(router)["Environment"]["Variables"]
    assert ref_target(env["CLAIM_CHECK_BUCKET"]) == BUCKET
    assert ref_target(env["CLAIM_CHECK_BUCKET_OWNER"]) == "AWS::AccountId"
    assert ref_target(template["Outputs"]["ClaimCheckBucketName"]["Value"]) == BUCKET
