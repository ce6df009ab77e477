"""AWS Marketplace lifecycle messages, read into one shape (docs/listings.md, "AWS lifecycle").

Two sources: EventBridge events of `source: aws.agreement-marketplace` (four detail-types), and,
for legacy products, SNS notifications of the `aws-mp-subscription-notification` topic delivered
through an SQS queue (the SNS envelope, whose `Message` is JSON text holding `action`,
`customer-identifier` and `product-code`). A message missing what its kind needs is malformed:
`FieldError` naming the field. No I/O here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from shared.domain.registrations import full_licence_arn, licence_id
from shared.domain.timestamps import parse_rfc3339
from shared.domain.validation import FieldError

EVENT_SOURCE = "aws.agreement-marketplace"
AGREEMENT_CREATED = "Purchase Agreement Created - Manufacturer"
AGREEMENT_ENDED = "Purchase Agreement Ended - Manufacturer"
LICENSE_UPDATED = "License Updated - Manufacturer"
LICENSE_DEPROVISIONED = "License Deprovisioned - Manufacturer"
DETAIL_TYPES = (AGREEMENT_CREATED, AGREEMENT_ENDED, LICENSE_UPDATED, LICENSE_DEPROVISIONED)
SNS_ACTIONS = ("subscribe-success", "subscribe-fail", "unsubscribe-pending", "unsubscribe-success")
# An agreement that ends because another one takes over (a renewal, a replacement) ends nothing.
CONTINUED_STATUSES = frozenset({"RENEWED", "REPLACED"})
MAX_TEXT = 2048

Kind = Literal[
    "agreement_created",
    "agreement_ended",
    "license_updated",
    "license_deprovisioned",
    "subscribe-success",
    "subscribe-fail",
    "unsubscribe-pending",
    "unsubscribe-success",
]
_KINDS: dict[str, Kind] = {
    AGREEMENT_CREATED: "agreement_created",
    AGREEMENT_ENDED: "agreement_ended",
    LICENSE_UPDATED: "license_updated",
    LICENSE_DEPROVISIONED: "license_deprovisioned",
}


@dataclass(frozen=True)
class LifecycleMessage:
    kind: Kind
    source: Literal["aws_event", "aws_sns"]
    message_id: str
    at: datetime
    account: str | None = None  # the acceptor (buyer) account
    agreement_id: str | None = None
    agreement_status: str | None = None
    licence_arn: str | None = None  # in full `arn:` form
    licence_id: str | None = None
    product_code: str | None = None
    customer_identifier: str | None = None

    @property
    def continues(self) -> bool:
        """An Ended agreement that another one carries on: nothing changes."""
        return self.kind == "agreement_ended" and self.agreement_status in CONTINUED_STATUSES


def _text(node: Any, path: str) -> str:
    value: Any = node
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT:
        raise FieldError(path, f"is required: a non-empty string of at most {MAX_TEXT} characters")
    return value


def _optional(node: Any, path: str) -> str | None:
    try:
        return _text(node, path)
    except FieldError:
        return None


def _time(node: Any, path: str) -> datetime:
    text = _text(node, path)
    try:
        return parse_rfc3339(text)
    except ValueError:
        raise FieldError(path, "must be an RFC 3339 timestamp") from None


def parse_event(event: Mapping[str, Any]) -> LifecycleMessage:
    """An EventBridge event of one of the four detail-types; FieldError when malformed."""
    detail_type = _text(event, "detail-type")
    kind = _KINDS.get(detail_type)
    if kind is None:
        raise FieldError("detail-type", f"is not one of {', '.join(DETAIL_TYPES)}")
    if not isinstance(event.get("detail"), Mapping):
        raise FieldError("detail", "is required: an object")
    common = {"kind": kind, "source": "aws_event", "message_id": _text(event, "id"), "at": _time(event, "time")}
    if kind in {"agreement_created", "agreement_ended"}:
        return LifecycleMessage(
            **common,  # type: ignore[arg-type]
            account=_text(event, "detail.agreement.acceptor.accountId"),
            agreement_id=_text(event, "detail.agreement.id"),
            agreement_status=_optional(event, "detail.agreement.status"),
            product_code=_optional(event, "detail.product.code"),
        )
    arn = _optional(event, "detail.license.licenseArn")
    identifier = _optional(event, "detail.license.id") or licence_id(arn)
    if identifier is None:
        raise FieldError("detail.license.id", "is required (or detail.license.licenseArn ending in the licence id)")
    if kind == "license_updated" and arn is None:
        raise FieldError("detail.license.licenseArn", "is required: the licence's new ARN")
    account = _optional(event, "detail.acceptor.accountId") or _optional(event, "detail.agreement.acceptor.accountId")
    if account is None:
        raise FieldError("detail.acceptor.accountId", "is required: the buyer's AWS account")
    return LifecycleMessage(
        **common,  # type: ignore[arg-type]
        account=account,
        agreement_id=_optional(event, "detail.agreement.id"),
        licence_arn=None if arn is None else full_licence_arn(arn),
        licence_id=identifier,
    )


def parse_sns_body(body: str) -> LifecycleMessage:
    """An SQS message body holding the SNS envelope of a subscription notification."""
    try:
        envelope = json.loads(body)
    except ValueError:
        raise FieldError(None, "the message body is not JSON (an SNS envelope)") from None
    if not isinstance(envelope, Mapping):
        raise FieldError(None, "the message body is not an SNS envelope (a JSON object)")
    text = _text(envelope, "Message")
    try:
        message = json.loads(text)
    except ValueError:
        raise FieldError("Message", "is not JSON") from None
    if not isinstance(message, Mapping):
        raise FieldError("Message", "is not a JSON object")
    action = _text(message, "action")
    if action not in SNS_ACTIONS:
        raise FieldError("Message.action", f"is not one of {', '.join(SNS_ACTIONS)}")
    try:
        customer_identifier = _text(message, "customer-identifier")
        product_code = _text(message, "product-code")
    except FieldError as missing:
        raise FieldError(f"Message.{missing.field}", missing.message) from None
    return LifecycleMessage(
        kind=action,  # type: ignore[arg-type]
        source="aws_sns",
        message_id=_text(envelope, "MessageId"),
        at=_time(envelope, "Timestamp"),
        customer_identifier=customer_identifier,
        product_code=product_code,
    )
