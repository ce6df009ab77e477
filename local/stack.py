"""`downbeat local`: the whole template running in one process on an embedded moto server.

    with LocalStack(StackOptions(port=0)) as stack:
        stack.url            # http://127.0.0.1:PORT — the API and the CLI's /_local/ endpoints

What it does, in order: start moto's ThreadedMotoServer on a free loopback port; point this
process's boto3 at it for our own services only (`AWS_ENDPOINT_URL_DYNAMODB`, `_SQS`,
`_EVENTBRIDGE`, `_S3`, `_SECRETS_MANAGER`, `_SCHEDULER` — never the global `AWS_ENDPOINT_URL`, so
the marketplace metering endpoint stays the user's to set); create the template's resources; give
the functions the environment the template gives them (Globals + their own variables, intrinsics
resolved locally); start the provider doubles the functions need (local/doubles.py: the Stripe
double unless `STRIPE_API_BASE` is set); then drive the functions as Lambda would (see
local/pollers.py) and serve the API (local/http_server.py).

moto keeps one state per process: a stack starts from an empty AWS (it resets moto), and two
stacks must not run in one process at the same time.

All functions share this process, so their variables are merged into one `os.environ`; the only
variable that differs between functions, POWERTOOLS_SERVICE_NAME, is set to `downbeat-local`.
`GET /_local/env/<function>` still gives each function's exact settings, without its secrets
(local/secret_variables.py decides which those are). `stop()` restores every variable it changed.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import secrets
import threading
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Self, cast

import boto3

from local.doubles import DoubleOptions, Providers, start_doubles
from local.event_limits import over_the_limit, put_events_entry
from local.http_server import LOCAL_API_TOKEN, REQUEST_TIMEOUT_SECONDS, ControlError, LocalHttpServer, ServerLimits
from local.lambda_runtime import Handler, HandlerMissing, context_for, handler_exists, load_handler
from local.moto_server import LocalMotoServer
from local.pollers import (
    EventBridgeDelivery,
    ScheduleRunner,
    SqsEventSourcePoller,
    rate_seconds,
    scheduled_event,
)
from local.redrive import redrive
from local.resources import (
    LOCAL_ACCOUNT_ID,
    LOCAL_STACK_NAME,
    AwsClients,
    CreatedResources,
    FunctionSpec,
    QueueInfo,
    create_resources,
    find_function,
    function_specs,
    resolve_environment,
)
from local.secret_variables import is_secret_name, split_environment
from local.template import load_template
from shared.domain.sync import reason_line

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient
    from mypy_boto3_sqs.literals import QueueAttributeNameType
    from mypy_boto3_sqs.type_defs import MessageTypeDef

    from local.aws_metering_double import AwsMeteringDouble
    from local.azure_marketplace_double import AzureMarketplaceDouble
    from local.stripe_double import StripeDouble
    from local.webhook_receiver import LocalWebhookReceiver

log = logging.getLogger("downbeat.local")

# boto3's service-specific endpoint variables (AWS_ENDPOINT_URL_<serviceId upper, spaces → _>).
OWN_SERVICE_ENDPOINTS = (
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_SQS",
    "AWS_ENDPOINT_URL_EVENTBRIDGE",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    "AWS_ENDPOINT_URL_SCHEDULER",
)
# Provider endpoints and keys: a variable the user has set always wins over the local default.
PROVIDER_VARIABLES = (
    "STRIPE_API_BASE",
    "STRIPE_API_KEY",
    "AZURE_METERING_BASE_URL",
    "AZURE_FULFILLMENT_BASE_URL",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_AUTHORITY_HOST",
    "WEBHOOK_URL",
    "WEBHOOK_SECRET",
    "DOWNBEAT_API_TOKEN",
    "DASHBOARD_SIGNING_SECRET",
    "REQUESTS_CA_BUNDLE",
    "SSL_CERT_FILE",
)
AZURE_URL_VARIABLES = ("AZURE_METERING_BASE_URL", "AZURE_FULFILLMENT_BASE_URL")
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
SHARED_SERVICE_NAME = "downbeat-local"


@dataclass
class StackOptions:
    port: int = 8787
    # Local shortcut: a failed SQS record is visible again after this many seconds, not the
    # queue's VisibilityTimeout (360 s for the Stripe queue). Redrive still needs maxReceiveCount.
    retry_visibility_seconds: int = 2
    # Local shortcut: Lambda retries a failed asynchronous invocation after ~1 and ~2 minutes.
    async_retry_delay_seconds: float = 0.5
    poll_wait_seconds: int = 1  # long-poll wait; bounds how long stop() takes
    run_schedules: bool = True
    stripe_customers: Sequence[str] = ()  # seeded into the Stripe double
    seed_demo_data: bool = False  # the demo customers and contracts, loaded before anything is served
    # How long one HTTP request may take to arrive (408 after), and an idle connection stay open.
    http_timeout_seconds: float = REQUEST_TIMEOUT_SECONDS
    environ: Mapping[str, str] | None = None  # the user's environment (default: os.environ at start)


@dataclass
class _FunctionRuntime:
    spec: FunctionSpec
    environment: dict[str, str]
    available: bool
    threads: list[Any] = field(default_factory=list)


class LocalStack:
    def __init__(self, options: StackOptions | None = None, template: Mapping[str, Any] | None = None) -> None:
        self.options = options or StackOptions()
        self._template = template or load_template()
        self._moto: LocalMotoServer | None = None
        self._http: LocalHttpServer | None = None
        self._doubles = contextlib.ExitStack()
        self._providers: Providers | None = None
        self._saved_environ: dict[str, str | None] = {}
        self._functions: dict[str, _FunctionRuntime] = {}
        self._handlers: dict[str, Handler] = {}
        self._handler_lock = threading.Lock()
        self._dlq_lock = threading.Lock()
        self._last_errors: dict[str, str] = {}
        self._extra_dead_letter_queues: dict[str, QueueInfo] = {}  # DLQ logical id → queue
        self._extra_sources: dict[str, QueueInfo] = {}  # DLQ logical id → its source queue
        self._threads: list[Any] = []
        self._rules: list[tuple[str, str, dict[str, Any]]] = []  # (function, bus, pattern) on the local bus
        self._secret_values: list[str] = []  # what the stack's secrets hold: never served
        self.resources: CreatedResources | None = None
        self.region = "us-east-1"
        self.moto_url = ""
        self.bus_name = "default"
        self.api_token = ""

    # -- lifecycle -------------------------------------------------------------------------------------

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._http is None:
            raise RuntimeError("the local stack is not started")
        return self._http.url

    @property
    def table_name(self) -> str:
        if self.resources is None:
            raise RuntimeError("the local stack is not started")
        return self.resources.table_name

    @property
    def stripe(self) -> StripeDouble | None:
        """The built-in Stripe double, when STRIPE_API_BASE was unset at start."""
        double = self._providers.running.get("Stripe") if self._providers else None
        return cast("StripeDouble | None", double)

    @property
    def aws_marketplace(self) -> AwsMeteringDouble | None:
        """The built-in AWS Marketplace double (metering and ResolveCustomer), when
        AWS_ENDPOINT_URL_MARKETPLACE_METERING was unset at start."""
        double = self._providers.running.get("AWS Marketplace Metering") if self._providers else None
        return cast("AwsMeteringDouble | None", double)

    @property
    def azure(self) -> AzureMarketplaceDouble | None:
        """The built-in Azure Marketplace double (metering, fulfillment, the Entra issuer), when
        AZURE_METERING_BASE_URL or AZURE_FULFILLMENT_BASE_URL was unset at start."""
        double = self._providers.running.get("Azure Marketplace") if self._providers else None
        return cast("AzureMarketplaceDouble | None", double)

    @property
    def webhook_receiver(self) -> LocalWebhookReceiver | None:
        """The built-in alert webhook receiver, when WEBHOOK_URL was unset at start."""
        double = self._providers.running.get("Webhook receiver") if self._providers else None
        return cast("LocalWebhookReceiver | None", double)

    def start(self) -> Self:
        """Start everything; a start that fails (the port taken) stops what it had started."""
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> Self:
        user_env = dict(self.options.environ if self.options.environ is not None else os.environ)
        self.region = user_env.get("AWS_REGION") or user_env.get("AWS_DEFAULT_REGION") or "us-east-1"
        self.bus_name = user_env.get("EVENT_BUS_NAME") or "default"
        self._moto = LocalMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._moto.start()
        host, port = self._moto.get_host_and_port()
        self.moto_url = f"http://{host}:{port}"
        self._reset_moto()
        self.clients = self._clients()
        specs = function_specs(self._template)
        doubles = self._providers = self._start_doubles(user_env, specs)
        provider = self._provider_values(user_env, doubles)
        self.api_token = provider["DOWNBEAT_API_TOKEN"]  # what API clients of this stack send (never logged)
        overrides = {"EventBusName": self.bus_name, **doubles.parameter_overrides(specs)}
        if user_env.get("LOG_LEVEL"):
            overrides["LogLevel"] = user_env["LOG_LEVEL"]
        secret_values = {
            **doubles.secret_values(),
            "ApiTokenSecret": provider["DOWNBEAT_API_TOKEN"],
            "DashboardSigningSecret": provider["DASHBOARD_SIGNING_SECRET"],
        }
        self._secret_values = list(secret_values.values())
        self.resources = create_resources(
            self.clients,
            region=self.region,
            template=self._template,
            parameters=overrides,
            secret_values=secret_values,
        )
        base = self._base_environment(user_env)
        for spec in specs:
            env = {
                **base,
                **resolve_environment(spec, self.resources.resolver),
                **self._provider_env(spec, provider, doubles),
            }
            self._functions[spec.logical_id] = _FunctionRuntime(spec, env, handler_exists(spec))
        self._install_environment()
        self._reset_bootstrap()
        if self.options.seed_demo_data:
            self.seed_demo_data()
        self._load_handlers()
        self._start_event_sources()
        limits = ServerLimits(timeout_seconds=self.options.http_timeout_seconds)
        self._http = LocalHttpServer(self, self.options.port, token=self.api_token, limits=limits)
        self._http.start()
        if self.stripe is not None:  # the double's webhooks come to this stack, signed as it verifies them
            self.stripe.configure_webhooks(f"{self.url}/v1/webhooks/stripe", provider.get("STRIPE_WEBHOOK_SECRET"))
        token_source = "DOWNBEAT_API_TOKEN" if user_env.get("DOWNBEAT_API_TOKEN") else "the built-in local token"
        log.info("local stack: API %s, moto %s, API token from %s", self.url, self.moto_url, token_source)
        return self

    def stop(self) -> None:
        for thread in self._threads:
            thread.stopping.set()
        if self._http is not None:
            self._http.stop()
            self._http = None
        for thread in self._threads:
            thread.join(timeout=self.options.poll_wait_seconds + 5)
        self._threads.clear()
        self._doubles.close()
        self._providers = None
        if self._moto is not None:
            self._moto.stop()
            self._moto = None
        self._restore_environment()
        self._reset_bootstrap()

    def _reset_moto(self) -> None:
        """Start from an empty AWS: moto keeps its state per process, across servers and stops."""
        request = urllib.request.Request(f"{self.moto_url}/moto-api/reset", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass

    # -- environment ------------------------------------------------------------------------------------

    def _clients(self) -> AwsClients:
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=self.region
        )
        return AwsClients(
            dynamodb=session.client("dynamodb", endpoint_url=self.moto_url),
            sqs=session.client("sqs", endpoint_url=self.moto_url),
            events=session.client("events", endpoint_url=self.moto_url),
            secretsmanager=session.client("secretsmanager", endpoint_url=self.moto_url),
            s3=session.client("s3", endpoint_url=self.moto_url),
        )

    def _start_doubles(self, user_env: Mapping[str, str], specs: Sequence[FunctionSpec]) -> Providers:
        """The provider doubles the template's functions need (local/doubles.py); stop() stops them."""
        # Customers created through the API name Stripe customers and marketplace buyers the doubles
        # have never seen.
        options = DoubleOptions(
            stripe_customers=self.options.stripe_customers,
            stripe_auto_create_customers=True,
            marketplace_auto_subscribe=True,
        )
        doubles = start_doubles(specs, user_env, self._doubles, options)
        for name, double in doubles.running.items():
            log.info("local stack: %s double at %s", name, double.url)
        return doubles

    @staticmethod
    def _provider_values(user_env: Mapping[str, str], doubles: Providers) -> dict[str, str]:
        values = {name: user_env[name] for name in PROVIDER_VARIABLES if user_env.get(name)}
        values.setdefault("DOWNBEAT_API_TOKEN", LOCAL_API_TOKEN)
        # New each start unless the user set one: a dashboard link works until the stack stops.
        values.setdefault("DASHBOARD_SIGNING_SECRET", secrets.token_urlsafe(48))
        return values | doubles.values

    def _base_environment(self, user_env: Mapping[str, str]) -> dict[str, str]:
        env = dict.fromkeys(OWN_SERVICE_ENDPOINTS, self.moto_url)
        env |= {"AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region, "POWERTOOLS_TRACE_DISABLED": "true"}
        env["EVENT_BUS_NAME"] = self.bus_name
        for name, value in DUMMY_CREDENTIALS.items():
            env[name] = user_env.get(name) or value
        if not user_env.get("AWS_ACCESS_KEY_ID"):
            env["AWS_SESSION_TOKEN"] = "testing"
        return env

    @staticmethod
    def _provider_env(spec: FunctionSpec, provider: Mapping[str, str], doubles: Providers) -> dict[str, str]:
        """Provider variables for the functions that use them (keys as the local defaults)."""
        env = {name: value for name, value in provider.items() if name in spec.environment}
        from_doubles = doubles.environment_for(spec)
        env |= from_doubles
        if spec.http_api and not _only_fixed_routes(spec):
            env["DOWNBEAT_API_TOKEN"] = provider["DOWNBEAT_API_TOKEN"]
            env["DASHBOARD_SIGNING_SECRET"] = provider["DASHBOARD_SIGNING_SECRET"]
        calls_azure = any(name in spec.environment for name in AZURE_URL_VARIABLES)
        for name in (*AZURE_URL_VARIABLES, "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
            if name not in provider:
                continue
            # A CA bundle the user set is for a provider the user points at (an HTTPS Azure
            # endpoint): the Azure double brings its own (its certificate beside certifi's roots),
            # and a machine-wide REQUESTS_CA_BUNDLE must not replace it, in this one process.
            if name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE") and (name in from_doubles or not calls_azure):
                continue
            env[name] = provider[name]
        return env

    def _install_environment(self) -> None:
        merged: dict[str, str] = {}
        conflicting: set[str] = set()
        for runtime in self._functions.values():
            for name, value in runtime.environment.items():
                if name in merged and merged[name] != value:
                    conflicting.add(name)
                merged.setdefault(name, value)
        for name in conflicting - {"POWERTOOLS_SERVICE_NAME"}:
            log.warning("local stack: %s differs between functions; this process uses %r", name, merged[name])
        merged["POWERTOOLS_SERVICE_NAME"] = SHARED_SERVICE_NAME
        merged.pop("AWS_ENDPOINT_URL", None)
        for name, value in merged.items():
            self._saved_environ.setdefault(name, os.environ.get(name))
            os.environ[name] = value

    def _restore_environment(self) -> None:
        for name, value in self._saved_environ.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_environ.clear()

    @staticmethod
    def _reset_bootstrap() -> None:
        """Cached clients from before the environment changed would talk to the wrong endpoint."""
        from shared import bootstrap  # noqa: PLC0415 - imported late: only the stack needs it

        bootstrap.reset()

    # -- event sources ----------------------------------------------------------------------------------

    def _load_handlers(self) -> None:
        """Import every handler now, as Lambda's init phase would (and while stdout is the stack's).

        A handler that fails to import is logged and left unloaded: each invocation then raises
        the import error again, as Lambda reports Runtime.ImportModuleError on every call.
        """
        for runtime in self._functions.values():
            if not runtime.available:
                continue
            try:
                self._handlers[runtime.spec.logical_id] = load_handler(runtime.spec)
            except Exception:
                log.exception("local stack: %s: importing %s failed", runtime.spec.logical_id, runtime.spec.module)

    def _start_event_sources(self) -> None:
        assert self.resources is not None
        for runtime in self._functions.values():
            spec = runtime.spec
            if not runtime.available:
                log.warning("local stack: %s skipped: %s is not in this build", spec.logical_id, spec.module)
                continue
            for source in spec.sqs_sources:
                queue = self.resources.queues[source.queue_logical_id]
                self.add_sqs_worker(
                    spec.logical_id,
                    queue,
                    self._invoker(spec.logical_id),
                    batch_size=source.batch_size,
                    report_batch_item_failures=source.report_batch_item_failures,
                    handler_sets_visibility=source.handler_sets_visibility,
                )
            if spec.rule_sources:
                self._start_rule_delivery(spec)
            if self.options.run_schedules:
                for schedule in spec.schedules:
                    interval = rate_seconds(schedule.expression)
                    if interval is None:
                        log.warning(
                            "local stack: %s %s: only rate() schedules run locally",
                            spec.logical_id,
                            schedule.expression,
                        )
                        continue
                    runner = ScheduleRunner(
                        name=spec.logical_id,
                        interval_seconds=interval,
                        run_once=functools.partial(self.trigger, spec.logical_id),
                    )
                    self._start_thread(runner)

    def add_sqs_worker(
        self,
        name: str,
        queue: QueueInfo,
        handler: Any,
        *,
        batch_size: int = 10,
        report_batch_item_failures: bool = True,
        dead_letter_queue: QueueInfo | None = None,
        handler_sets_visibility: bool = False,
    ) -> SqsEventSourcePoller:
        """Drive `handler(event)` from `queue` like an SQS event source mapping (also used by tests).

        `dead_letter_queue` adds a queue created outside the template to what `dlq list` shows.
        `handler_sets_visibility`: a failed record keeps the visibility its handler gave it.
        """
        if dead_letter_queue is not None:
            self._extra_dead_letter_queues[dead_letter_queue.logical_id] = dead_letter_queue
            self._extra_sources[dead_letter_queue.logical_id] = queue
        poller = SqsEventSourcePoller(
            name=name,
            sqs=self.clients.sqs,
            queue_url=queue.url,
            queue_arn=queue.arn,
            region=self.region,
            invoke=handler,
            batch_size=batch_size,
            report_batch_item_failures=report_batch_item_failures,
            retry_visibility_seconds=None if handler_sets_visibility else self.options.retry_visibility_seconds,
            poll_wait_seconds=self.options.poll_wait_seconds,
            record_error=self._record_error,
        )
        self._start_thread(poller)
        return poller

    def create_queue(
        self, name: str, *, dead_letter_queue: QueueInfo | None = None, max_receive_count: int = 5
    ) -> QueueInfo:
        """A queue outside the template (tests wire their own workers through the same poller)."""
        attributes: dict[QueueAttributeNameType, str] = {}
        if dead_letter_queue is not None:
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": dead_letter_queue.arn, "maxReceiveCount": max_receive_count}
            )
        url = self.clients.sqs.create_queue(QueueName=f"{LOCAL_STACK_NAME}-{name}", Attributes=attributes)["QueueUrl"]
        arn = self.clients.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return QueueInfo(name, url, arn, dead_letter_queue.logical_id if dead_letter_queue else None, max_receive_count)

    def _start_rule_delivery(self, spec: FunctionSpec) -> None:
        assert self.resources is not None
        sqs, events, resolver = self.clients.sqs, self.clients.events, self.resources.resolver
        queue = self.create_queue(f"{spec.logical_id}-events")
        for source in spec.rule_sources:
            bus = str(resolver.resolve(source.bus)) if source.bus is not None else "default"
            if bus != "default" and bus not in {b["Name"] for b in events.list_event_buses()["EventBuses"]}:
                events.create_event_bus(Name=bus)
            rule = f"{LOCAL_STACK_NAME}-{spec.logical_id}{source.event_logical_id}"
            events.put_rule(Name=rule, EventBusName=bus, EventPattern=json.dumps(source.pattern), State="ENABLED")
            events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": spec.logical_id, "Arn": queue.arn}])
            self._rules.append((spec.logical_id, bus, dict(source.pattern)))
        on_failure = None
        if spec.on_failure_destination is not None:
            destination = self.resources.queue_by_arn(str(resolver.resolve(spec.on_failure_destination)))
            if destination is not None:
                url = destination.url

                def on_failure(record: dict[str, Any], url: str = url) -> None:
                    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(record, default=str))

        delivery = EventBridgeDelivery(
            name=spec.logical_id,
            sqs=sqs,
            queue_url=queue.url,
            invoke=self._invoker(spec.logical_id),
            function_arn=context_for(spec, self.region).invoked_function_arn,
            max_retries=spec.async_max_retries,
            retry_delay_seconds=self.options.async_retry_delay_seconds,
            poll_wait_seconds=self.options.poll_wait_seconds,
            on_failure=on_failure,
            account_id=LOCAL_ACCOUNT_ID,
        )
        self._start_thread(delivery)

    def _invoker(self, logical_id: str) -> Callable[[Any], Any]:
        """`event → self.invoke(logical_id, event)`, looked up per call (tests may wrap `invoke`)."""

        def invoke(event: Any) -> Any:
            return self.invoke(logical_id, event)

        return invoke

    def _start_thread(self, thread: Any) -> None:
        self._threads.append(thread)
        thread.start()

    def _record_error(self, message_id: str, error: str) -> None:
        with self._dlq_lock:
            self._last_errors[message_id] = error

    # -- invoking functions --------------------------------------------------------------------------------

    def runtime(self, name: str) -> _FunctionRuntime:
        spec = find_function(name, [r.spec for r in self._functions.values()])
        if spec is None:
            raise ControlError(404, f"no function {name!r} in template.yaml")
        return self._functions[spec.logical_id]

    @contextlib.contextmanager
    def override_handler(self, name: str, handler: Handler) -> Iterator[None]:
        """Run `handler` in place of a function's own for the block (tests: e.g. an echoing API)."""
        logical_id = self.runtime(name).spec.logical_id
        with self._handler_lock:
            previous = self._handlers.get(logical_id)
            self._handlers[logical_id] = handler
        try:
            yield
        finally:
            with self._handler_lock:
                if previous is None:
                    self._handlers.pop(logical_id, None)
                else:
                    self._handlers[logical_id] = previous

    def invoke(self, name: str, event: Any) -> Any:
        """Call a function's handler with `event` and a fresh Lambda context, in this process."""
        runtime = self.runtime(name)
        with self._handler_lock:
            handler = self._handlers.get(runtime.spec.logical_id)
            if handler is None:
                handler = self._handlers[runtime.spec.logical_id] = load_handler(runtime.spec)
        return handler(event, context_for(runtime.spec, self.region))

    # -- LocalControl (the HTTP server's view of the stack) -----------------------------------------------------

    def put_event(self, envelope: Any) -> dict[str, Any]:
        if not isinstance(envelope, dict):
            raise ControlError(
                400, "an EventBridge event is a JSON object (the envelope with source, detail-type, detail)"
            )
        entry = put_events_entry(envelope, self.bus_name)
        refusal = over_the_limit([entry])
        if refusal is not None:  # moto accepts any size; EventBridge refuses the whole request
            raise ControlError(400, f"EventBridge refused the request: {refusal}")
        response = self.clients.events.put_events(Entries=[entry])  # type: ignore[list-item]
        result = response["Entries"][0]
        if "EventId" not in result:
            raise ControlError(
                400, f"EventBridge refused the event: {result.get('ErrorCode')}: {result.get('ErrorMessage')}"
            )
        return {"event_id": result["EventId"], "bus": self.bus_name, "rules": self._matching_rules(entry, result)}

    def _matching_rules(self, entry: Mapping[str, Any], result: Mapping[str, Any]) -> list[str]:
        """The functions whose rules on this bus take the event (judged as moto's bus judges it)."""
        from moto.events.models import EventPattern  # noqa: PLC0415 - the bus's own matcher

        try:
            detail = json.loads(entry["Detail"])
        except ValueError:
            detail = entry["Detail"]
        event = {
            "version": "0",
            "id": result["EventId"],
            "detail-type": entry["DetailType"],
            "source": entry["Source"],
            "account": LOCAL_ACCOUNT_ID,
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.region,
            "resources": entry["Resources"],
            "detail": detail,
        }
        return [
            function
            for function, bus, pattern in self._rules
            if bus == self.bus_name and EventPattern.load(json.dumps(pattern)).matches_event(event)  # type: ignore[arg-type]
        ]

    def stripe_hand_action(self, action: str, invoice: str) -> dict[str, Any]:
        """`downbeat stripe ACTION INVOICE`: what someone does in Stripe itself to an invoice (named by
        its Stripe id or by the downbeat invoice id in its metadata), and the webhook that sends."""
        from local.stripe_double_webhooks import HAND_ACTIONS  # noqa: PLC0415 - only this command needs it
        from local.stripe_double_wire import StripeError  # noqa: PLC0415

        double = self.stripe
        if double is None:
            raise ControlError(404, "STRIPE_API_BASE is set: this stack runs no Stripe double to act in")
        if action not in HAND_ACTIONS:
            raise ControlError(404, f"no Stripe action {action!r}; one of {', '.join(HAND_ACTIONS)}")
        ours = [
            i for i in double.invoices() if i["id"] == invoice or i["metadata"].get("downbeat_invoice_id") == invoice
        ]
        if not ours:
            raise ControlError(404, f"the Stripe double has no invoice {invoice!r} (by id or downbeat_invoice_id)")
        stripe_id = str(ours[-1]["id"])  # the newest: a revision replaces the one it revises
        try:
            delivery = double.hand_action(action, stripe_id)
        except StripeError as error:
            raise ControlError(409, f"Stripe refused to {action} {stripe_id}: {error.message}") from None
        return {
            "stripe_invoice_id": stripe_id,
            "status": double.invoice(stripe_id)["status"],
            "webhook": delivery.to_json(),
        }

    def marketplace_action(self, action: str, document: Any) -> dict[str, Any]:
        """`aws-token`: a registration token the AWS double resolves to the buyer the body names;
        `aws-sns`: an SNS subscription action on the subscription queue, as AWS Marketplace's topic
        delivers it; `azure-token` / `azure-operation`: a landing token or an operation with its
        signed webhook at the Azure double (local/marketplace_cli.py)."""
        from local.marketplace_cli import marketplace_action  # noqa: PLC0415 - only these commands need it

        assert self.resources is not None
        return marketplace_action(
            self.aws_marketplace, self.clients.sqs, self.resources.queues, action, document, azure=self.azure
        )

    def claim_check_bucket(self) -> dict[str, str]:
        """Where `downbeat send-event --claim-check` puts line items: the bucket and its S3 endpoint."""
        assert self.resources is not None
        bucket = self.resources.buckets.get("ClaimCheckBucket")
        if bucket is None:
            raise ControlError(404, "this build's template has no ClaimCheckBucket")
        return {"bucket": bucket, "endpoint_url": self.moto_url, "region": self.region}

    def trigger(self, name: str) -> Any:
        spec = find_function(name, [r.spec for r in self._functions.values()])
        if spec is None or not spec.schedules or not self._functions[spec.logical_id].available:
            raise ControlError(404, f"no scheduled function {name} in this build")
        schedule = spec.schedules[0]
        event = scheduled_event(
            schedule_arn=f"arn:aws:scheduler:{self.region}:{LOCAL_ACCOUNT_ID}:schedule/default/{spec.logical_id}{schedule.event_logical_id}",
            region=self.region,
            account_id=LOCAL_ACCOUNT_ID,
            now=datetime.now(UTC),
            input_text=schedule.input,
            scheduler=schedule.scheduler,
        )
        return self.invoke(spec.logical_id, event)

    def function_environment(self, name: str) -> dict[str, str]:
        """The function's settings, its secrets left out (`downbeat invoke` brings its own)."""
        served, _ = split_environment(self.runtime(name).environment, self._all_secret_values())
        return served

    def withheld_variables(self, name: str) -> list[str]:
        _, withheld = split_environment(self.runtime(name).environment, self._all_secret_values())
        return withheld

    def _all_secret_values(self) -> list[str]:
        """What the stack's secrets hold, and every function's variables named as secrets."""
        named = [
            value
            for runtime in self._functions.values()
            for variable, value in runtime.environment.items()
            if is_secret_name(variable)
        ]
        return [*self._secret_values, *named]

    def seed_demo_data(self) -> dict[str, Any]:
        """Load the demo customers and contracts (those that exist already are left alone)."""
        from local.demo_data import CONTRACTS, CUSTOMERS, seed_demo_data  # noqa: PLC0415
        from shared.adapters.dynamodb import DynamoDBStore  # noqa: PLC0415

        seed_demo_data(DynamoDBStore(self.clients.dynamodb, self.table_name))
        return {"customers": [c["id"] for c in CUSTOMERS], "contracts": [c["id"] for c in CONTRACTS]}

    def functions(self) -> list[dict[str, Any]]:
        return [
            {
                "logical_id": r.spec.logical_id,
                "name": r.spec.directory_name,
                "handler": r.spec.handler,
                "available": r.available,
                "scheduled": bool(r.spec.schedules),
            }
            for r in self._functions.values()
        ]

    def invoke_api(self, event: dict[str, Any]) -> Any:
        api = self._route_owner(event) or next(
            (r for r in self._functions.values() if r.spec.http_api and not _only_fixed_routes(r.spec)), None
        )
        if api is None or not (api.spec.logical_id in self._handlers or handler_exists(api.spec)):
            raise HandlerMissing("the API function (functions/api) is not in this build")
        return self.invoke(api.spec.logical_id, event)

    def _route_owner(self, event: dict[str, Any]) -> _FunctionRuntime | None:
        """The function a route of its own sends this request to (`POST /v1/webhooks/stripe`), as
        API Gateway prefers a route without a greedy `{proxy+}` over `ANY /{proxy+}`."""
        http = event.get("requestContext", {}).get("http", {})
        wanted = (str(http.get("method", "")).upper(), str(event.get("rawPath", "")))
        for runtime in self._functions.values():
            routes = runtime.spec.http_routes
            if _only_fixed_routes(runtime.spec) and runtime.available and ({wanted, ("ANY", wanted[1])} & set(routes)):
                return runtime
        return None

    def dead_letter_queues(self) -> dict[str, QueueInfo]:
        """The template's DLQs (redrive targets, OnFailure destinations, rule DLQs) and extra ones."""
        assert self.resources is not None
        queues = self.resources.queues
        names = {q.redrive_dlq_logical_id for q in queues.values() if q.redrive_dlq_logical_id}
        for runtime in self._functions.values():
            destination = runtime.spec.on_failure_destination
            if isinstance(destination, dict) and "Fn::GetAtt" in destination:
                names.add(destination["Fn::GetAtt"][0])
        names |= {lid for lid in queues if lid.upper().endswith("DLQ")}
        found = {lid: queues[lid] for lid in sorted(names) if lid in queues}
        return found | self._extra_dead_letter_queues

    def redrive_sources(self) -> dict[str, QueueInfo]:
        """DLQ logical id → the queue whose redrive policy sends its failures there."""
        assert self.resources is not None
        queues = self.resources.queues
        return {q.redrive_dlq_logical_id: q for q in queues.values() if q.redrive_dlq_logical_id} | self._extra_sources

    def dead_letters(self) -> list[dict[str, Any]]:
        sources = {dlq: queue.logical_id for dlq, queue in self.redrive_sources().items()}
        entries = []
        with self._dlq_lock:
            for logical_id, queue in self.dead_letter_queues().items():
                for message in peek_messages(self.clients.sqs, queue.url):
                    last_error = self._last_errors.get(message["MessageId"])
                    recorded = self._recorded_dead_letter_reason(logical_id, message)
                    entries.append(
                        dead_letter_entry(logical_id, message, sources.get(logical_id), last_error, recorded)
                    )
        return entries

    def redrive(self, queue: str, message_id: str | None = None, *, dry_run: bool = False) -> dict[str, Any]:
        """`downbeat dlq redrive`: see local/redrive.py. Raises RedriveError (404 from the server)."""
        with self._dlq_lock:
            return redrive(self, self.clients.sqs, self.put_event, queue, message_id=message_id, dry_run=dry_run)

    def _recorded_dead_letter_reason(self, queue: str, message: MessageTypeDef) -> str | None:
        """The reason a worker recorded in the sync status of the invoice a dead-lettered message
        names, when that status says this queue holds it (SQS itself carries no reason)."""
        assert self.resources is not None
        try:
            body = json.loads(message["Body"])
        except ValueError:
            return None
        invoice_id = body.get("invoice_id") if isinstance(body, dict) else None
        if not isinstance(invoice_id, str) or not invoice_id:
            return None
        from shared.adapters.dynamodb import DynamoDBStore  # noqa: PLC0415 - only `dlq list` reads the table

        try:
            record = DynamoDBStore(self.clients.dynamodb, self.resources.table_name).get_sync(invoice_id)
        except Exception:  # a listing must not fail on one message: fall back to the last error
            log.exception("local stack: reading the sync status of %r for dlq list failed", invoice_id)
            return None
        if record is None or record.status != "failed" or record.dead_letter_queue != queue:
            return None
        return record.reason


