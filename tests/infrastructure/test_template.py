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
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode

from shared.domain.sync import ROUTER_DLQ, STRIPE_SYNC_DLQ

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


@cache
def load_template() -> dict[str, Json]:
    decoded, matches = decode(str(TEMPLATE))
    assert not matches, [str(m) for m in matches]
    assert isinstance(decoded, dict)
    plain: dict[str, Json] = json.loads(json.dumps(decoded))  # short tags become Fn:: forms
    return plain


@pytest.fixture(scope="module")
def template() -> dict[str, Json]:
    return copy.deepcopy(load_template())


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


def talks_to_stripe(function: dict[str, Json]) -> bool:
    """Whether the template gives the function Stripe's API base (only the Stripe worker needs it)."""
    return "STRIPE_API_BASE" in props(function).get("Environment", {}).get("Variables", {})


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
# is authorized by the Put/Update actions of its items. Kept by hand on purpose: a new function's
# author states here what it may do to the table (set() for nothing), and the test below fails
# until they have (docs/adding-a-function.md).
TABLE_ACTIONS: dict[str, set[str]] = {
    # Queries (alerts, customers, contracts, ledgers, states, spend), invoice statuses, state writes.
    "AlertEvaluatorFunction": {"dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"},
    # The buyer index (Query), its customers and registrations (BatchGetItem), one configuration or
    # registration changed with its audit entry (GetItem; TransactWriteItems as Update and Put).
    "MarketplaceLifecycleFunction": {
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:Query",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
    },
    "DataExportFunction": {"dynamodb:Query", "dynamodb:BatchGetItem"},  # customers, ledgers, invoice statuses
    # Batched per call of 25 and per page: BatchGetItem (customers, claimed leases), BatchWriteItem
    # (record states), TransactWriteItems (checked as its Put and Update items).
    "MarketplaceMeterFunction": {
        "dynamodb:BatchGetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:Query",
    },
    # Reads customers, invoices, sync records, meter outbox entries and usage records.
    "ReconcilerFunction": {"dynamodb:GetItem", "dynamodb:Query"},
    "InvoiceRouterFunction": {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:Query",
        "dynamodb:DeleteItem",
    },
    "StripeSyncFunction": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"},
    # the sync record and handled events: GetItem, and a transaction of a Put and an Update
    "StripeWebhookFunction": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"},
    "WebhookSenderFunction": set(),  # its queue, its DLQ and its secret only, never the table
    "ApiFunction": {
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:Query",
        "dynamodb:ConditionCheckItem",
    },
}


def test_every_function_has_a_table_actions_entry(template: dict[str, Json]) -> None:
    functions = set(resources(template, FUNCTION))
    missing = sorted(functions - set(TABLE_ACTIONS))
    assert not missing, (
        f"no TABLE_ACTIONS entry for {missing} in {Path(__file__).relative_to(REPO)}: add the DynamoDB "
        "actions the function's code calls (set() for none), so its role is checked for least privilege"
    )
    assert not sorted(set(TABLE_ACTIONS) - functions), "TABLE_ACTIONS names functions the template lacks"


def test_each_function_gets_only_the_table_actions_it_calls(
    template: dict[str, Json], transformed: dict[str, Json]
) -> None:
    roles = resources(transformed, "AWS::IAM::Role")
    checked = 0
    for function in resources(template, FUNCTION):
        if function not in TABLE_ACTIONS:
            continue  # test_every_function_has_a_table_actions_entry names it
        expected = TABLE_ACTIONS[function]
        checked += 1
        role = roles[f"{function}Role"]
        granted = {
            action
            for node in walk(props(role).get("Policies", []))
            if isinstance(node, dict) and "Effect" in node
            for action in (node["Action"] if isinstance(node["Action"], list) else [node["Action"]])
            if str(action).startswith("dynamodb:")
        }
        assert granted == expected, f"{function}: table actions {sorted(granted)}, expected {sorted(expected)}"
    assert checked, "no function checked"


def test_functions_use_sam_generated_least_privilege_roles(template: dict[str, Json]) -> None:
    for lid, function in resources(template, FUNCTION).items():
        assert "Role" not in props(function), f"{lid}: use Policies so the checks above see them"


# ------------------------------------------------------------------------------------ secrets, data at rest

