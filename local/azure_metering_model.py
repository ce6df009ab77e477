"""Azure Marketplace metering's rules, without HTTP (see local/azure_marketplace_double.py).

What it follows: Microsoft's "Marketplace metered billing APIs" page
(https://learn.microsoft.com/partner-center/marketplace-offers/marketplace-metering-service-apis,
sections "Metered billing batch usage event" and "Metered billing retrieve usage events";
paraphrased, nothing copied):

- `POST /api/batchUsageEvent?api-version=2018-08-31`, body `{"request": [events]}`, at most 25
  events (more: a 400 for the whole call); each event `resourceId`, `quantity` (> 0), `dimension`,
  `effectiveStartTime` (UTC, within the past 24 hours), `planId`;
- a 200 with `{"count", "result": [...]}`, one result per event with its `status`: `Accepted`
  (with `usageEventId` and `messageTime`), `Duplicate` (one event per resource, dimension and UTC
  hour: the result carries `error.additionalInfo.acceptedMessage`, the event accepted first),
  `Expired`, `ResourceNotFound`, `ResourceNotAuthorized`, `ResourceNotActive`, `InvalidDimension`,
  `InvalidQuantity`, `BadArgument`;
- `GET /api/usageEvents?api-version=2018-08-31&usageStartDate=…[&usageEndDate][&offerId][&planId]
  [&dimension][&azureSubscriptionId][&reconStatus]`: one row per day, resource, dimension and plan
  with `usageDate`, `usageResourceId`, `submittedQuantity`, `processedQuantity`, `submittedCount`,
  `reconStatus` (the double processes at once: `Accepted`). The page does not say whether
  `usageEndDate` is inclusive: the double counts an event when `usageStartDate <=
  effectiveStartTime < usageEndDate`, a date-only `usageEndDate` meaning the end of that day.

Error messages are the double's paraphrases; statuses and codes are what clients branch on.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

JSON = dict[str, Any]
MAX_EVENTS = 25
WINDOW = timedelta(hours=24)
FUTURE_TOLERANCE = timedelta(minutes=5)  # not documented; the double's choice


class AzureError(Exception):
    """A whole-call refusal."""

    def __init__(self, status: int, code: str, message: str, target: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.target = status, code, message, target

    def body(self) -> JSON:
        body: JSON = {"code": self.code, "message": self.message}
        if self.target:
            body["target"] = self.target
        return body


@dataclass
class SaasResource:
    """A SaaS subscription as the metering API sees it."""

    resource_id: str
    plan_id: str
    client_id: str | None = None  # the publisher's app registration; None: any
    offer_id: str = "downbeat"
    azure_subscription_id: str = "00000000-0000-0000-0000-000000000000"
    state: str = "Subscribed"  # Subscribed | Suspended | PendingFulfillmentStart | Unsubscribed
    dimensions: set[str] = field(default_factory=lambda: {"usage_fee"})


@dataclass
class UsageEvent:
    usage_event_id: str
    resource_id: str
    plan_id: str
    dimension: str
    quantity: Decimal
    effective_start_time: str  # as sent
    hour: datetime
    message_time: str

    def message(self, status: str) -> JSON:
        return {
            "usageEventId": self.usage_event_id,
            "status": status,
            "messageTime": self.message_time,
            "resourceId": self.resource_id,
            "quantity": float(self.quantity),
            "dimension": self.dimension,
            "effectiveStartTime": self.effective_start_time,
            "planId": self.plan_id,
        }


def parse_time(value: Any) -> datetime | None:
    """ISO 8601 as Microsoft writes it; no offset means UTC."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


