"""An AWS Marketplace Metering double on loopback that boto3's `meteringmarketplace` client talks to unchanged.

Point boto3 at it the way the functions are pointed at it, through boto3's own configuration
(`AWS_ENDPOINT_URL_MARKETPLACE_METERING=double.url`), and it serves the AWS JSON 1.1 protocol of
botocore's model (`meteringmarketplace/2016-01-14/service-2.json`: `jsonVersion` 1.1,
`targetPrefix` AWSMPMeteringService, `signingName` aws-marketplace)::

    with AwsMeteringDouble(credentials={"testing": "testing"}) as double:
        double.subscribe_licence("111122223333", "arn:aws:license-manager::…:license/l-1", "prod-x")
        double.throttle(times=1)

- requests: `POST /`, `X-Amz-Target: AWSMPMeteringService.<Operation>`, content type
  `application/x-amz-json-1.1`, a SigV4 `Authorization` whose credential scope names the signing
  service `aws-marketplace` (local/sigv4_check.py; with `credentials` the signature itself is
  verified too);
- replies: JSON 1.1, errors as `{"__type", "message"}` with `x-amzn-ErrorType`, a
  `x-amzn-RequestId` on every reply; unknown operations `UnknownOperationException`. Only
  `BatchMeterUsage` (its rules: local/aws_metering_model.py) and `ResolveCustomer` are served.
- faults, queued and matched in order (`inject`, or `POST /_double/faults`): `throttle`
  (400 ThrottlingException), `internal` (500 InternalServiceErrorException), `error` (any status and
  code), `timeout_after_apply` (the call is applied, then no answer until the client's read timeout),
  `drop_after_apply` (applied, then the connection closes), `unprocessed` (the first `count`
  records, default all, come back in `UnprocessedRecords` without being applied).
- `ResolveCustomer` (local/aws_fulfillment_model.py) resolves the registration tokens it issued
  (`issue_token`, or `POST /_double/registration-tokens`); faults match it by `operation`.
- control, under `/_double/`: `GET records` (what it holds), `GET requests`, `POST reset`,
  `POST faults`, `POST subscribers` (`{"product_code", "customer_identifier"}` or
  `{"product_code", "account_id", "license_arn"}`, optional `"active": false`), `POST products`.

The clock is `time.time` unless given, so a test that moves time with time-machine moves the
double's window too.
"""

from __future__ import annotations

import argparse
import json
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Self

from local.aws_fulfillment_model import DEFAULT_TTL_SECONDS, RegistrationTokens
from local.aws_metering_model import JSON, AwsError, MeteredRecord, MeteringModel, Subscriber
from local.loopback_server import LoopbackServer, Reply, Request
from local.sigv4_check import SignatureRefusal, check_sigv4

SIGNING_SERVICE = "aws-marketplace"
TARGET_PREFIX = "AWSMPMeteringService"
CONTENT_TYPE = "application/x-amz-json-1.1"

FaultKind = Literal["throttle", "internal", "error", "timeout_after_apply", "drop_after_apply", "unprocessed"]
FAULT_KINDS: tuple[FaultKind, ...] = (
    "throttle",
    "internal",
    "error",
    "timeout_after_apply",
    "drop_after_apply",
    "unprocessed",
)


@dataclass
class Fault:
    """One programmed fault for `operation` calls; `skip` lets that many through, `times` bounds it."""

    kind: FaultKind
    operation: str = "BatchMeterUsage"
    status: int = 400
    code: str = ""
    message: str = ""
    count: int | None = None  # unprocessed: how many records (from the first); None: all
    skip: int = 0
    times: int | None = 1
    fired: int = 0


@dataclass
class LoggedCall:
    number: int
    operation: str
    region: str | None
    access_key: str | None
    product_code: str | None
    records: int
    status: int
    error: str | None
    fault: str | None
    at: float
    payload: JSON | None = None  # the request body as decoded: what botocore serialized
    content_type: str | None = None


