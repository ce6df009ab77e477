"""Checks of template.yaml, the Makefile's SAM build targets and the built artifacts.

What is checked and why: docs/decisions/0001-packaging.md. No AWS account is needed: SAM is run
with a region and dummy credentials, and the only network access is pip reaching PyPI during
`sam build` (the layer's aarch64 wheels).
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode

pytestmark = pytest.mark.template

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"
MAKEFILE = REPO / "Makefile"
BIN = Path(sys.executable).parent

FUNCTION = "AWS::Serverless::Function"
LAYER = "AWS::Serverless::LayerVersion"
QUEUE = "AWS::SQS::Queue"
DEFAULT_LAMBDA_TIMEOUT = 3

# AWS managed policies SAM attaches by itself; each lists explicit actions (no wildcard action).
ALLOWED_MANAGED_POLICIES = {
    "service-role/AWSLambdaBasicExecutionRole",  # logs:CreateLogGroup/CreateLogStream/PutLogEvents
    "AWSXrayWriteOnlyAccess",  # xray:PutTraceSegments/PutTelemetryRecords/GetSampling*... (Tracing)
    "service-role/AWSLambdaSQSQueueExecutionRole",  # sqs:ReceiveMessage/DeleteMessage/GetQueueAttributes
}

Json = Any


def sam_env() -> dict[str, str]:
    """Environment for SAM CLI: a region, dummy credentials, no telemetry."""
    return {
        **os.environ,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "SAM_CLI_TELEMETRY": "0",
    }


def tool(name: str) -> str:
    path = BIN / name
    assert path.exists(), f"{name} is not installed next to {sys.executable} (pip install -e '.[dev]')"
    return str(path)


def run(cmd: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=REPO, env=sam_env(), capture_output=True, text=True, timeout=timeout, check=False)


# ------------------------------------------------------------------------------------ loading


@pytest.fixture(scope="module")
def template() -> dict[str, Json]:
    decoded, matches = decode(str(TEMPLATE))
    assert not matches, [str(m) for m in matches]
    assert isinstance(decoded, dict)
    plain: dict[str, Json] = json.loads(json.dumps(decoded))  # short tags become Fn:: forms
    return plain


@pytest.fixture(scope="module")
def transformed(template: dict[str, Json]) -> dict[str, Json]:
    """The template after the SAM transform: what CloudFormation would deploy (roles included)."""
    from samtranslator.translator.transform import transform  # type: ignore[import-untyped]

    raw = copy.deepcopy(template)
    for resource in raw["Resources"].values():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if key in props:  # the transform wants S3 locations; `sam package` would put them there
                props[key] = "s3://bucket/key"

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    old = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
    try:
        result = transform(raw, {}, NoManagedPolicies())
    finally:
        if old is None:
            del os.environ["AWS_DEFAULT_REGION"]
        else:
            os.environ["AWS_DEFAULT_REGION"] = old
    plain: dict[str, Json] = json.loads(json.dumps(result))
    return plain


def resources(tpl: dict[str, Json], type_: str) -> dict[str, dict[str, Json]]:
    return {lid: r for lid, r in tpl["Resources"].items() if r["Type"] == type_}


def props(resource: dict[str, Json]) -> dict[str, Json]:
    value = resource.get("Properties", {})
    assert isinstance(value, dict)
    return value


def getatt_target(value: Json) -> tuple[str, str] | None:
    """(logical id, attribute) of a Fn::GetAtt in either form, else None."""
    if isinstance(value, dict) and set(value) == {"Fn::GetAtt"}:
        target = value["Fn::GetAtt"]
        if isinstance(target, str):
            lid, attr = target.split(".", 1)
            return lid, attr
        return str(target[0]), str(target[1])
    return None


def ref_target(value: Json) -> str | None:
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return str(value["Ref"])
    return None


def function_timeout(tpl: dict[str, Json], function: dict[str, Json]) -> int:
    globals_ = tpl.get("Globals", {}).get("Function", {})
    return int(props(function).get("Timeout", globals_.get("Timeout", DEFAULT_LAMBDA_TIMEOUT)))


def function_package(function: dict[str, Json]) -> str:
    """`functions.<package>.handler.lambda_handler` -> `<package>`."""
    handler = props(function)["Handler"]
    match = re.fullmatch(r"functions\.([a-z_][a-z0-9_]*)\.handler\.lambda_handler", handler)
    assert match, f"handler {handler!r} is not functions.<package>.handler.lambda_handler"
    return match.group(1)


def walk(node: Json) -> Iterator[Json]:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def policy_actions(tpl: dict[str, Json], effect: str = "Allow") -> Iterator[tuple[str, str, Json]]:
    """(resource, key, action) for every Action/NotAction in any policy statement with `effect`."""
    for lid, resource in tpl["Resources"].items():
        for node in walk(resource.get("Properties", {})):
            if isinstance(node, dict) and node.get("Effect") == effect:
                for key in ("Action", "NotAction"):
                    if key in node:
                        actions = node[key] if isinstance(node[key], list) else [node[key]]
                        for action in actions:
                            yield lid, key, action


# ------------------------------------------------------------------------------------ IAM


def test_no_policy_action_is_a_wildcard(template: dict[str, Json], transformed: dict[str, Json]) -> None:
    # Checked after the SAM transform too: policy templates such as SQSSendMessagePolicy expand to
    # `sqs:SendMessage*`, which is why the template grants sqs:SendMessage explicitly. A Deny may
    # use a wildcard (the claim-check bucket's TLS-only statement denies every s3 action over
    # plain HTTP): it grants nothing. NotAction is refused in either.
    found = list(policy_actions(template)) + list(policy_actions(transformed))
    assert found, "no policy statements found: the check is not looking at the right place"
    bad = [(lid, key, action) for lid, key, action in found if key == "NotAction" or "*" in str(action)]
    assert not bad, f"wildcard or NotAction in IAM policies: {bad}"
    denied = list(policy_actions(template, "Deny")) + list(policy_actions(transformed, "Deny"))
    assert not [entry for entry in denied if entry[1] == "NotAction"], f"NotAction in a Deny: {denied}"


def test_roles_attach_only_known_managed_policies(transformed: dict[str, Json]) -> None:
    roles = resources(transformed, "AWS::IAM::Role")
    assert roles
    for lid, role in roles.items():
        for arn in props(role).get("ManagedPolicyArns", []):
            assert isinstance(arn, str), f"{lid}: managed policy ARN must be literal, got {arn}"
            name = arn.split(":policy/", 1)[1]
            assert name in ALLOWED_MANAGED_POLICIES, f"{lid} attaches unexpected managed policy {arn}"


# Table actions each function's code calls (shared/adapters/dynamodb/); TransactWriteItems
# is authorized by the Put/Update actions of its items.
TABLE_ACTIONS = {
    "InvoiceRouterFunction": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"},
    "StripeSyncFunction": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"},
    "ApiFunction": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"},
}


def test_each_function_gets_only_the_table_actions_it_calls(transformed: dict[str, Json]) -> None:
    roles = resources(transformed, "AWS::IAM::Role")
    for function, expected in TABLE_ACTIONS.items():
        role = roles[f"{function}Role"]
        granted = {
            action
            for node in walk(props(role).get("Policies", []))
            if isinstance(node, dict) and "Effect" in node
            for action in (node["Action"] if isinstance(node["Action"], list) else [node["Action"]])
            if str(action).startswith("dynamodb:")
        }
        assert granted == expected, f"{function}: table actions {sorted(granted)}, expected {sorted(expected)}"


def test_functions_use_sam_generated_least_privilege_roles(template: dict[str, Json]) -> None:
    for lid, function in resources(template, FUNCTION).items():
        assert "Role" not in props(function), f"{lid}: use Policies so the checks above see them"


# ------------------------------------------------------------------------------------ queues


def is_dlq(logical_id: str) -> bool:
    return logical_id.endswith("DLQ")


def dead_letter_targets(tpl: dict[str, Json]) -> set[str]:
    """Queues that receive failures: SQS redrive, EventBridge/Scheduler target DLQs, a function's
    DeadLetterQueue, asynchronous-invocation or event-source-mapping OnFailure destinations."""
    targets: set[str] = set()
    for resource in tpl["Resources"].values():
        for node in walk(resource.get("Properties", {})):
            if not isinstance(node, dict):
                continue
            candidates = [node.get("deadLetterTargetArn")]
            for key, field in (
                ("DeadLetterConfig", "Arn"),
                ("DeadLetterQueue", "TargetArn"),
                ("OnFailure", "Destination"),
            ):
                if isinstance(node.get(key), dict):
                    candidates.append(node[key].get(field))
            for candidate in candidates:
                target = getatt_target(candidate)
                if target and target[1] == "Arn":
                    targets.add(target[0])
    return targets & set(resources(tpl, QUEUE))


def test_every_work_queue_redrives_to_a_dlq(template: dict[str, Json]) -> None:
    queues = resources(template, QUEUE)
    work_queues = {lid: q for lid, q in queues.items() if not is_dlq(lid)}
    assert work_queues
    for lid, queue in work_queues.items():
        redrive = props(queue).get("RedrivePolicy")
        assert redrive, f"{lid} has no RedrivePolicy"
        target = getatt_target(redrive.get("deadLetterTargetArn"))
        assert target, f"{lid}: deadLetterTargetArn must be !GetAtt <DLQ>.Arn"
        assert target[1] == "Arn"
        assert target[0] in queues, f"{lid} redrives to {target[0]}, not a queue of this template"
        assert is_dlq(target[0]), f"{lid} redrives to {target[0]}, which is not named *DLQ"
        assert 1 <= int(redrive["maxReceiveCount"]) <= 10, f"{lid}: maxReceiveCount out of range"


def test_every_dlq_receives_failures_keeps_them_long_and_alarms(template: dict[str, Json]) -> None:
    dlqs = {lid: q for lid, q in resources(template, QUEUE).items() if is_dlq(lid)}
    assert dlqs
    targets = dead_letter_targets(template)
    alarmed = {
        getatt_target(dim["Value"])[0]  # type: ignore[index]
        for alarm in resources(template, "AWS::CloudWatch::Alarm").values()
        if props(alarm).get("MetricName") == "ApproximateNumberOfMessagesVisible"
        and props(alarm).get("ComparisonOperator") == "GreaterThanThreshold"
        and float(props(alarm).get("Threshold", -1)) == 0
        for dim in props(alarm).get("Dimensions", [])
        if dim.get("Name") == "QueueName" and getatt_target(dim.get("Value"))
    }
    for lid, dlq in dlqs.items():
        assert lid in targets, f"{lid} is named a DLQ but nothing dead-letters into it"
        assert "RedrivePolicy" not in props(dlq), f"{lid}: a DLQ has no DLQ of its own"
        assert int(props(dlq).get("MessageRetentionPeriod", 0)) == 1209600, f"{lid}: keep 14 days"
        assert lid in alarmed, f"{lid} has no depth alarm (ApproximateNumberOfMessagesVisible > 0)"


def test_visibility_timeout_is_six_times_the_consumer_timeout(template: dict[str, Json]) -> None:
    queues = resources(template, QUEUE)
    consumers = 0
    for fid, function in resources(template, FUNCTION).items():
        for event in props(function).get("Events", {}).values():
            if event["Type"] != "SQS":
                continue
            consumers += 1
            target = getatt_target(event["Properties"]["Queue"])
            assert target, f"{fid}: SQS event must use !GetAtt <Queue>.Arn"
            assert target[0] in queues, f"{fid}: {target[0]} is not a queue of this template"
            visibility = int(props(queues[target[0]]).get("VisibilityTimeout", 30))
            timeout = function_timeout(template, function)
            assert visibility >= 6 * timeout, (
                f"{target[0]} VisibilityTimeout {visibility} < 6 x {fid} Timeout {timeout}"
            )
            assert event["Properties"].get("FunctionResponseTypes") == ["ReportBatchItemFailures"], fid
    assert consumers, "no SQS consumer found"


# ------------------------------------------------------------------------------------ wiring


def test_invoice_router_listens_to_invoice_events(template: dict[str, Json]) -> None:
    router = props(template["Resources"]["InvoiceRouterFunction"])
    rules = [e["Properties"] for e in router["Events"].values() if e["Type"] == "EventBridgeRule"]
    assert len(rules) == 1
    rule = rules[0]
    assert ref_target(rule["EventBusName"]) == "EventBusName"
    assert template["Parameters"]["EventBusName"]["Default"] == "default"
    # every detail-type: the router dead-letters an unknown one rather than a rule dropping it
    assert rule["Pattern"] == {"source": ["downbeat.billing"]}
    assert getatt_target(rule["DeadLetterConfig"]["Arn"]) == ("RouterDLQ", "Arn")
    assert rule["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    on_failure = router["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]
    assert on_failure["Type"] == "SQS"
    assert getatt_target(on_failure["Destination"]) == ("RouterDLQ", "Arn")


def test_api_is_an_http_api_with_payload_v2(template: dict[str, Json]) -> None:
    api = props(template["Resources"]["ApiFunction"])
    assert template["Resources"]["DownbeatHttpApi"]["Type"] == "AWS::Serverless::HttpApi"
    routes = {
        (e["Properties"]["Method"], e["Properties"]["Path"])
        for e in api["Events"].values()
        if e["Type"] == "HttpApi"
        and ref_target(e["Properties"]["ApiId"]) == "DownbeatHttpApi"
        and e["Properties"]["PayloadFormatVersion"] == "2.0"
    }
    assert {("ANY", "/{proxy+}"), ("GET", "/openapi.json")} <= routes


def test_globals_and_function_environment(template: dict[str, Json]) -> None:
    globals_ = template["Globals"]["Function"]
    assert globals_["Runtime"] == "python3.13"
    assert globals_["Architectures"] == ["arm64"]
    assert globals_["Tracing"] == "Active"
    assert [ref_target(layer) for layer in globals_["Layers"]] == ["SharedLayer"]
    env = globals_["Environment"]["Variables"]
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "downbeat"
    assert ref_target(env["TABLE_NAME"]) == "DownbeatTable"
    assert ref_target(env["STRIPE_SYNC_QUEUE_URL"]) == "StripeSyncQueue"
    assert ref_target(env["ROUTER_DLQ_URL"]) == "RouterDLQ"
    for lid, function in resources(template, FUNCTION).items():
        local = props(function).get("Environment", {}).get("Variables", {})
        assert local.get("POWERTOOLS_SERVICE_NAME") == function_package(function), lid


def test_table_keys_indexes_ttl_and_pitr(template: dict[str, Json]) -> None:
    table = props(template["Resources"]["DownbeatTable"])
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert [(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]] == [
        ("PK", "HASH"),
        ("SK", "RANGE"),
    ]
    indexes = {
        gsi["IndexName"]: [k["AttributeName"] for k in gsi["KeySchema"]] for gsi in table["GlobalSecondaryIndexes"]
    }
    assert indexes == {"GSI1": ["GSI1PK", "GSI1SK"], "GSI2": ["GSI2PK", "GSI2SK"]}
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}


# ------------------------------------------------------------------------------------ build setup


def makefile_targets() -> set[str]:
    return set(re.findall(r"^(build-[A-Za-z0-9]+)\s*:", MAKEFILE.read_text(), flags=re.MULTILINE))


def test_every_function_and_layer_is_built_by_its_makefile_target(template: dict[str, Json]) -> None:
    targets = makefile_targets()
    built = {**resources(template, FUNCTION), **resources(template, LAYER)}
    assert set(resources(template, LAYER)) == {"SharedLayer"}
    for lid, resource in built.items():
        metadata = resource.get("Metadata", {})
        assert metadata.get("BuildMethod") == "makefile", f"{lid}: Metadata.BuildMethod must be makefile"
        # Makefile in the repo root, make runs there; only CodeUri is copied to SAM's scratch dir.
        assert metadata.get("ContextPath") == ".", lid
        assert metadata.get("WorkingDirectory") == ".", lid
        assert f"build-{lid}" in targets, f"Makefile has no build-{lid} target"
    assert template["Resources"]["SharedLayer"]["Metadata"]["BuildArchitecture"] == "arm64"
    assert props(template["Resources"]["SharedLayer"])["ContentUri"] == "shared"
    assert targets == {f"build-{lid}" for lid in built}, "Makefile has build targets for no resource"


def test_handlers_and_code_uris_point_at_function_packages(template: dict[str, Json]) -> None:
    for lid, function in resources(template, FUNCTION).items():
        package = function_package(function)
        assert props(function)["CodeUri"] == f"functions/{package}", lid
        assert (REPO / "functions" / package / "handler.py").is_file(), f"functions/{package}/handler.py"


def test_every_function_has_a_sample_event(template: dict[str, Json]) -> None:
    missing = [
        f"events/{function_package(function)}/*.json"
        for function in resources(template, FUNCTION).values()
        if not list((REPO / "events" / function_package(function)).glob("*.json"))
    ]
    assert not missing, f"no sample event: {missing}"


# ------------------------------------------------------------------------------------ tools


def test_cfn_lint_passes() -> None:
    result = run([tool("cfn-lint"), str(TEMPLATE)], timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr


def test_sam_validate_lint_passes() -> None:
    result = run([tool("sam"), "validate", "--lint", "--template", str(TEMPLATE)], timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr


# ------------------------------------------------------------------------------------ sam build


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    build_dir = tmp_path_factory.mktemp("sam") / "build"
    started = time.monotonic()
    result = run([tool("sam"), "build", "--build-dir", str(build_dir), "--template", str(TEMPLATE)], timeout=900)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-6000:]
    print(f"sam build took {elapsed:.1f} s")
    return build_dir


@pytest.mark.timeout(900)
def test_sam_build_layer_has_shared_and_aarch64_wheels(built: Path) -> None:
    python = built / "SharedLayer" / "python"
    assert (python / "shared" / "__init__.py").is_file()
    assert not list(python.rglob("__pycache__")), "bytecode of the build machine's Python shipped"
    core = list((python / "pydantic_core").glob("*.so"))
    assert core, "pydantic_core has no compiled module"
    assert all("cpython-313-aarch64-linux-gnu" in so.name for so in core), core
    foreign = [str(so) for so in python.rglob("*.so") if "x86_64" in so.name or "cpython-311" in so.name]
    assert not foreign, f"compiled for the build machine, not Lambda: {foreign[:5]}"
    for package in ("aws_lambda_powertools", "aws_xray_sdk", "pydantic", "boto3", "stripe", "azure"):
        assert (python / package).is_dir(), f"layer lacks {package}"
    size = sum(f.stat().st_size for f in built.joinpath("SharedLayer").rglob("*") if f.is_file())
    assert size < 200 * 1024 * 1024, f"layer is {size / 2**20:.0f} MiB unzipped (Lambda: 250 MiB total)"


@pytest.mark.timeout(900)
def test_sam_build_functions_hold_only_their_own_code(built: Path, template: dict[str, Json]) -> None:
    for lid, function in resources(template, FUNCTION).items():
        package = function_package(function)
        artifact = built / lid
        assert (artifact / "functions" / "__init__.py").is_file(), lid
        assert (artifact / "functions" / package / "handler.py").is_file(), lid
        top = sorted(p.name for p in artifact.iterdir())
        assert top == ["functions"], f"{lid} artifact holds {top}"
        packages = sorted(p.name for p in (artifact / "functions").iterdir() if p.is_dir())
        assert packages == [package], f"{lid} artifact holds other functions: {packages}"
        assert not list(artifact.rglob("__pycache__")), lid
    router = built / "InvoiceRouterFunction"
    assert not [p for p in router.rglob("*") if "stripe" in p.name.lower()], "router artifact has stripe"


@pytest.mark.timeout(900)
def test_sam_build_template_points_at_artifacts(built: Path) -> None:
    built_template, matches = decode(str(built / "template.yaml"))
    assert not matches
    assert isinstance(built_template, dict)
    for lid, resource in built_template["Resources"].items():
        key = {"AWS::Serverless::Function": "CodeUri", "AWS::Serverless::LayerVersion": "ContentUri"}.get(
            resource["Type"]
        )
        if key:
            assert resource["Properties"][key] == lid, f"{lid} {key} {resource['Properties'][key]}"


# ------------------------------------------------------------------------------------ imports


@pytest.mark.parametrize("package", ["invoice_router", "api"])
def test_non_stripe_functions_never_import_stripe(package: str, template: dict[str, Json]) -> None:
    """Importing the handler (as Lambda does at cold start) must not load the Stripe SDK."""
    env = {
        **sam_env(),
        "TABLE_NAME": "downbeat-test",
        "STRIPE_SYNC_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/000000000000/stripe-sync",
        "ROUTER_DLQ_URL": "https://sqs.us-east-1.amazonaws.com/000000000000/router-dlq",
        "API_TOKEN_SECRET_NAME": "downbeat/api-token",
        "POWERTOOLS_SERVICE_NAME": package,
        "POWERTOOLS_METRICS_NAMESPACE": "downbeat",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    code = (
        f"import sys, functions.{package}.handler as h; "
        "assert callable(h.lambda_handler); "
        "print(sorted(m for m in sys.modules if m == 'stripe' or m.startswith('stripe.')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], check=False, cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert result.stdout.strip() == "[]", f"functions.{package}.handler imports {result.stdout.strip()}"