SECRET = "AWS::SecretsManager::Secret"
# A variable or parameter named like this carries a credential: it may only name a secret.
SECRETISH_NAME = re.compile(r"SECRET|TOKEN|PASSWORD|KEY", re.IGNORECASE)
# Credential shapes: Stripe secret, restricted and webhook keys, AWS access key ids, PEM keys.
CREDENTIAL_VALUE = re.compile(r"\b(sk|rk)_(live|test)_|\bwhsec_|\bAKIA[0-9A-Z]{16}\b|-----BEGIN [A-Z ]*PRIVATE KEY")


def secret_readers(transformed: dict[str, Json], secret: str) -> set[str]:
    """The functions (logical ids) whose generated role names the secret `secret` in a policy."""
    return {
        lid.removesuffix("Role")
        for lid, role in resources(transformed, "AWS::IAM::Role").items()
        if any(ref_target(node) == secret for node in walk(props(role).get("Policies", [])))
    }


def environments(tpl: dict[str, Json]) -> dict[str, dict[str, Json]]:
    """Function logical id → its variables as Lambda gets them (Globals, then its own)."""
    globals_ = tpl.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    return {
        lid: {**globals_, **props(function).get("Environment", {}).get("Variables", {})}
        for lid, function in resources(tpl, FUNCTION).items()
    }


def secrets_named_by(variables: dict[str, Json], tpl: dict[str, Json]) -> set[str]:
    return {
        target
        for value in variables.values()
        if (target := ref_target(value)) and tpl["Resources"].get(target, {}).get("Type") == SECRET
    }


def test_function_environments_name_secrets_and_never_hold_them(template: dict[str, Json]) -> None:
    named = 0
    for lid, variables in environments(template).items():
        for name, value in variables.items():
            literal = [str(node) for node in walk(value) if isinstance(node, str)]
            assert not [s for s in literal if CREDENTIAL_VALUE.search(s)], f"{lid}: {name} holds a credential"
            if SECRETISH_NAME.search(name):
                target = ref_target(value)
                assert name.endswith("_SECRET_NAME"), f"{lid}: {name} looks like a secret; pass *_SECRET_NAME"
                assert target, f"{lid}: {name} must be !Ref <a Secrets Manager secret>, not {value!r}"
                assert template["Resources"][target]["Type"] == SECRET, f"{lid}: {name} names {target}, not a secret"
                named += 1
    assert named >= 2, "no *_SECRET_NAME variable found: the check is not looking at the right place"
    secretish_parameters = [name for name in template.get("Parameters", {}) if SECRETISH_NAME.search(name)]
    assert not secretish_parameters, f"secrets come from Secrets Manager, not parameters: {secretish_parameters}"
    for lid, secret in resources(template, SECRET).items():
        assert "SecretString" not in props(secret), f"{lid}: a secret's value is never in the template"


def test_each_function_reads_only_its_own_secret(template: dict[str, Json], transformed: dict[str, Json]) -> None:
    roles = resources(transformed, "AWS::IAM::Role")
    for lid, variables in environments(template).items():
        readable: set[str] = set()
        for node in walk(props(roles[f"{lid}Role"]).get("Policies", [])):
            if not (isinstance(node, dict) and "Effect" in node):
                continue
            actions = node["Action"] if isinstance(node["Action"], list) else [node["Action"]]
            if not any(str(action).startswith("secretsmanager:") for action in actions):
                continue
            assert node["Effect"] == "Allow"
            assert [str(a) for a in actions] == ["secretsmanager:GetSecretValue"], f"{lid}: {actions}"
            targets = {target for value in walk(node["Resource"]) if (target := ref_target(value))}
            assert targets, f"{lid}: secretsmanager access to {node['Resource']!r}, not a secret of this template"
            readable |= targets
        assert readable == secrets_named_by(variables, template), f"{lid} can read {sorted(readable)}"


def test_table_and_queues_are_encrypted_at_rest(template: dict[str, Json]) -> None:
    for lid, table in resources(template, "AWS::DynamoDB::Table").items():
        assert props(table).get("SSESpecification", {}).get("SSEEnabled") is True, lid
    queues = resources(template, QUEUE)
    assert queues
    for lid, queue in queues.items():
        assert props(queue).get("SqsManagedSseEnabled") is True or props(queue).get("KmsMasterKeyId"), lid