class AwsMeteringDouble:
    """In-memory AWS Marketplace Metering on `http://127.0.0.1:<port>`; see the module docstring."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        credentials: Mapping[str, str] | None = None,
        auto_subscribe: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.clock = clock
        self.credentials = dict(credentials) if credentials is not None else None
        self.model = MeteringModel(clock, auto_subscribe=auto_subscribe)
        self.tokens = RegistrationTokens(clock)
        self._lock = threading.RLock()
        self._server = LoopbackServer(self._serve, name="aws-metering-double", host=host, port=port)
        self.reset()

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> Self:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """boto3's endpoint: `AWS_ENDPOINT_URL_MARKETPLACE_METERING`."""
        return self._server.url

    def reset(self) -> None:
        with self._lock:
            self.model.reset()
            self.tokens.reset()
            self._faults: list[Fault] = []
            self._log: list[LoggedCall] = []

    # -- seeding ----------------------------------------------------------------------------

    def add_product(self, product_code: str, dimensions: set[str] | None = None) -> None:
        with self._lock:
            self.model.add_product(product_code, dimensions)

    def subscribe_customer(self, customer_identifier: str, product_code: str, *, active: bool = True) -> None:
        """A legacy buyer (`CustomerIdentifier`) of `product_code`."""
        with self._lock:
            self.model.subscribe(Subscriber(product_code, customer_identifier=customer_identifier, active=active))

    def subscribe_licence(self, account_id: str, license_arn: str, product_code: str, *, active: bool = True) -> None:
        """A licence-based buyer: the licence is `account_id`'s, for `product_code`."""
        with self._lock:
            self.model.subscribe(
                Subscriber(product_code, account_id=account_id, license_arn=license_arn, active=active)
            )

    def issue_token(self, product_code: str, **buyer: Any) -> str:
        """A registration token ResolveCustomer resolves to this buyer once, until it expires
        (`account_id`, `license_arn`, `customer_identifier`, `agreement_id`, `ttl_seconds`). The
        buyer is subscribed too, so what it registers meters."""
        with self._lock:
            if buyer.get("license_arn") and buyer.get("account_id"):
                self.model.subscribe(
                    Subscriber(product_code, account_id=buyer["account_id"], license_arn=buyer["license_arn"])
                )
            elif buyer.get("customer_identifier"):
                self.model.subscribe(Subscriber(product_code, customer_identifier=buyer["customer_identifier"]))
            return self.tokens.issue(product_code, **buyer)

    # -- faults -----------------------------------------------------------------------------

    def inject(self, kind: FaultKind, **fields: Any) -> Fault:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        fault = Fault(kind=kind, **fields)
        with self._lock:
            self._faults.append(fault)
        return fault

    def throttle(self, **fields: Any) -> Fault:
        return self.inject("throttle", **fields)

    def internal_error(self, **fields: Any) -> Fault:
        return self.inject("internal", **fields)

    def error(self, status: int, code: str, message: str, **fields: Any) -> Fault:
        return self.inject("error", status=status, code=code, message=message, **fields)

    def timeout_after_apply(self, **fields: Any) -> Fault:
        return self.inject("timeout_after_apply", **fields)

    def drop_after_apply(self, **fields: Any) -> Fault:
        return self.inject("drop_after_apply", **fields)

    def unprocessed(self, count: int | None = None, **fields: Any) -> Fault:
        return self.inject("unprocessed", count=count, **fields)

    # -- inspection -------------------------------------------------------------------------

    def records(self) -> list[MeteredRecord]:
        """Every record it accepted, in acceptance order."""
        with self._lock:
            return list(self.model.records.values())

    @property
    def calls(self) -> list[LoggedCall]:
        with self._lock:
            return list(self._log)

    # -- serving ----------------------------------------------------------------------------

    def _serve(self, request: Request) -> Reply:
        if request.path.startswith("/_double/"):
            return self._control(request)
        with self._lock:
            entry = LoggedCall(len(self._log) + 1, "", None, None, None, 0, 0, None, None, self.clock())
            self._log.append(entry)
            reply = self._reply(request, entry)
            entry.status = reply.status
        reply.headers.setdefault("x-amzn-RequestId", _request_id())
        return reply

    def _reply(self, request: Request, entry: LoggedCall) -> Reply:
        target = request.headers.get("x-amz-target", "")
        prefix, _, operation = target.partition(".")
        entry.operation = operation
        if request.method != "POST" or request.path != "/":
            return _error(
                entry, AwsError(404, "UnknownOperationException", f"No route for {request.method} {request.path}")
            )
        try:
            signed = check_sigv4(
                method=request.method,
                path=request.path,
                query=request.query,
                headers={**request.headers, "host": request.host},
                body=request.body,
                service=SIGNING_SERVICE,
                now=datetime.fromtimestamp(self.clock(), UTC),
                credentials=self.credentials,
            )
        except SignatureRefusal as refusal:
            return _error(entry, AwsError(refusal.status, refusal.code, refusal.message))
        entry.region, entry.access_key = signed.region, signed.access_key
        handler = _OPERATIONS.get(operation) if prefix == TARGET_PREFIX else None
        if handler is None:
            return _error(entry, AwsError(400, "UnknownOperationException", f"Unknown operation {target!r}"))
        if not request.headers.get("content-type", "").startswith(CONTENT_TYPE):
            return _error(entry, AwsError(400, "SerializationException", f"Expected content type {CONTENT_TYPE}"))
        try:
            payload = json.loads(request.body or b"{}")
        except ValueError:
            return _error(entry, AwsError(400, "SerializationException", "The request body is not valid JSON."))
        if not isinstance(payload, dict):
            return _error(entry, AwsError(400, "SerializationException", "The request body must be a JSON object."))
        entry.payload, entry.content_type = payload, request.headers.get("content-type")
        entry.product_code = payload.get("ProductCode")
        entry.records = len(payload.get("UsageRecords") or [])
        fault = self._take_fault(operation)
        entry.fault = fault.kind if fault else None
        if fault is not None and fault.kind in ("throttle", "internal", "error"):
            return _error(entry, _fault_error(fault))
        if fault is not None and fault.kind == "unprocessed":
            return self._unprocessed(payload, signed.region, fault, entry)
        try:
            result = handler(self, payload, signed.region)
        except AwsError as error:
            return _error(entry, error)
        reply = Reply.json(200, result, CONTENT_TYPE)
        if fault is not None and fault.kind == "timeout_after_apply":
            reply.hold = True
        if fault is not None and fault.kind == "drop_after_apply":
            reply.drop = True
        return reply

    def _unprocessed(self, payload: JSON, region: str, fault: Fault, entry: LoggedCall) -> Reply:
        records = list(payload.get("UsageRecords") or [])
        count = len(records) if fault.count is None else min(fault.count, len(records))
        held_back, rest = records[:count], records[count:]
        try:
            result = (
                self.model.batch_meter_usage({**payload, "UsageRecords": rest}, region) if rest else {"Results": []}
            )
        except AwsError as error:
            return _error(entry, error)
        return Reply.json(200, {"Results": result["Results"], "UnprocessedRecords": held_back}, CONTENT_TYPE)

    def _take_fault(self, operation: str) -> Fault | None:
        for fault in self._faults:
            if fault.operation != operation:
                continue
            if fault.skip > 0:
                fault.skip -= 1
                continue
            fault.fired += 1
            if fault.times is not None and fault.fired >= fault.times:
                self._faults.remove(fault)
            return fault
        return None

    # -- control surface (/_double/…) --------------------------------------------------------

    def _control(self, request: Request) -> Reply:
        try:
            return self._control_route(request)
        except (KeyError, TypeError, ValueError) as error:  # a missing or malformed field: the caller's to fix
            return Reply.json(400, {"__type": "ValidationException", "message": f"bad control request: {error!r}"})

    def _control_route(self, request: Request) -> Reply:
        payload = json.loads(request.body) if request.body.strip() else {}
        route = (request.method, request.path)
        if route == ("GET", "/_double/records"):
            return Reply.json(200, {"data": [record.to_json() for record in self.records()]})
        if route == ("GET", "/_double/requests"):
            return Reply.json(200, {"data": [asdict(call) for call in self.calls]})
        if route == ("POST", "/_double/reset"):
            self.reset()
            return Reply.json(200, {"reset": True})
        if route == ("POST", "/_double/faults"):
            names = ("operation", "status", "code", "message", "count", "skip", "times")
            fault = self.inject(payload["kind"], **{name: payload[name] for name in names if name in payload})
            return Reply.json(200, {"kind": fault.kind})
        if route == ("POST", "/_double/registration-tokens"):
            buyer_keys = ("account_id", "license_arn", "customer_identifier", "agreement_id")
            buyer: dict[str, Any] = {name: str(payload[name]) for name in buyer_keys if payload.get(name) is not None}
            ttl = float(payload.get("ttl_seconds", DEFAULT_TTL_SECONDS))
            token = self.issue_token(str(payload["product_code"]), ttl_seconds=ttl, **buyer)
            return Reply.json(200, {"token": token})
        if route == ("POST", "/_double/products"):
            self.add_product(payload["product_code"], set(payload["dimensions"]) if "dimensions" in payload else None)
            return Reply.json(200, {"product_code": payload["product_code"]})
        if route == ("POST", "/_double/subscribers"):
            active = bool(payload.get("active", True))
            if "license_arn" in payload:
                self.subscribe_licence(
                    payload["account_id"], payload["license_arn"], payload["product_code"], active=active
                )
            else:
                self.subscribe_customer(payload["customer_identifier"], payload["product_code"], active=active)
            return Reply.json(200, {"subscribed": True})
        return Reply.json(404, {"message": f"No control route {request.method} {request.path}"})


