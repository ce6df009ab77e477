"""The flows that put the API token and the Stripe key to work on a local stack (the leak test's driver).

`drive_secret_flows` runs each flow to its outcome, in this order:

- API: a customer and a contract created with the token; three refused requests — a wrong bearer
  token, the real token under another scheme, no Authorization header;
- Stripe (through the caller's StripeDouble): a finalized invoice synced; one Stripe refuses with
  a 401 (the sync fails); one Stripe answers 500 every time (redriven to StripeSyncDLQ);
- router: three events dead-lettered — a bad field, an unknown detail-type, an unknown customer;
- alert webhooks: a notification signed with WEBHOOK_SECRET and delivered to the stack's own
  receiver (which verifies it), and an unreadable one dead-lettered to NotificationsDLQ;
- then `downbeat dlq list`, and every read a client can make of the stack: `/health`, the OpenAPI
  document, the customer, its invoices, the audit log, a dashboard link (its page, the page of a
  tampered copy, an invoice's detail page), the control endpoints (`/_local/functions`,
  `/_local/dlq`, `/_local/env/<function>` for every function), and control requests refused for
  a wrong token, another scheme and none.

The `downbeat` commands run in this process with DOWNBEAT_API_TOKEN set to the stack's token, as
a developer's shell would have it. Every response (status line, headers, body) and everything the
commands print is kept in `FlowsSeen.responses`, so a test can look for secrets there too. It
returns what it saw, so a test can check that the flows did run before trusting a clean log.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

from local.cli import main
from local.stripe_double import StripeDouble
from tests.e2e.helpers import dead_letter_for, poll_until, sample_event, write_event

STACK_ARGUMENTS = ("--port", "0", "--no-schedules", "--retry-visibility", "0", "--log-level", "DEBUG")


@dataclass(frozen=True)
class KnownSecrets:
    """Distinctive values, fresh per run, so a match can only mean the value itself leaked."""

    api_token: str
    stripe_key: str
    refused_token: str  # sent and refused: a credential all the same (often a near-miss of the real one)
    dashboard_secret: str  # signs the dashboard links the flows ask for and open
    webhook_secret: str  # signs the Stripe double's webhooks; the stack verifies them with it
    alert_webhook_secret: str  # signs the alert webhooks the stack sends to its own receiver

    @classmethod
    def fresh(cls) -> KnownSecrets:
        return cls(
            api_token=f"dbtok-leakcheck-{uuid.uuid4().hex}",
            stripe_key=f"sk_test_leakcheck_{uuid.uuid4().hex}",
            refused_token=f"dbtok-refused-{uuid.uuid4().hex}",
            dashboard_secret=f"dash-leakcheck-{uuid.uuid4().hex}",
            webhook_secret=f"whsec_leakcheck_{uuid.uuid4().hex}",
            alert_webhook_secret=f"alerthook-leakcheck-{uuid.uuid4().hex}",
        )

    def by_name(self) -> dict[str, str]:
        return {
            "DOWNBEAT_API_TOKEN": self.api_token,
            "STRIPE_API_KEY": self.stripe_key,
            "REFUSED_BEARER_TOKEN": self.refused_token,
            "DASHBOARD_SIGNING_SECRET": self.dashboard_secret,
            "STRIPE_WEBHOOK_SECRET": self.webhook_secret,
            "WEBHOOK_SECRET": self.alert_webhook_secret,
        }

    def stack_variables(self, stripe_api_base: str) -> dict[str, str]:
        """The stack's environment: these secrets, the caller's Stripe double, every logging switch on."""
        return {
            "DOWNBEAT_API_TOKEN": self.api_token,
            "STRIPE_API_KEY": self.stripe_key,
            "DASHBOARD_SIGNING_SECRET": self.dashboard_secret,
            "STRIPE_WEBHOOK_SECRET": self.webhook_secret,
            "WEBHOOK_SECRET": self.alert_webhook_secret,
            "STRIPE_API_BASE": stripe_api_base,
            "LOG_LEVEL": "DEBUG",  # the template's LogLevel: the functions' POWERTOOLS_LOG_LEVEL
            "POWERTOOLS_LOG_LEVEL": "DEBUG",
            # What an operator may flip while chasing a problem: log each event, Powertools' dev mode.
            "POWERTOOLS_LOGGER_LOG_EVENT": "true",
            "POWERTOOLS_DEV": "true",
        }


@dataclass
class FlowsSeen:
    refused: list[int] = field(default_factory=list)  # the statuses of the three refused requests
    syncs: dict[str, dict[str, Any]] = field(default_factory=dict)  # "synced" / "failed" → sync record
    dead_letters: list[dict[str, Any]] = field(default_factory=list)  # `dlq list`, parsed
    dlq_listing: str = ""  # `dlq list` as printed
    responses: list[str] = field(default_factory=list)  # every response and command output, as received
    withheld: dict[str, list[str]] = field(default_factory=dict)  # function → what /_local/env withheld
    control_refused: list[int] = field(default_factory=list)  # a wrong token, another scheme, none
    dashboard_pages: list[int] = field(default_factory=list)  # a dashboard page, a tampered link, a detail
    webhooks: list[int] = field(default_factory=list)  # a signed Stripe webhook, then one signed otherwise
    alert_webhooks_delivered: bool = False  # the signed notification left its queue (the receiver took it)

    def responses_text(self) -> str:
        return "\n".join(self.responses)


def call_raw(base: str, method: str, path: str, authorization: str | None, body: Any = None) -> tuple[int, str, bytes]:
    """(status, the status line and headers as text, the body) of one request."""
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, f"{response.status} {response.reason}\n{response.headers}", response.read()
    except urllib.error.HTTPError as error:
        return error.code, f"{error.code} {error.reason}\n{error.headers}", error.read()


def drive_secret_flows(base: str, secrets: KnownSecrets, stripe: StripeDouble, workdir: Path) -> FlowsSeen:
    with mock.patch.dict(os.environ, {"DOWNBEAT_API_TOKEN": secrets.api_token}):
        return _drive(base, secrets, stripe, workdir)


def _drive(base: str, secrets: KnownSecrets, stripe: StripeDouble, workdir: Path) -> FlowsSeen:
    seen = FlowsSeen()
    bearer = f"Bearer {secrets.api_token}"

    def call_api(method: str, path: str, authorization: str | None, body: Any = None) -> tuple[int, Any]:
        status, head, raw = call_raw(base, method, path, authorization, body)
        seen.responses.append(f"{method} {path} → {head}\n{raw.decode('utf-8', 'replace')}")
        return status, json.loads(raw or b"null")

    def downbeat(*arguments: str) -> str:
        """Run a `downbeat` client command in this process; its stdout."""
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(arguments))
        seen.responses.append(f"downbeat {' '.join(arguments)} →\n{out.getvalue()}\n{err.getvalue()}")
        assert code == 0, (arguments, out.getvalue(), err.getvalue())
        return out.getvalue()

    def api(method: str, path: str, body: Any = None) -> Any:
        status, answer = call_api(method, path, bearer, body)
        assert status == 200, (method, path, status, answer)
        return answer["data"]

    def send(event: dict[str, Any]) -> str:
        downbeat("send-event", "--api", base, write_event(workdir, event))
        return str(event["detail"]["id"])

    def settled_sync(invoice_id: str) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            status, answer = call_api("GET", f"/v1/invoices/{invoice_id}/sync", bearer)
            sync: dict[str, Any] | None = answer["data"] if status == 200 else None
            return sync if sync and sync["status"] != "pending" else None

        return poll_until(probe, what=f"the Stripe sync of {invoice_id} to settle")

    stripe_configuration = {
        "billing_provider": "stripe",
        "delivery_method": "direct_to_billing_provider",
        "configuration": {"stripe_customer_id": "cus_leakcheck"},
    }
    customer = api(
        "POST", "/v1/customers", {"name": "Leak Check Co", "billing_provider_configurations": [stripe_configuration]}
    )
    contract = api(
        "POST",
        "/v1/contracts/create",
        {"customer_id": customer["id"], "name": "2025", "starting_at": "2025-01-01T00:00:00Z"},
    )
    for authorization in (f"Bearer {secrets.refused_token}", f"Token {secrets.api_token}", None):
        status, _ = call_api("GET", f"/v1/customers/{customer['id']}", authorization)
        seen.refused.append(status)

    def invoice() -> dict[str, Any]:
        return sample_event(customer_id=customer["id"], contract_id=contract["id"])

    synced = send(invoice())
    seen.syncs["synced"] = settled_sync(synced)

    # The customer pays in Stripe: the double signs its webhook with the secret, the stack verifies it.
    stripe.configure_webhooks(f"{base}/v1/webhooks/stripe", secrets.webhook_secret)
    paid = stripe.hand_action("pay", str(seen.syncs["synced"]["provider_ids"]["stripe_invoice_id"]))
    forged = stripe.deliver_webhook(paid.event, secret=secrets.webhook_secret[::-1])
    for delivery in (paid, forged):
        seen.webhooks.append(delivery.status or 0)
        seen.responses.append(f"POST /v1/webhooks/stripe → {delivery.status}\n{json.dumps(delivery.body)}")

    # Stripe's own wording for a revoked key shows only its ends; the worker must not add the rest.
    masked = secrets.stripe_key[:8] + "*" * (len(secrets.stripe_key) - 12) + secrets.stripe_key[-4:]
    refusal = {"type": "invalid_request_error", "message": f"Invalid API Key provided: {masked}"}
    stripe.fail_before(method="POST", status=401, error=refusal, times=1)
    seen.syncs["failed"] = settled_sync(send(invoice()))

    stripe.fail_before(method="POST", status=500, should_retry=False, times=None)
    try:
        unreachable = send(invoice())
        poll_until(lambda: dead_letter_for(base, unreachable), what="the Stripe sync record in StripeSyncDLQ")
    finally:
        stripe.clear_faults()

    rejected = [
        send(sample_event("invalid.json")),
        send({**invoice(), "detail-type": "invoice.exploded"}),
        send(sample_event(customer_id="cust_leakcheck_ghost", contract_id=None)),
    ]
    poll_until(lambda: all(dead_letter_for(base, i) for i in rejected), what="the three rejected events in the DLQ")

    seen.alert_webhooks_delivered = _send_alert_webhooks(call_api, bearer)

    seen.dlq_listing = downbeat("dlq", "list", "--api", base)
    seen.dead_letters = [json.loads(line) for line in seen.dlq_listing.splitlines()]

    reads = (
        "/health",
        "/openapi.json",
        f"/v1/customers/{customer['id']}",
        f"/v1/customers/{customer['id']}/invoices",
        f"/v1/customers/{customer['id']}/invoices/{synced}",
        "/v1/auditLogs",
        "/_local/dlq",
    )
    for path in reads:
        status, answer = call_api("GET", path, bearer)
        assert status == 200, (path, answer)
    link = api("POST", "/v1/dashboards/getEmbeddableUrl", {"customer_id": customer["id"], "dashboard": "invoices"})
    embed = link["url"].removeprefix(base)
    for path in (embed, embed[:-2] + "xx", embed + f"&invoice={synced}"):  # a page, a refusal, a detail
        status, head, raw = call_raw(base, "GET", path, None)
        seen.responses.append(f"GET {path} → {head}\n{raw.decode('utf-8', 'replace')}")
        seen.dashboard_pages.append(status)
    _, listed = call_api("GET", "/_local/functions", bearer)
    for function in listed["functions"]:
        status, served = call_api("GET", f"/_local/env/{function['logical_id']}", bearer)
        assert status == 200, served
        seen.withheld[function["logical_id"]] = served["withheld"]
    for authorization in (f"Bearer {secrets.refused_token}", f"Token {secrets.api_token}", None):
        status, _ = call_api("GET", "/_local/env/ApiFunction", authorization)
        seen.control_refused.append(status)
    return seen


def _send_alert_webhooks(call_api: Any, bearer: str) -> bool:
    """A notification and an unreadable one on NotificationsQueue (through the stack's moto, found
    from the sender's served settings); True once the first is delivered and the second dead-lettered."""
    import boto3

    status, served = call_api("GET", "/_local/env/WebhookSenderFunction", bearer)
    assert status == 200, served
    settings = served["environment"]
    sqs = boto3.client(
        "sqs",
        endpoint_url=settings["AWS_ENDPOINT_URL_SQS"],
        region_name=settings["AWS_REGION"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    queue = settings["NOTIFICATIONS_QUEUE_URL"]
    body = {"id": "ntf_leakcheck", "type": "alerts.spend_threshold_reached", "properties": {"customer_id": "c"}}
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(body))
    sqs.send_message(QueueUrl=queue, MessageBody='{"type": "alerts.spend_threshold_reached"}')

    def settled() -> bool:
        names: Any = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=names)["Attributes"]
        return all(attributes[name] == "0" for name in names)

    return poll_until(settled, what="the alert webhooks to leave NotificationsQueue")
