"""The SaaS Fulfillment API v2's rules, without HTTP (served by local/azure_marketplace_double.py).

What it follows: Microsoft's "SaaS fulfillment Subscription APIs v2" and "SaaS fulfillment
operations APIs v2" pages
(https://learn.microsoft.com/partner-center/marketplace-offers/pc-saas-fulfillment-subscription-api,
https://learn.microsoft.com/partner-center/marketplace-offers/pc-saas-fulfillment-operations-api)
and "Implementing a webhook on the SaaS service"
(https://learn.microsoft.com/partner-center/marketplace-offers/pc-saas-fulfillment-webhook);
paraphrased, nothing copied:

- resolve: the landing page's `token` (valid 24 hours) in `x-ms-marketplace-token` → 200 with `id`,
  `subscriptionName`, `offerId`, `planId`, `quantity` and the full `subscription`; a token that is
  missing, malformed, unknown or expired → 400. Resolving works in every subscription status.
- activate `{"planId", "quantity"}` → 200 with no body, the subscription `Subscribed`; 400 when
  `planId` is missing or is not the purchased plan, when `quantity` is not the purchased one, or
  when the subscription is already `Subscribed` or `Suspended`; 404 when it is `Unsubscribed`.
  The page lists "already Subscribed" as a 400; `repeat_activation_ok` answers an identical
  repeat 200 instead, so both readings of "activate again" can be tested.
- get subscription → 200 or 404; get operation → 200 (`id`, `activityId`, `subscriptionId`,
  `offerId`, `publisherId`, `planId`, `quantity`, `action`, `timeStamp`, `status` one of
  `NotStarted`, `InProgress`, `Failed`, `Succeeded`, `Conflict`, `errorStatusCode`,
  `errorMessage`) or 404; PATCH operation `{"status": "Success" | "Failure"}` → 200, 404, or 409
  when the operation is already settled ("a newer update is already fulfilled").
- Every call of another publisher's app than the subscription's → 403 (so is a bad token: the
  double's HTTP layer checks it).

Where the pages are silent the double chooses: a ChangePlan / ChangeQuantity operation stays
`InProgress` until the publisher PATCHes it (`Success` applies the change and makes it `Succeeded`,
`Failure` makes it `Failed`); Suspend, Reinstate, Unsubscribe and Renew are notify-only and made
`Succeeded` at once, their change applied. Error bodies are `{"code", "message"}` paraphrases.
The metering model sees every status and plan change, so a suspended subscription's usage is
`ResourceNotActive` there.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from local.azure_metering_model import AzureError, AzureMeteringModel, SaasResource

JSON = dict[str, Any]
LANDING_TOKEN_LIFETIME = timedelta(hours=24)
ACTIONS = ("ChangePlan", "ChangeQuantity", "Suspend", "Reinstate", "Unsubscribe", "Renew")
OPERATION_STATUSES = ("NotStarted", "InProgress", "Failed", "Succeeded", "Conflict")
ACKNOWLEDGED_ACTIONS = frozenset({"ChangePlan", "ChangeQuantity"})
PUBLISHER_ID = "downbeat-local"


@dataclass
class SaasSubscription:
    id: str
    plan_id: str
    quantity: int | None = None
    offer_id: str = "downbeat"
    name: str = "downbeat local subscription"
    status: str = "PendingFulfillmentStart"  # | Subscribed | Suspended | Unsubscribed
    purchaser_email: str = "purchaser@example.com"
    beneficiary_email: str = "beneficiary@example.com"
    buyer_tenant_id: str = "00000000-0000-4000-8000-0000000b0e7e"
    client_id: str | None = None  # the publisher app the offer was published with; None: any
    created: str = ""
    term_start: str | None = None

    def body(self) -> JSON:
        def party(email: str) -> JSON:
            return {"emailId": email, "objectId": str(uuid.uuid5(uuid.NAMESPACE_URL, email)),
                    "tenantId": self.buyer_tenant_id, "puid": None}  # fmt: skip

        return {
            "id": self.id,
            "name": self.name,
            "publisherId": PUBLISHER_ID,
            "offerId": self.offer_id,
            "planId": self.plan_id,
            "quantity": self.quantity,
            "beneficiary": party(self.beneficiary_email),
            "purchaser": party(self.purchaser_email),
            "allowedCustomerOperations": ["Delete", "Update", "Read"],
            "sessionMode": "None",
            "isFreeTrial": False,
            "isTest": False,
            "sandboxType": "None",
            "saasSubscriptionStatus": self.status,
            "term": {"startDate": self.term_start, "endDate": None, "termUnit": "P1M"},
            "autoRenew": True,
            "created": self.created,
            "lastModified": self.created,
        }


@dataclass
class Operation:
    id: str
    subscription_id: str
    action: str
    plan_id: str
    quantity: int | None
    status: str
    time_stamp: str
    offer_id: str = "downbeat"
    activity_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    patched: str | None = None  # what the publisher PATCHed, if it did

    def body(self) -> JSON:
        return {
            "id": self.id,
            "activityId": self.activity_id,
            "subscriptionId": self.subscription_id,
            "offerId": self.offer_id,
            "publisherId": PUBLISHER_ID,
            "planId": self.plan_id,
            "quantity": self.quantity,
            "action": self.action,
            "timeStamp": self.time_stamp,
            "status": self.status,
            "errorStatusCode": "",
            "errorMessage": "",
        }


@dataclass(frozen=True)
class _LandingToken:
    subscription_id: str
    expires_at: datetime


class AzureFulfillmentModel:
    """Subscriptions, landing tokens and operations. Not thread-safe: the double locks around it."""

    def __init__(self, clock: Callable[[], float], metering: AzureMeteringModel, *,
                 repeat_activation_ok: bool = False) -> None:  # fmt: skip
        self.clock = clock
        self.metering = metering
        self.repeat_activation_ok = repeat_activation_ok
        self.reset()

    def reset(self) -> None:
        self.subscriptions: dict[str, SaasSubscription] = {}
        self.operations: dict[str, Operation] = {}
        self._tokens: dict[str, _LandingToken] = {}

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    # -- seeding (the double's control calls) -----------------------------------------------

    def landing_token(self, *, subscription_id: str | None = None, plan_id: str = "gold", quantity: int | None = None,
                      expired: bool = False, **fields: Any) -> tuple[str, SaasSubscription]:  # fmt: skip
        """A purchase as the buyer's browser brings it: the subscription (made, pending, when new)
        and a landing token for it, standard base64 as Microsoft's are (`+`, `/` and `=` included,
        so a landing page that forgets to URL-decode it is caught)."""
        now = self.now()
        subscription = self.subscriptions.get(subscription_id or "")
        if subscription is None:
            subscription = SaasSubscription(subscription_id or str(uuid.uuid4()), plan_id, quantity,
                                            created=_stamp(now), **fields)  # fmt: skip
            self.subscriptions[subscription.id] = subscription
        token = base64.b64encode(b"\xfb\xff" + secrets.token_bytes(46)).decode()
        lifetime = -timedelta(seconds=1) if expired else LANDING_TOKEN_LIFETIME
        self._tokens[token] = _LandingToken(subscription.id, now + lifetime)
        return token, subscription

    def start_operation(self, subscription_id: str, action: str, *, plan_id: str | None = None,
                        quantity: int | None = None, status: str | None = None) -> Operation:  # fmt: skip
        """What Microsoft does before it calls the webhook: the operation, applied at once when the
        action is notify-only (see the module docstring). `status` forces one (`Failed`, `Conflict`…)."""
        subscription = self._subscription(subscription_id)
        if action not in ACTIONS:
            raise AzureError(400, "BadArgument", f"action must be one of {', '.join(ACTIONS)}.", "action")
        if status is not None and status not in OPERATION_STATUSES:
            raise AzureError(400, "BadArgument", f"status must be one of {', '.join(OPERATION_STATUSES)}.", "status")
        operation = Operation(
            id=str(uuid.uuid4()),
            subscription_id=subscription.id,
            action=action,
            plan_id=plan_id or subscription.plan_id,
            quantity=quantity if quantity is not None else subscription.quantity,
            status=status or ("InProgress" if action in ACKNOWLEDGED_ACTIONS else "Succeeded"),
            time_stamp=_stamp(self.now()),
            offer_id=subscription.offer_id,
        )
        self.operations[operation.id] = operation
        if operation.status == "Succeeded":
            self._apply(subscription, operation)
        return operation

    def webhook_payload(self, operation: Operation) -> JSON:
        """The body Microsoft POSTs to the publisher's webhook for `operation` (its `id` is the operation's)."""
        subscription = self.subscriptions[operation.subscription_id]
        return {
            **{k: v for k, v in operation.body().items() if k not in ("errorStatusCode", "errorMessage")},
            "operationRequestSource": "Azure",
            "subscription": subscription.body(),
            "purchaseToken": None,
        }

    def pending_operations(self, subscription_id: str, client_id: str) -> JSON:
        self._subscription(subscription_id, client_id)
        pending = [o.body() for o in self.operations.values()
                   if o.subscription_id == subscription_id and o.status in ("NotStarted", "InProgress")]  # fmt: skip
        return {"operations": pending}

    # -- the API ------------------------------------------------------------------------------

    def resolve(self, token: str | None, client_id: str) -> JSON:
        held = self._tokens.get(token or "")
        if held is None:
            raise AzureError(400, "BadRequest", "The x-ms-marketplace-token is missing, malformed or invalid.")
        if held.expires_at <= self.now():
            raise AzureError(400, "BadRequest", "The x-ms-marketplace-token has expired.")
        subscription = self._subscription(held.subscription_id, client_id)
        return {
            "id": subscription.id,
            "subscriptionName": subscription.name,
            "offerId": subscription.offer_id,
            "planId": subscription.plan_id,
            "quantity": subscription.quantity,
            "subscription": subscription.body(),
        }

    def activate(self, subscription_id: str, payload: Any, client_id: str) -> None:
        subscription = self._subscription(subscription_id, client_id)
        if subscription.status == "Unsubscribed":
            raise AzureError(404, "NotFound", "The SaaS subscription is Unsubscribed.")
        body = payload if isinstance(payload, dict) else {}
        if not isinstance(body.get("planId"), str) or not body["planId"]:
            raise AzureError(400, "BadArgument", "planId is required.", "planId")
        if body["planId"] != subscription.plan_id:
            raise AzureError(400, "BadArgument", "planId is not the purchased plan.", "planId")
        if _seats(body.get("quantity")) != subscription.quantity:
            raise AzureError(400, "BadArgument", "quantity is not the purchased quantity.", "quantity")
        if subscription.status == "Subscribed" and self.repeat_activation_ok:
            return
        if subscription.status in ("Subscribed", "Suspended"):
            raise AzureError(400, "BadArgument", f"The SaaS subscription is already {subscription.status}.")
        subscription.status = "Subscribed"
        subscription.term_start = _stamp(self.now().replace(hour=0, minute=0, second=0, microsecond=0))
        self._sync_metering(subscription)

    def subscription(self, subscription_id: str, client_id: str) -> JSON:
        return self._subscription(subscription_id, client_id).body()

    def operation(self, subscription_id: str, operation_id: str, client_id: str) -> JSON:
        return self._operation(subscription_id, operation_id, client_id).body()

    def patch_operation(self, subscription_id: str, operation_id: str, payload: Any, client_id: str) -> None:
        operation = self._operation(subscription_id, operation_id, client_id)
        status = payload.get("status") if isinstance(payload, dict) else None
        if status not in ("Success", "Failure"):
            raise AzureError(400, "BadArgument", "status must be Success or Failure.", "status")
        if operation.status not in ("NotStarted", "InProgress"):
            raise AzureError(409, "Conflict", f"The operation is already {operation.status}.")
        operation.patched = status
        operation.status = "Succeeded" if status == "Success" else "Failed"
        if operation.status == "Succeeded":
            self._apply(self.subscriptions[operation.subscription_id], operation)

    # -- internals ----------------------------------------------------------------------------

    def _subscription(self, subscription_id: str, client_id: str | None = None) -> SaasSubscription:
        subscription = self.subscriptions.get(subscription_id)
        if subscription is None:
            raise AzureError(404, "NotFound", f"SaaS subscription {subscription_id} was not found.")
        if client_id is not None and subscription.client_id not in (None, client_id):
            raise AzureError(
                403, "Forbidden", "The offer of this SaaS subscription was published with another Microsoft Entra app."
            )
        return subscription

    def _operation(self, subscription_id: str, operation_id: str, client_id: str) -> Operation:
        self._subscription(subscription_id, client_id)
        operation = self.operations.get(operation_id)
        if operation is None or operation.subscription_id != subscription_id:
            raise AzureError(404, "NotFound", f"Operation {operation_id} was not found.")
        return operation

    def _apply(self, subscription: SaasSubscription, operation: Operation) -> None:
        action = operation.action
        if action == "ChangePlan":
            subscription.plan_id = operation.plan_id
        elif action == "ChangeQuantity":
            subscription.quantity = operation.quantity
        elif action == "Suspend":
            subscription.status = "Suspended"
        elif action == "Reinstate":
            subscription.status = "Subscribed"
        elif action == "Unsubscribe":
            subscription.status = "Unsubscribed"
        self._sync_metering(subscription)

    def _sync_metering(self, subscription: SaasSubscription) -> None:
        """The metering API meters only what fulfillment says is subscribed, to the current plan."""
        if subscription.status == "PendingFulfillmentStart":
            return
        held = self.metering.resources.get(subscription.id)
        resource = SaasResource(subscription.id, subscription.plan_id, client_id=subscription.client_id,
                                offer_id=subscription.offer_id, state=subscription.status)  # fmt: skip
        if held is not None:
            resource.dimensions = held.dimensions
        self.metering.add_resource(resource)


def _seats(value: Any) -> int | None:
    """Microsoft writes `quantity` as a number, a numeric string, or empty when the plan is not per seat."""
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        return -1  # never a purchased quantity
    try:
        return int(str(value))
    except ValueError:
        return -1


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
