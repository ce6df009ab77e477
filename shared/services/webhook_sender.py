"""Deliver one queued alert webhook: POST it signed, and on failure schedule the next attempt or
dead-letter it (docs/webhooks.md).

The queued message body is the webhook body; it is POSTed as it is, never parsed into a model and
written again, so its bytes and `id` are what the receiver saw on the attempt before. Each attempt
is signed afresh with its own `Date`. A failed attempt sets the message's visibility to the next
wait (the Lambda never sleeps) until 72 hours after the first attempt, then the message goes to the
DLQ with the reason beside it, and is deleted from the queue only after that send.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from shared.clock import Clock
from shared.domain.sync import reason_line
from shared.domain.webhook_delivery import (
    GiveUp,
    Notification,
    UnreadableNotification,
    after_failure,
    read_notification,
    signed_headers,
)
from shared.ports.errors import RetryableError
from shared.ports.webhooks import NotificationQueue, WebhookEndpoint

SOURCE = "webhook_sender"  # the DLQ message's `source` attribute


@dataclass(frozen=True)
class WebhookSenderDependencies:
    endpoint: WebhookEndpoint | None  # None: none configured; every attempt fails with `no_endpoint`
    secret: Callable[[], str]  # the signing secret, read per attempt (a rotation needs no deploy)
    queue: NotificationQueue
    clock: Clock
    no_endpoint: str = "WEBHOOK_URL is not set"


@dataclass(frozen=True)
class QueuedNotification:
    body: str
    receipt_handle: str
    first_received: datetime | None  # SQS's ApproximateFirstReceiveTimestamp: the first attempt


@dataclass(frozen=True)
class DeliveryResult:
    outcome: Literal["delivered", "retrying", "dead_lettered"]
    notification: Notification | None
    status_code: int | None = None
    failure: str | None = None
    retry_in_seconds: int | None = None
    field: str | None = None  # for an unreadable body: which field


def deliver(message: QueuedNotification, deps: WebhookSenderDependencies) -> DeliveryResult:
    try:
        notification = read_notification(message.body)
    except UnreadableNotification as error:  # no id to deliver under: never retried, kept whole
        reason = reason_line(f"unreadable notification: {error}")
        deps.queue.dead_letter(message.body, {"source": SOURCE, "reason": reason, "field": error.field})
        return DeliveryResult("dead_lettered", None, failure=reason, field=error.field)
    now = deps.clock()
    status_code, failure = _attempt(message.body.encode("utf-8"), deps, now)
    if failure is None:
        return DeliveryResult("delivered", notification, status_code)
    decision = after_failure(message.first_received or now, deps.clock(), failure)
    if isinstance(decision, GiveUp):
        reason = reason_line(decision.reason)
        attributes = {"source": SOURCE, "reason": reason, "notification_id": notification.id}
        deps.queue.dead_letter(message.body, attributes)
        return DeliveryResult("dead_lettered", notification, status_code, reason)
    deps.queue.retry_in(message.receipt_handle, decision.delay_seconds)
    return DeliveryResult("retrying", notification, status_code, failure, decision.delay_seconds)


def _attempt(body: bytes, deps: WebhookSenderDependencies, now: datetime) -> tuple[int | None, str | None]:
    """(the status code, why the attempt failed — None when a 2xx ended it)."""
    if deps.endpoint is None:
        return None, deps.no_endpoint
    try:
        secret = deps.secret()
    except Exception as error:  # its type only: the text of a secret's read error could quote it
        return None, f"the signing secret could not be read ({type(error).__name__})"
    try:
        status = deps.endpoint.post(body, signed_headers(secret, body, now))
    except RetryableError as error:
        return None, str(error)
    if 200 <= status < 300:
        return status, None
    return status, f"the endpoint answered {status}"