def _only_fixed_routes(spec: FunctionSpec) -> bool:
    """A function whose every route is one fixed path (no `{parameter}`): the webhook, not the API."""
    return bool(spec.http_routes) and all("{" not in path for _, path in spec.http_routes)


def peek_messages(sqs: SQSClient, queue_url: str) -> list[MessageTypeDef]:
    """Every message now in the queue, none consumed: receive, then make them visible again.

    Each page is hidden for a moment (so the next receive returns the following messages) and
    all are set back to visible at the end. Receive counts go up, which only matters for a queue
    with a redrive policy — DLQs have none.
    """
    seen: dict[str, MessageTypeDef] = {}
    handles: list[str] = []
    try:
        while True:
            page = sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=30,
                WaitTimeSeconds=0,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not page:
                break
            for message in page:
                handles.append(message["ReceiptHandle"])
                seen.setdefault(message["MessageId"], message)
    finally:
        for start in range(0, len(handles), 10):
            chunk = handles[start : start + 10]
            sqs.change_message_visibility_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0} for i, h in enumerate(chunk)],
            )
    return list(seen.values())


def dead_letter_entry(
    queue: str,
    message: MessageTypeDef,
    source_queue: str | None,
    last_error: str | None,
    recorded_reason: str | None = None,
) -> dict[str, Any]:
    """One `dlq list` line: `queue`, `message_id`, `reason`, `body` (the original event or record).

    The reason is one line: what the function wrote beside the event, what the worker recorded in
    the invoice's sync status (`recorded_reason`), or the last error — never a traceback."""
    try:
        body: Any = json.loads(message["Body"])
    except ValueError:
        body = message["Body"]
    attributes = {name: value.get("StringValue", "") for name, value in message.get("MessageAttributes", {}).items()}
    reason = "unknown (no reason recorded)"
    if attributes.get("reason"):
        reason = attributes["reason"]  # written beside the event by the function itself (router rejections)
    elif isinstance(body, dict) and isinstance(body.get("requestContext"), dict) and "responsePayload" in body:
        context, payload = body["requestContext"], body.get("responsePayload") or {}
        reason = (
            f"{context.get('condition', 'failed')} after {context.get('approximateInvokeCount', '?')} attempts: "
            f"{payload.get('errorType', 'Error')}: {payload.get('errorMessage', '')}"
        )
    elif source_queue is not None:
        reason = f"maxReceiveCount exceeded on {source_queue}"
        if recorded_reason:
            reason += f": {recorded_reason}"
        elif last_error:
            reason += f"; last error: {last_error}"
    entry = {"queue": queue, "message_id": message["MessageId"], "reason": reason_line(reason), "body": body}
    if attributes.get("field"):
        entry["field"] = attributes["field"]
    return entry