def test_http_api_is_throttled_and_its_access_log_keeps_no_header(template: dict[str, Json]) -> None:
    for lid, api in resources(template, "AWS::Serverless::HttpApi").items():
        throttling = props(api)["DefaultRouteSettings"]
        assert throttling["ThrottlingBurstLimit"] > 0, lid
        assert throttling["ThrottlingRateLimit"] > 0, lid
        logs = props(api)["AccessLogSettings"]
        target = getatt_target(logs["DestinationArn"])
        assert target, f"{lid}: access logs go to !GetAtt <LogGroup>.Arn"
        assert template["Resources"][target[0]]["Type"] == "AWS::Logs::LogGroup"
        assert props(template["Resources"][target[0]])["RetentionInDays"] >= 365, f"{target[0]}: keep a year"
        fields = json.loads(logs["Format"])
        assert {"requestId", "ip", "routeKey", "status"} <= set(fields), fields
        # $request.* (headers, query string, body) would log the bearer token or paging cursors.
        leaks = [v for v in fields.values() if re.search(r"\$request\.|header|querystring|authorizer", v, re.I)]
        assert not leaks, f"{lid} access log keeps {leaks}"


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


SENDER_MANAGED_RETRIES = {"NotificationsQueue"}


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
        # The webhook sender retries for 72 hours with its own backoff (about 80 receives) and
        # dead-letters the message itself; its queue's count is only a backstop above that.
        limit = 200 if lid in SENDER_MANAGED_RETRIES else 10
        assert 1 <= int(redrive["maxReceiveCount"]) <= limit, f"{lid}: maxReceiveCount out of range"


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


def test_the_stripe_worker_knows_its_queues_max_receive_count(template: dict[str, Json]) -> None:
    """On that receive a failing sync records `failed` with the DLQ: the two numbers must agree,
    or the status says `pending` for a message already dead-lettered (or `failed` too early)."""
    worker = props(template["Resources"]["StripeSyncFunction"])
    [queue_id] = [
        getatt_target(event["Properties"]["Queue"])[0]  # type: ignore[index]
        for event in worker["Events"].values()
        if event["Type"] == "SQS"
    ]
    redrive = props(template["Resources"][queue_id])["RedrivePolicy"]
    assert int(worker["Environment"]["Variables"]["STRIPE_SYNC_MAX_RECEIVES"]) == int(redrive["maxReceiveCount"])


def test_the_stripe_worker_s_concurrency_is_capped_by_a_parameter(template: dict[str, Json]) -> None:
    """A month-end burst drains near Stripe's rate limit only if the worker's concurrency is capped
    (bench/month_end_burst.py); the cap is a parameter so an account with another limit can size it."""
    worker = props(template["Resources"]["StripeSyncFunction"])
    [event] = [event for event in worker["Events"].values() if event["Type"] == "SQS"]
    scaling = event["Properties"]["ScalingConfig"]
    assert scaling == {"MaximumConcurrency": {"Ref": "StripeSyncMaxConcurrency"}}
    parameter = template["Parameters"]["StripeSyncMaxConcurrency"]
    assert parameter["Type"] == "Number"
    assert 2 <= int(parameter["Default"]) <= 1000  # the mapping's own range


def test_sync_status_names_the_template_dead_letter_queues(template: dict[str, Json]) -> None:
    """`dead_letter_queue` in a sync status is the logical id `downbeat dlq list` prints."""
    router = props(template["Resources"]["InvoiceRouterFunction"])
    on_failure = router["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Destination"]
    assert getatt_target(on_failure) == (ROUTER_DLQ, "Arn")
    assert ref_target(template["Globals"]["Function"]["Environment"]["Variables"]["ROUTER_DLQ_URL"]) == ROUTER_DLQ
    stripe_queue = props(template["Resources"]["StripeSyncQueue"])
    assert getatt_target(stripe_queue["RedrivePolicy"]["deadLetterTargetArn"]) == (STRIPE_SYNC_DLQ, "Arn")


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
    return set(re.findall(r"^(build-[A-Za-z0-9%]+)\s*:", MAKEFILE.read_text(), flags=re.MULTILINE))


