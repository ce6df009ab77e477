"""The template's resources on an AWS API (moto), and its intrinsic functions resolved against them.

`downbeat local` and `downbeat invoke` both create what template.yaml declares — table, queues
(with their VisibilityTimeout and RedrivePolicy), secrets, the EventBridge rules of the functions —
from the template's own definitions, so a queue setting or a table key cannot differ between the
cloud and here. Each function's environment is then the template's Globals + the function's
`Environment.Variables`, with `!Ref`/`!GetAtt`/`!Sub` resolved to the local physical resources.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from local.s3_buckets import BUCKET_TYPE, bucket_name, create_bucket
from local.template import create_table, load_template

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_events.client import EventBridgeClient
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_secretsmanager.client import SecretsManagerClient
    from mypy_boto3_sqs.client import SQSClient
    from mypy_boto3_sqs.literals import QueueAttributeNameType

LOCAL_STACK_NAME = "downbeat-local"
LOCAL_ACCOUNT_ID = "123456789012"  # moto's default account
NO_VALUE = object()  # AWS::NoValue: the key is dropped


class TemplateError(ValueError):
    """The template uses something the local stack cannot resolve; the message names it."""


@dataclass(frozen=True)
class PhysicalResource:
    """What `!Ref` and `!GetAtt` give for one logical id."""

    ref: str
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SqsEventSource:
    queue_logical_id: str
    batch_size: int
    report_batch_item_failures: bool
    # The function's role may ChangeMessageVisibility on this queue: the handler spaces its own
    # retries (the webhook sender's backoff), so the local stack's quick-retry shortcut stays off.
    handler_sets_visibility: bool = False


@dataclass(frozen=True)
class EventBridgeRuleSource:
    event_logical_id: str  # the SAM event name, e.g. InvoiceEvents
    bus: Any  # unresolved: a string or an intrinsic
    pattern: Mapping[str, Any]


@dataclass(frozen=True)
class ScheduleSource:
    event_logical_id: str
    expression: str  # rate(...) or cron(...)
    input: str | None  # the target input (JSON text), if the template sets one
    scheduler: bool  # ScheduleV2 (EventBridge Scheduler) rather than an EventBridge rule


@dataclass(frozen=True)
class FunctionSpec:
    """One `AWS::Serverless::Function`, as the local stack needs to drive it."""

    logical_id: str
    handler: str  # functions.<name>.handler.lambda_handler
    timeout_seconds: int
    memory_mb: int
    environment: Mapping[str, Any]  # unresolved: Globals + the function's own variables
    sqs_sources: tuple[SqsEventSource, ...] = ()
    rule_sources: tuple[EventBridgeRuleSource, ...] = ()
    schedules: tuple[ScheduleSource, ...] = ()
    http_api: bool = False
    http_routes: tuple[tuple[str, str], ...] = ()  # (method, path) of each HttpApi event, as written
    async_max_retries: int = 2  # Lambda's default for asynchronous invocations
    on_failure_destination: Any = None  # unresolved ARN of the OnFailure destination, if any

    @property
    def module(self) -> str:
        return self.handler.rsplit(".", 1)[0]

    @property
    def directory_name(self) -> str:
        """`invoice_router` for `functions.invoice_router.handler.lambda_handler`."""
        parts = self.handler.split(".")
        return parts[1] if len(parts) >= 4 and parts[0] == "functions" else self.logical_id

    def physical_name(self, stack_name: str = LOCAL_STACK_NAME) -> str:
        return f"{stack_name}-{self.logical_id}"


def function_specs(template: Mapping[str, Any] | None = None) -> list[FunctionSpec]:
    """Every serverless function of the template, with its event sources, in template order."""
    template = template or load_template()
    globals_function: Mapping[str, Any] = template.get("Globals", {}).get("Function", {})
    global_env: Mapping[str, Any] = globals_function.get("Environment", {}).get("Variables", {})
    specs = []
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        properties: Mapping[str, Any] = resource.get("Properties", {})
        own_env: Mapping[str, Any] = properties.get("Environment", {}).get("Variables", {})
        sqs, rules, schedules, http_api = [], [], [], False
        routes: list[tuple[str, str]] = []
        for event_id, event in properties.get("Events", {}).items():
            kind, event_properties = event.get("Type"), event.get("Properties", {})
            if kind == "SQS":
                queue = event_properties["Queue"]
                if not (isinstance(queue, dict) and "Fn::GetAtt" in queue):
                    raise TemplateError(f"{logical_id}.Events.{event_id}: Queue must be !GetAtt <Queue>.Arn")
                sqs.append(
                    SqsEventSource(
                        queue_logical_id=queue["Fn::GetAtt"][0],
                        batch_size=int(event_properties.get("BatchSize", 10)),
                        report_batch_item_failures="ReportBatchItemFailures"
                        in event_properties.get("FunctionResponseTypes", []),
                        handler_sets_visibility=queue["Fn::GetAtt"][0] in _visibility_queues(properties),
                    )
                )
            elif kind == "EventBridgeRule":
                rules.append(
                    EventBridgeRuleSource(event_id, event_properties.get("EventBusName"), event_properties["Pattern"])
                )
            elif kind in {"Schedule", "ScheduleV2"}:
                expression = event_properties.get("Schedule") or event_properties.get("ScheduleExpression")
                schedules.append(
                    ScheduleSource(event_id, str(expression), event_properties.get("Input"), kind != "Schedule")
                )
            elif kind in {"HttpApi", "Api"}:
                http_api = True
                routes.append(
                    (str(event_properties.get("Method", "ANY")).upper(), str(event_properties.get("Path", "/")))
                )
        invoke_config: Mapping[str, Any] = properties.get("EventInvokeConfig", {})
        on_failure = invoke_config.get("DestinationConfig", {}).get("OnFailure", {})
        specs.append(
            FunctionSpec(
                logical_id=logical_id,
                handler=str(properties.get("Handler", globals_function.get("Handler", ""))),
                timeout_seconds=int(properties.get("Timeout", globals_function.get("Timeout", 3))),
                memory_mb=int(properties.get("MemorySize", globals_function.get("MemorySize", 128))),
                environment={**global_env, **own_env},
                sqs_sources=tuple(sqs),
                rule_sources=tuple(rules),
                schedules=tuple(schedules),
                http_api=http_api,
                http_routes=tuple(routes),
                async_max_retries=int(invoke_config.get("MaximumRetryAttempts", 2)),
                on_failure_destination=on_failure.get("Destination") if on_failure.get("Type") == "SQS" else None,
            )
        )
    return specs


def _visibility_queues(properties: Mapping[str, Any]) -> set[str]:
    """The queues (logical ids) on which the function's own policy statements allow
    sqs:ChangeMessageVisibility, named as `!GetAtt <Queue>.Arn`."""
    queues: set[str] = set()
    for policy in properties.get("Policies", []):
        for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
            actions = statement.get("Action", [])
            if "sqs:ChangeMessageVisibility" not in ([actions] if isinstance(actions, str) else actions):
                continue
            resources = statement.get("Resource", [])
            for resource in resources if isinstance(resources, list) else [resources]:
                if isinstance(resource, dict) and "Fn::GetAtt" in resource:
                    queues.add(str(resource["Fn::GetAtt"][0]))
    return queues


def find_function(name: str, specs: list[FunctionSpec] | None = None) -> FunctionSpec | None:
    """A function by its directory name (`invoice_router`) or logical id (`InvoiceRouterFunction`)."""
    for spec in specs if specs is not None else function_specs():
        if name in {spec.logical_id, spec.directory_name}:
            return spec
    return None


# -- intrinsic functions ----------------------------------------------------------------------------


@dataclass
class Resolver:
    """Resolves `Ref`, `Fn::GetAtt`, `Fn::Sub`, `Fn::Join` and `Fn::If` against local resources."""

    region: str
    resources: dict[str, PhysicalResource]
    parameters: Mapping[str, str]
    conditions: Mapping[str, Any] = field(default_factory=dict)
    stack_name: str = LOCAL_STACK_NAME
    account_id: str = LOCAL_ACCOUNT_ID

    def pseudo(self) -> dict[str, str]:
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::StackName": self.stack_name,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::Partition": "aws",
        }

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [item for item in (self.resolve(v) for v in value) if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self.ref(str(argument))
            if key == "Fn::GetAtt":
                logical_id, attribute = argument if isinstance(argument, list) else str(argument).split(".", 1)
                return self.get_att(logical_id, attribute)
            if key == "Fn::Sub":
                return self.sub(argument)
            if key == "Fn::Join":
                separator, items = argument
                return str(separator).join(str(item) for item in self.resolve(items))
            if key == "Fn::If":
                condition, when_true, when_false = argument
                return self.resolve(when_true if self.condition(condition) else when_false)
            if key.startswith("Fn::"):
                raise TemplateError(f"{key} is not supported by the local stack")
        return {k: r for k, r in ((k, self.resolve(v)) for k, v in value.items()) if r is not NO_VALUE}

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo():
            return self.pseudo()[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.resources:
            return self.resources[name].ref
        raise TemplateError(f"!Ref {name}: not a parameter or a resource the local stack creates")

    def get_att(self, logical_id: str, attribute: str) -> str:
        resource = self.resources.get(logical_id)
        if resource is None or attribute not in resource.attributes:
            raise TemplateError(f"!GetAtt {logical_id}.{attribute}: not available in the local stack")
        return resource.attributes[attribute]

    def sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])
        resolved_variables = {name: self.resolve(v) for name, v in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in resolved_variables:
                return str(resolved_variables[name])
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return self.get_att(logical_id, attribute)
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", replace, str(text))

    def condition(self, name: str) -> bool:
        return bool(self._evaluate(self.conditions[name]))

    def _evaluate(self, expression: Any) -> Any:
        if isinstance(expression, dict) and len(expression) == 1:
            ((key, argument),) = expression.items()
            if key == "Fn::Equals":
                return self.resolve(argument[0]) == self.resolve(argument[1])
            if key == "Fn::Not":
                return not self._evaluate(argument[0])
            if key == "Fn::And":
                return all(self._evaluate(a) for a in argument)
            if key == "Fn::Or":
                return any(self._evaluate(a) for a in argument)
            if key == "Condition":
                return self.condition(str(argument))
        return self.resolve(expression)


def parameter_defaults(template: Mapping[str, Any], overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    values = {name: str(p.get("Default", "")) for name, p in template.get("Parameters", {}).items()}
    values.update(overrides or {})
    return values


# -- creating the resources -------------------------------------------------------------------------


@dataclass(frozen=True)
class AwsClients:
    dynamodb: DynamoDBClient
    sqs: SQSClient
    events: EventBridgeClient
    secretsmanager: SecretsManagerClient
    s3: S3Client


@dataclass(frozen=True)
class QueueInfo:
    logical_id: str
    url: str
    arn: str
    redrive_dlq_logical_id: str | None = None
    max_receive_count: int | None = None


@dataclass
class CreatedResources:
    resolver: Resolver
    queues: dict[str, QueueInfo]  # by logical id
    table_name: str
    secrets: dict[str, str]  # logical id → ARN
    buckets: dict[str, str] = field(default_factory=dict)  # logical id → bucket name

    def queue_by_arn(self, arn: str) -> QueueInfo | None:
        return next((q for q in self.queues.values() if q.arn == arn), None)


def create_resources(
    clients: AwsClients,
    *,
    region: str,
    template: Mapping[str, Any] | None = None,
    parameters: Mapping[str, str] | None = None,
    secret_values: Mapping[str, str] | None = None,
    stack_name: str = LOCAL_STACK_NAME,
) -> CreatedResources:
    """Create the template's table, queues, secrets and buckets; return a resolver bound to them.

    Queues without a redrive policy are created first so a RedrivePolicy's DLQ ARN resolves.
    `secret_values` gives a secret (by logical id) a value, e.g. the local Stripe key.
    """
    template = template or load_template()
    resolver = Resolver(
        region=region,
        resources={},
        parameters=parameter_defaults(template, parameters),
        conditions=template.get("Conditions", {}),
        stack_name=stack_name,
    )
    resources: Mapping[str, Any] = template["Resources"]
    table_name = ""
    for logical_id, resource in resources.items():
        if resource.get("Type") == "AWS::DynamoDB::Table":
            name = f"{stack_name}-{logical_id}"
            create_table(clients.dynamodb, name, logical_id)
            arn = f"arn:aws:dynamodb:{region}:{resolver.account_id}:table/{name}"
            resolver.resources[logical_id] = PhysicalResource(name, {"Arn": arn})
            table_name = table_name or name

    queue_ids = [lid for lid, r in resources.items() if r.get("Type") == "AWS::SQS::Queue"]
    queue_ids.sort(key=lambda lid: "RedrivePolicy" in resources[lid].get("Properties", {}))
    queues: dict[str, QueueInfo] = {}
    for logical_id in queue_ids:
        queues[logical_id] = _create_queue(clients.sqs, logical_id, resources[logical_id], resolver, stack_name)

    secrets: dict[str, str] = {}
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::SecretsManager::Secret":
            continue
        properties = resolver.resolve(resource.get("Properties", {}))
        name = str(properties.get("Name", f"{stack_name}/{logical_id}"))
        value = (secret_values or {}).get(logical_id, f"local-{logical_id}")
        arn = clients.secretsmanager.create_secret(Name=name, SecretString=value)["ARN"]
        resolver.resources[logical_id] = PhysicalResource(arn, {"Id": arn})
        secrets[logical_id] = arn

    buckets: dict[str, str] = {}
    for logical_id, resource in resources.items():
        if resource.get("Type") == BUCKET_TYPE:
            properties = resolver.resolve(resource.get("Properties", {}))
            name = str(properties.get("BucketName") or bucket_name(stack_name, logical_id, resolver.account_id))
            create_bucket(clients.s3, name, properties, region)
            resolver.resources[logical_id] = PhysicalResource(name, {"Arn": f"arn:aws:s3:::{name}"})
            buckets[logical_id] = name
    return CreatedResources(resolver, queues, table_name, secrets, buckets)


def _create_queue(
    sqs: SQSClient, logical_id: str, resource: Mapping[str, Any], resolver: Resolver, stack_name: str
) -> QueueInfo:
    properties = resolver.resolve(resource.get("Properties", {}))
    fifo = bool(properties.get("FifoQueue"))
    name = properties.get("QueueName") or f"{stack_name}-{logical_id}" + (".fifo" if fifo else "")
    attributes: dict[QueueAttributeNameType, str] = {}
    keys: tuple[QueueAttributeNameType, ...] = (
        "VisibilityTimeout",
        "MessageRetentionPeriod",
        "MaximumMessageSize",
        "DelaySeconds",
        "ReceiveMessageWaitTimeSeconds",
    )
    for key in keys:
        if key in properties:
            attributes[key] = str(properties[key])
    if fifo:
        attributes["FifoQueue"] = "true"
    redrive = properties.get("RedrivePolicy")
    dlq_logical_id, max_receive = None, None
    if redrive:
        attributes["RedrivePolicy"] = json.dumps(redrive)
        max_receive = int(redrive["maxReceiveCount"])
        target = resource["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]
        if isinstance(target, dict) and "Fn::GetAtt" in target:
            dlq_logical_id = str(target["Fn::GetAtt"][0])
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = f"arn:aws:sqs:{resolver.region}:{resolver.account_id}:{name}"
    resolver.resources[logical_id] = PhysicalResource(url, {"Arn": arn, "QueueName": name, "QueueUrl": url})
    return QueueInfo(logical_id, url, arn, dlq_logical_id, max_receive)


def resolve_environment(spec: FunctionSpec, resolver: Resolver) -> dict[str, str]:
    """The function's environment as Lambda would set it, from the template alone."""
    resolved = resolver.resolve(dict(spec.environment))
    return {name: str(value) for name, value in resolved.items()}
