"""An Azure Marketplace double on loopback HTTPS: an Entra-style issuer, metering and SaaS fulfillment.

azure-identity's `ClientSecretCredential` and `requests` talk to it unchanged::

    with AzureMarketplaceDouble() as double:          # makes its CA and certificate (local/loopback_tls.py)
        double.add_resource("sub-1", plan_id="gold")
        os.environ["REQUESTS_CA_BUNDLE"] = str(double.ca_bundle)
        credential = azure_credential(double.tenant_id, double.client_id, double.client_secret, double.url)

- Entra (local/entra_endpoints.py): tenant discovery, the client-credentials token endpoint
  (tokens opaque to clients, valid an hour on the double's clock) and the signing keys
  (`/{tenant}/discovery/v2.0/keys`) of `entra`, the issuer of the webhook's JWTs
  (local/entra_issuer.py).
- Metering (rules: local/azure_metering_model.py): `POST /api/batchUsageEvent` and
  `GET /api/usageEvents`, both `?api-version=2018-08-31`, `Authorization: Bearer <token>`: none,
  unknown or expired → 401; a token for another resource than the marketplace API → 403.
- SaaS Fulfillment API v2 (local/azure_fulfillment_api.py, rules in
  local/azure_fulfillment_model.py, state in `fulfillment`): resolve, activate, get subscription,
  list / get / PATCH operations; a bad bearer token → 403 as Microsoft documents there.
- Faults (`inject`, or `POST /_double/faults` with `{"kind", "path", "status", "times", "skip"}`):
  `status` (reply `status` — 429 with `Retry-After`, 500, 503… — without applying),
  `timeout_after_apply` (applied, then no answer until the client's read timeout),
  `drop_after_apply` (applied, then the connection closes). `path` is `/api/batchUsageEvent`
  unless given (the token endpoint's path works too, and a `path` ending in `*` matches every
  path it begins).
- Control under `/_double/`: `GET events`, `GET requests`, `POST reset`, `POST faults`,
  `POST resources` (`{"resource_id", "plan_id", "state"?, "client_id"?}`), and the fulfillment
  and Entra controls of local/azure_fulfillment_api.py (landing tokens, operations with their
  webhook, webhook JWTs good and bad).

The clock is `time.time` unless given, so time-machine moves the 24-hour window and token expiry.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, Self

from local import azure_fulfillment_api, entra_endpoints
from local.azure_fulfillment_model import AzureFulfillmentModel
from local.azure_metering_model import AzureError, AzureMeteringModel, SaasResource, UsageEvent
from local.doubles import LOCAL_AZURE_CLIENT_ID as LOCAL_CLIENT_ID
from local.doubles import LOCAL_AZURE_CLIENT_SECRET as LOCAL_CLIENT_SECRET
from local.doubles import LOCAL_AZURE_TENANT_ID as LOCAL_TENANT_ID
from local.entra_endpoints import TOKEN_LIFETIME_SECONDS
from local.entra_issuer import EntraIssuer
from local.loopback_server import LoopbackServer, Reply, Request
from local.loopback_tls import LoopbackTls

MARKETPLACE_RESOURCE = "20e940b3-4c77-4b0b-9a53-9e16a1b010a7"
MARKETPLACE_SCOPE = f"{MARKETPLACE_RESOURCE}/.default"
API_VERSION = "2018-08-31"

FaultKind = Literal["status", "timeout_after_apply", "drop_after_apply"]
FAULT_KINDS: tuple[FaultKind, ...] = ("status", "timeout_after_apply", "drop_after_apply")


@dataclass
class Fault:
    kind: FaultKind
    path: str = "/api/batchUsageEvent"
    status: int = 500
    retry_after: int | None = None
    skip: int = 0
    times: int | None = 1
    fired: int = 0


@dataclass
class LoggedRequest:
    number: int
    method: str
    path: str
    status: int
    events: int
    client_id: str | None
    fault: str | None
    at: float
    payload: Any = None  # a metering request's body as decoded
    query: dict[str, str] = field(default_factory=dict)  # its query parameters


@dataclass(frozen=True)
class _Token:
    client_id: str
    resource: str
    expires_at: float


class AzureMarketplaceDouble:
    """See the module docstring. `client_secret` is a fake local value; it never leaves loopback."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        tenant_id: str = LOCAL_TENANT_ID,
        client_id: str = LOCAL_CLIENT_ID,
        client_secret: str = LOCAL_CLIENT_SECRET,
        auto_subscribe: bool = False,
        repeat_activation_ok: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.clock = clock
        self.tenant_id, self.client_id, self.client_secret = tenant_id, client_id, client_secret
        self.model = AzureMeteringModel(clock, auto_subscribe=auto_subscribe)
        self.fulfillment = AzureFulfillmentModel(clock, self.model, repeat_activation_ok=repeat_activation_ok)
        self.entra = EntraIssuer(tenant_id, lambda: self.url, clock)  # signs the webhook's tokens
        self._lock = threading.RLock()
        self._tls: LoopbackTls | None = None
        self._host, self._port = host, port
        self._server: LoopbackServer | None = None
        self.reset()

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> Self:
        if self._server is None:
            self._tls = LoopbackTls.create()
            self._server = LoopbackServer(
                self._serve, name="azure-double", host=self._host, port=self._port, tls=self._tls.server_context()
            ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._tls is not None:
            self._tls.close()
            self._tls = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Both the metering base URL and the authority host."""
        if self._server is None:
            raise RuntimeError("AzureMarketplaceDouble is not started")
        return self._server.url

    @property
    def ca_bundle(self) -> Path:
        """The PEM bundle `REQUESTS_CA_BUNDLE` / `SSL_CERT_FILE` point at."""
        if self._tls is None:
            raise RuntimeError("AzureMarketplaceDouble is not started")
        return self._tls.ca_bundle

    def reset(self) -> None:
        with self._lock:
            self.model.reset()
            self.fulfillment.reset()
            self._tokens: dict[str, _Token] = {}
            self._faults: list[Fault] = []
            self._log: list[LoggedRequest] = []

    # -- seeding, faults, inspection ---------------------------------------------------------

    def add_resource(self, resource_id: str, *, plan_id: str, state: str = "Subscribed",
                     client_id: str | None = None, dimensions: set[str] | None = None) -> None:  # fmt: skip
        with self._lock:
            resource = SaasResource(resource_id, plan_id, client_id=client_id, state=state)
            if dimensions is not None:
                resource.dimensions = set(dimensions)
            self.model.add_resource(resource)

    def inject(self, kind: FaultKind, **fields: Any) -> Fault:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        fault = Fault(kind=kind, **fields)
        with self._lock:
            self._faults.append(fault)
        return fault

    def fail(self, status: int, **fields: Any) -> Fault:
        """Reply `status` without applying (429 carries `Retry-After: 1` unless told otherwise)."""
        if status == 429:
            fields.setdefault("retry_after", 1)
        return self.inject("status", status=status, **fields)

    def timeout_after_apply(self, **fields: Any) -> Fault:
        return self.inject("timeout_after_apply", **fields)

    def drop_after_apply(self, **fields: Any) -> Fault:
        return self.inject("drop_after_apply", **fields)

    # -- planted differences, for reconciliation tests: Azure holding other than what was sent

    def plant_event(self, resource_id: str, hour: datetime, quantity: int, *, plan_id: str = "gold",
                    dimension: str = "usage_fee") -> UsageEvent:  # fmt: skip
        """An event accepted from someone else (another integration, a hand-made call)."""
        with self._lock:
            return self.model.plant(resource_id, hour, Decimal(quantity), plan_id=plan_id, dimension=dimension)

    def forget_event(self, resource_id: str, hour: datetime, dimension: str = "usage_fee") -> None:
        """As if an accepted event had been lost."""
        with self._lock:
            del self.model.events[(resource_id, dimension, hour)]

    def change_quantity(self, resource_id: str, hour: datetime, quantity: int, dimension: str = "usage_fee") -> None:
        with self._lock:
            key = (resource_id, dimension, hour)
            self.model.events[key] = dataclasses.replace(self.model.events[key], quantity=Decimal(quantity))

    def events(self) -> list[UsageEvent]:
        with self._lock:
            return list(self.model.events.values())

    @property
    def requests(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._log)

    def issue_token(self, client_id: str | None = None, resource: str = MARKETPLACE_RESOURCE) -> str:
        """A token as the issuer would grant it (for tests of another app's or resource's token)."""
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = _Token(client_id or self.client_id, resource, self.clock() + TOKEN_LIFETIME_SECONDS)
        return token

    def landing_token(self, **purchase: Any) -> tuple[str, str]:
        """A purchase and its landing token (local/azure_fulfillment_model.py): (token, subscription id)."""
        with self._lock:
            token, subscription = self.fulfillment.landing_token(**purchase)
            return token, subscription.id

    def start_operation(self, subscription_id: str, action: str, **fields: Any) -> dict[str, Any]:
        """The operation Microsoft starts, the webhook body it would POST for it and the
        `Authorization` header it would send (a v1 token for this double's app)."""
        with self._lock:
            operation = self.fulfillment.start_operation(subscription_id, action, **fields)
            webhook = self.fulfillment.webhook_payload(operation)
        token = self.entra.webhook_token(self.client_id)
        return {"operation": operation.body(), "webhook": webhook, "authorization": f"Bearer {token}"}

    # -- serving ----------------------------------------------------------------------------

    def _serve(self, request: Request) -> Reply:
        if request.path.startswith("/_double/"):
            return self._control(request)
        with self._lock:
            entry = LoggedRequest(len(self._log) + 1, request.method, request.path, 0, 0, None, None, self.clock())
            entry.query = dict(request.query)
            self._log.append(entry)
            reply = self._reply(request, entry)
            entry.status = reply.status
        reply.headers.setdefault("x-ms-requestid", request.headers.get("x-ms-requestid") or secrets.token_hex(16))
        if "x-ms-correlationid" in request.headers:
            reply.headers.setdefault("x-ms-correlationid", request.headers["x-ms-correlationid"])
        return reply

    def _reply(self, request: Request, entry: LoggedRequest) -> Reply:
        fault = self._take_fault(request.path)
        entry.fault = fault.kind if fault else None
        if fault is not None and fault.kind == "status":
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            return Reply.json(
                fault.status, {"code": "ServiceUnavailable", "message": "Injected by the Azure double."}, **headers
            )
        reply = self._route(request, entry)
        if fault is not None and fault.kind == "timeout_after_apply":
            reply.hold = True
        if fault is not None and fault.kind == "drop_after_apply":
            reply.drop = True
        return reply

    def _route(self, request: Request, entry: LoggedRequest) -> Reply:
        parts = request.path.strip("/").split("/")
        route = (request.method, request.path)
        if request.method == "GET" and parts[1:] == ["v2.0", ".well-known", "openid-configuration"]:
            return entra_endpoints.openid_configuration(self.url, self.tenant_id, parts[0])
        if request.method == "POST" and parts[1:] == ["oauth2", "v2.0", "token"]:
            return entra_endpoints.token(self, parts[0], request)
        if request.method == "GET" and parts[1:] in (["discovery", "v2.0", "keys"], ["discovery", "keys"]):
            return entra_endpoints.keys(self.entra, parts[0])
        if route in (("POST", "/api/batchUsageEvent"), ("GET", "/api/usageEvents")):
            return self._metering(request, entry)
        if azure_fulfillment_api.is_fulfillment(request.path):
            return self._fulfillment(request, entry)
        return Reply.json(404, {"code": "NotFound", "message": f"No route for {request.method} {request.path}"})

    def _caller(self, request: Request, entry: LoggedRequest, refused: int) -> _Token | Reply:
        """The bearer token's app, or the refusal: `refused` (401 metering, 403 fulfillment) when
        the token is missing, unknown or expired, 403 when it is for another resource."""
        bearer = request.headers.get("authorization", "")
        token = self._tokens.get(bearer.removeprefix("Bearer ").strip()) if bearer.startswith("Bearer ") else None
        if token is None or token.expires_at <= self.clock():
            return Reply.json(
                refused,
                {"code": "Unauthorized", "message": "The authorization token isn't provided, is invalid or expired."},
                **{"WWW-Authenticate": "Bearer"},
            )
        if token.resource != MARKETPLACE_RESOURCE:
            message = f"The token is not for the marketplace API (resource {MARKETPLACE_RESOURCE})."
            return Reply.json(403, {"code": "Forbidden", "message": message})
        entry.client_id = token.client_id
        if request.query.get("api-version") != API_VERSION:
            return Reply.json(
                400, {"code": "BadArgument", "message": f"api-version must be {API_VERSION}.", "target": "api-version"}
            )
        return token

    def _fulfillment(self, request: Request, entry: LoggedRequest) -> Reply:
        token = self._caller(request, entry, refused=403)
        if isinstance(token, Reply):
            return token
        try:
            entry.payload = json.loads(request.body) if request.body.strip() else None
        except ValueError:
            entry.payload = None  # the API answers it 400
        return azure_fulfillment_api.serve(self.fulfillment, request, token.client_id)

    def _metering(self, request: Request, entry: LoggedRequest) -> Reply:
        token = self._caller(request, entry, refused=401)
        if isinstance(token, Reply):
            return token
        try:
            if request.method == "GET":
                return Reply.json(200, self.model.usage_events(request.query))
            try:
                payload = json.loads(request.body or b"null")
            except ValueError:
                return Reply.json(400, {"code": "BadArgument", "message": "The request body is not valid JSON."})
            entry.payload = payload
            entry.events = len(payload.get("request") or []) if isinstance(payload, dict) else 0
            return Reply.json(200, self.model.batch_usage_event(payload, token.client_id))
        except AzureError as error:
            return Reply.json(error.status, error.body())

    def _take_fault(self, path: str) -> Fault | None:
        for fault in self._faults:
            if fault.path != path and not (fault.path.endswith("*") and path.startswith(fault.path[:-1])):
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
            return Reply.json(400, {"code": "BadArgument", "message": f"bad control request: {error!r}"})

    def _control_route(self, request: Request) -> Reply:
        payload = json.loads(request.body) if request.body.strip() else {}
        route = (request.method, request.path)
        if route == ("GET", "/_double/events"):
            return Reply.json(200, {"data": [event.message("Accepted") for event in self.events()]})
        if route == ("GET", "/_double/requests"):
            return Reply.json(200, {"data": [asdict(entry) for entry in self.requests]})
        if route == ("POST", "/_double/reset"):
            self.reset()
            return Reply.json(200, {"reset": True})
        if route == ("POST", "/_double/faults"):
            names = ("path", "status", "retry_after", "skip", "times")
            fault = self.inject(payload["kind"], **{name: payload[name] for name in names if name in payload})
            return Reply.json(200, {"kind": fault.kind})
        if route == ("POST", "/_double/resources"):
            self.add_resource(
                payload["resource_id"], plan_id=payload["plan_id"], state=payload.get("state", "Subscribed"),
                client_id=payload.get("client_id"),
            )  # fmt: skip
            return Reply.json(200, {"resource_id": payload["resource_id"]})
        served = azure_fulfillment_api.control(self.fulfillment, self.entra, self.client_id, request, payload)
        if served is not None:
            return served
        return Reply.json(404, {"code": "NotFound", "message": f"No control route {request.method} {request.path}"})