def make_dry_run(target: str) -> subprocess.CompletedProcess[str]:
    """What `make <target>` would run as `sam build` runs it (ARTIFACTS_DIR set), without running it."""
    return run(["make", "--dry-run", "--no-print-directory", target, "ARTIFACTS_DIR=/artifacts"], timeout=60)


def test_every_function_and_layer_is_built_by_its_makefile_target(template: dict[str, Json]) -> None:
    built = {**resources(template, FUNCTION), **resources(template, LAYER)}
    assert set(resources(template, LAYER)) == {"SharedLayer"}
    for lid, resource in built.items():
        metadata = resource.get("Metadata", {})
        assert metadata.get("BuildMethod") == "makefile", f"{lid}: Metadata.BuildMethod must be makefile"
        # Makefile in the repo root, make runs there; only CodeUri is copied to SAM's scratch dir.
        assert metadata.get("ContextPath") == ".", lid
        assert metadata.get("WorkingDirectory") == ".", lid
    assert template["Resources"]["SharedLayer"]["Metadata"]["BuildArchitecture"] == "arm64"
    assert props(template["Resources"]["SharedLayer"])["ContentUri"] == "shared"
    # Layers have their own targets; every function is built by the one pattern rule.
    assert makefile_targets() == {f"build-{lid}" for lid in resources(template, LAYER)} | {"build-%Function"}


@pytest.mark.parametrize("lid", sorted(resources(load_template(), FUNCTION)))
def test_the_function_rule_copies_the_folder_the_handler_names(lid: str, template: dict[str, Json]) -> None:
    """`build-%Function` finds the folder from the logical id: InvoiceRouterFunction → invoice_router."""
    package = function_package(template["Resources"][lid])
    assert lid.endswith("Function"), f"{lid}: name it {package.title().replace('_', '')}Function"
    result = make_dry_run(f"build-{lid}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"functions/__init__.py functions/{package} " in result.stdout, (
        f"make build-{lid} copies another folder than functions/{package} (the Handler's): name the resource "
        f"{package.title().replace('_', '')}Function\n{result.stdout}"
    )


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
        # Besides its code, only what its own requirements.txt names (pyarrow for data_export).
        own = own_dependencies(package)
        assert top == sorted(["functions", *own]), f"{lid} artifact holds {top}, expected functions + {own}"
        packages = sorted(p.name for p in (artifact / "functions").iterdir() if p.is_dir())
        assert packages == [package], f"{lid} artifact holds other functions: {packages}"
        assert not list(artifact.rglob("__pycache__")), lid
        if not talks_to_stripe(function):
            assert not [p for p in artifact.rglob("*") if "stripe" in p.name.lower()], f"{lid} artifact has stripe"


def own_dependencies(package: str) -> list[str]:
    """The top-level directories a function's requirements.txt adds to its artifact (each
    distribution's package and its .dist-info), from the distributions installed here."""
    from importlib.metadata import distribution

    requirements = REPO / "functions" / package / "requirements.txt"
    if not requirements.is_file():
        return []
    names = [
        re.split(r"[<>=!~ ;\[]", line.strip(), maxsplit=1)[0]
        for line in requirements.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    found = []
    for name in names:
        dist = distribution(name)
        found += [name.replace("-", "_"), f"{dist.metadata['Name'].replace('-', '_')}-{dist.version}.dist-info"]
    return found


@pytest.mark.timeout(900)
def test_sam_build_every_function_fits_lambda_s_unzipped_limit_with_the_layer(
    built: Path, template: dict[str, Json]
) -> None:
    def size(path: Path) -> int:
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())

    layer = size(built / "SharedLayer")
    for lid in resources(template, FUNCTION):
        total = layer + size(built / lid)
        print(f"{lid}: {size(built / lid) / 2**20:.1f} MiB + layer {layer / 2**20:.1f} MiB = {total / 2**20:.1f} MiB")
        # Lambda: 250 MB (262,144,000 bytes) unzipped, function and layers together.
        assert total < 262_144_000, f"{lid} with the layer is {total / 2**20:.0f} MiB unzipped"


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


NON_STRIPE_PACKAGES = sorted(
    function_package(f) for f in resources(load_template(), FUNCTION).values() if not talks_to_stripe(f)
)


@pytest.mark.parametrize("package", NON_STRIPE_PACKAGES)
def test_non_stripe_functions_never_import_stripe(package: str) -> None:
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