class AzureMeteringModel:
    """Resources and usage events. Not thread-safe: the double locks around it."""

    def __init__(self, clock: Callable[[], float], *, auto_subscribe: bool = False) -> None:
        self.clock = clock
        # The local stack's customers name SaaS subscriptions the double has never seen: with
        # auto_subscribe an unknown resource is taken as subscribed to the plan it names.
        self.auto_subscribe = auto_subscribe
        self.reset()

    def reset(self) -> None:
        self.resources: dict[str, SaasResource] = {}
        self.events: dict[tuple[str, str, datetime], UsageEvent] = {}

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def add_resource(self, resource: SaasResource) -> None:
        self.resources[resource.resource_id] = resource

    def plant(self, resource_id: str, hour: datetime, quantity: Decimal, *, plan_id: str, dimension: str) -> UsageEvent:
        """An accepted event that did not come through `batch_usage_event` (a test's planted one)."""
        started = hour.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        event = UsageEvent(str(uuid.uuid4()), resource_id, plan_id, dimension, quantity, started, hour, started)
        self.events[(resource_id, dimension, hour)] = event
        return event

    # -- POST /api/batchUsageEvent -----------------------------------------------------------

    def batch_usage_event(self, payload: Any, client_id: str) -> JSON:
        events = payload.get("request") if isinstance(payload, dict) else None
        if not isinstance(events, list):
            raise AzureError(400, "BadArgument", "The request must carry a 'request' list of usage events.", "request")
        if len(events) > MAX_EVENTS:
            raise AzureError(400, "BadArgument", f"The batch contained more than {MAX_EVENTS} usage events.", "request")
        now = self.now()
        results = [self._event(event, client_id, now) for event in events]
        return {"count": len(results), "result": results}

    def _event(self, event: Any, client_id: str, now: datetime) -> JSON:
        if not isinstance(event, dict):
            return _refused({}, "BadArgument", "A usage event must be an object.")
        echo = {k: event.get(k) for k in ("resourceId", "quantity", "dimension", "effectiveStartTime", "planId")}
        for name in ("resourceId", "dimension", "planId"):
            if not isinstance(event.get(name), str) or not event[name]:
                return _refused(echo, "BadArgument", f"The {name} is required.")
        quantity = _quantity(event.get("quantity"))
        if quantity is None:
            return _refused(echo, "BadArgument", "The quantity must be a number.")
        if quantity <= 0:
            return _refused(echo, "InvalidQuantity", "The quantity passed is lower or equal to 0.")
        started = parse_time(event.get("effectiveStartTime"))
        if started is None:
            return _refused(echo, "BadArgument", "The effectiveStartTime is missing or not an ISO 8601 date and time.")
        resource = self.resources.get(event["resourceId"])
        if resource is None and self.auto_subscribe:
            resource = SaasResource(event["resourceId"], event["planId"])
            self.add_resource(resource)
        if resource is None:
            return _refused(echo, "ResourceNotFound", "The usage resource provided is invalid.")
        if resource.client_id is not None and resource.client_id != client_id:
            return _refused(echo, "ResourceNotAuthorized", "You are not authorized to provide usage for this resource.")
        if resource.state != "Subscribed":
            return _refused(
                echo, "ResourceNotActive", f"The resource is {resource.state}: suspended or never activated."
            )
        if event["planId"] != resource.plan_id:
            return _refused(echo, "BadArgument", f"The planId {event['planId']!r} is not the resource's plan.")
        if event["dimension"] not in resource.dimensions:
            return _refused(
                echo, "InvalidDimension", "The dimension for which the usage is passed is invalid for this offer/plan."
            )
        if now - started >= WINDOW or started > now + FUTURE_TOLERANCE:
            return _refused(
                echo, "Expired", "The effectiveStartTime is outside the past 24 hours: the usage has expired."
            )
        hour = started.replace(minute=0, second=0, microsecond=0)
        key = (resource.resource_id, event["dimension"], hour)
        held = self.events.get(key)
        if held is not None:
            return {
                "status": "Duplicate",
                "messageTime": "0001-01-01T00:00:00",
                "error": {
                    "additionalInfo": {"acceptedMessage": held.message("Duplicate")},
                    "message": "This usage event already exist.",
                    "code": "Conflict",
                },
                **echo,
            }
        accepted = UsageEvent(
            usage_event_id=str(uuid.uuid4()),
            resource_id=resource.resource_id,
            plan_id=event["planId"],
            dimension=event["dimension"],
            quantity=quantity,
            effective_start_time=str(event["effectiveStartTime"]),
            hour=hour,
            message_time=now.isoformat().replace("+00:00", "Z"),
        )
        self.events[key] = accepted
        return accepted.message("Accepted")

    # -- GET /api/usageEvents ----------------------------------------------------------------

    def usage_events(self, query: dict[str, str]) -> list[JSON]:
        start = parse_time(query.get("usageStartDate"))
        if start is None:
            raise AzureError(
                400,
                "BadArgument",
                "usageStartDate is required, in ISO 8601 (2020-12-03T15:00 or 2020-12-03).",
                "usageStartDate",
            )
        end_text = query.get("usageEndDate")
        end = parse_time(end_text) if end_text else None
        if end_text and end is None:
            raise AzureError(400, "BadArgument", "usageEndDate must be ISO 8601.", "usageEndDate")
        if end is None:
            end = self.now()
        elif end_text and "T" not in end_text:
            end += timedelta(days=1)
        rows: dict[tuple[str, str, str, str], JSON] = {}
        for event in sorted(self.events.values(), key=lambda e: (e.hour, e.resource_id, e.dimension)):
            resource = self.resources.get(event.resource_id)
            started = parse_time(event.effective_start_time) or event.hour
            if not start <= started < end:
                continue
            filters = {
                "offerId": resource.offer_id if resource else "",
                "planId": event.plan_id,
                "dimension": event.dimension,
                "azureSubscriptionId": resource.azure_subscription_id if resource else "",
            }
            if any(name in query and query[name] != value for name, value in filters.items()):
                continue
            if query.get("reconStatus") not in (None, "Accepted"):
                continue
            day = event.hour.replace(hour=0).isoformat().replace("+00:00", "Z")
            row = rows.setdefault(
                (day, event.resource_id, event.dimension, event.plan_id),
                {
                    "usageDate": day,
                    "usageResourceId": event.resource_id,
                    "dimension": event.dimension,
                    "planId": event.plan_id,
                    "planName": event.plan_id,
                    "offerId": filters["offerId"],
                    "offerName": filters["offerId"],
                    "offerType": "SaaS",
                    "azureSubscriptionId": filters["azureSubscriptionId"],
                    "reconStatus": "Accepted",
                    "submittedQuantity": 0.0,
                    "processedQuantity": 0.0,
                    "submittedCount": 0,
                },
            )
            row["submittedQuantity"] += float(event.quantity)
            row["processedQuantity"] += float(event.quantity)
            row["submittedCount"] += 1
        return list(rows.values())


def _quantity(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _refused(echo: JSON, status: str, message: str) -> JSON:
    return {
        "status": status,
        "messageTime": "0001-01-01T00:00:00",
        "error": {"code": status, "message": message},
        **echo,
    }