def _batch_meter_usage(double: AwsMeteringDouble, payload: JSON, region: str) -> JSON:
    return double.model.batch_meter_usage(payload, region)


def _resolve_customer(double: AwsMeteringDouble, payload: JSON, region: str) -> JSON:
    return double.tokens.resolve(payload)


_OPERATIONS: dict[str, Callable[[AwsMeteringDouble, JSON, str], JSON]] = {
    "BatchMeterUsage": _batch_meter_usage,
    "ResolveCustomer": _resolve_customer,
}


def _fault_error(fault: Fault) -> AwsError:
    if fault.kind == "throttle":
        return AwsError(400, "ThrottlingException", fault.message or "Rate exceeded")
    if fault.kind == "internal":
        return AwsError(500, "InternalServiceErrorException", fault.message or "An internal error has occurred.")
    return AwsError(fault.status, fault.code, fault.message)


def _error(entry: LoggedCall, error: AwsError) -> Reply:
    entry.error = error.code
    return Reply.json(error.status, error.body(), CONTENT_TYPE, **{"x-amzn-ErrorType": error.code})


def _request_id() -> str:
    raw = secrets.token_hex(16)
    return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the AWS Marketplace Metering double on loopback.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12112)
    args = parser.parse_args(argv)
    double = AwsMeteringDouble(host=args.host, port=args.port, auto_subscribe=True).start()
    print(f"AWS Marketplace Metering double listening on {double.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        double.stop()


if __name__ == "__main__":
    main()
