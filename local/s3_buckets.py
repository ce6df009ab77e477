"""The template's S3 buckets on moto, with the settings moto keeps (lifecycle, encryption, public
access block). Bucket policies are left out: moto does not enforce them, and the claim-check
bucket's only statement (TLS only) cannot hold on a loopback http endpoint anyway."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

BUCKET_TYPE = "AWS::S3::Bucket"


def bucket_name(stack_name: str, logical_id: str, account_id: str) -> str:
    """What CloudFormation would call it, minus its random suffix: `<stack>-<logical id>-<account>`."""
    return f"{stack_name}-{logical_id}-{account_id}".lower()


def create_bucket(s3: S3Client, name: str, properties: Mapping[str, Any], region: str) -> None:
    """Create `name` with the template's (resolved) `properties`."""
    location: Any = {"LocationConstraint": region}
    if region == "us-east-1":  # the one region S3 refuses a LocationConstraint for
        s3.create_bucket(Bucket=name)
    else:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration=location)
    encryption = properties.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration")
    if encryption:
        sse: Any = {
            "Rules": [{"ApplyServerSideEncryptionByDefault": r["ServerSideEncryptionByDefault"]} for r in encryption]
        }
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration=sse)
    if "PublicAccessBlockConfiguration" in properties:
        blocked: Any = dict(properties["PublicAccessBlockConfiguration"])
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=blocked)
    if properties.get("VersioningConfiguration", {}).get("Status") == "Enabled":
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    lifecycle: Any = {
        "Rules": [_lifecycle_rule(r) for r in properties.get("LifecycleConfiguration", {}).get("Rules", [])]
    }
    if lifecycle["Rules"]:
        s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration=lifecycle)


def _lifecycle_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    """CloudFormation's lifecycle rule shape → the S3 API's."""
    converted: dict[str, Any] = {"ID": rule.get("Id", "rule"), "Status": rule["Status"], "Filter": _filter(rule)}
    if "ExpirationInDays" in rule:
        converted["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    if "AbortIncompleteMultipartUpload" in rule:
        days = int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])
        converted["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": days}
    if "NoncurrentVersionExpiration" in rule:
        days = int(rule["NoncurrentVersionExpiration"]["NoncurrentDays"])
        converted["NoncurrentVersionExpiration"] = {"NoncurrentDays": days}
    return converted


def _filter(rule: Mapping[str, Any]) -> dict[str, Any]:
    """CloudFormation's `Prefix` and `TagFilters` → the S3 API's `Filter` (`And` when both or several)."""
    prefix = str(rule.get("Prefix", ""))
    tags = [{"Key": str(t["Key"]), "Value": str(t["Value"])} for t in rule.get("TagFilters", [])]
    if not tags:
        return {"Prefix": prefix}
    if len(tags) == 1 and not prefix:
        return {"Tag": tags[0]}
    return {"And": {"Prefix": prefix, "Tags": tags}}
