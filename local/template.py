"""Read template.yaml (CloudFormation short tags included) and create its resources on moto.

The local stack and the tests create their AWS resources from the template's own definitions,
so a table key or a queue setting cannot differ between the cloud and here.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

TEMPLATE_PATH = Path(__file__).resolve().parent.parent / "template.yaml"
TABLE_LOGICAL_ID = "DownbeatTable"


class _CloudFormationLoader(yaml.SafeLoader):
    """A SafeLoader that turns `!Ref X` into `{"Ref": "X"}` and `!Sub s` into `{"Fn::Sub": s}`."""


def _construct_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CloudFormationLoader.add_multi_constructor("!", _construct_tag)


@cache
def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        loaded = yaml.load(handle, Loader=_CloudFormationLoader)
    assert isinstance(loaded, dict)
    return loaded


def resource(logical_id: str, template: dict[str, Any] | None = None) -> dict[str, Any]:
    resources: dict[str, Any] = (template or load_template())["Resources"]
    return dict(resources[logical_id])


def create_table(client: DynamoDBClient, table_name: str, logical_id: str = TABLE_LOGICAL_ID) -> None:
    """Create the template's DynamoDB table under `table_name`."""
    properties = resource(logical_id)["Properties"]
    client.create_table(
        TableName=table_name,
        BillingMode=properties.get("BillingMode", "PAY_PER_REQUEST"),
        AttributeDefinitions=properties["AttributeDefinitions"],
        KeySchema=properties["KeySchema"],
        GlobalSecondaryIndexes=properties.get("GlobalSecondaryIndexes", []),
    )
