"""`downbeat send-event --claim-check`: the event's line items go to the stack's claim-check bucket
and the event carries `line_items: []` and `line_items_uri` instead, as an upstream producer does
with an invoice too large for EventBridge. Nothing is validated here: whatever `line_items` holds
is uploaded, so the router judges it (and names `detail.line_items_uri` when it is not an array)."""

from __future__ import annotations

import hashlib
import json
import sys
import uuid
from collections.abc import Callable
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError


def with_claim_check(envelope: Any, bucket_info: Callable[[], dict[str, str]], failed: type[Exception]) -> Any:
    """The envelope to send: its line items uploaded, the claim check in their place. `bucket_info`
    asks the stack where; `failed` is the error to raise when the upload fails."""
    detail = envelope.get("detail") if isinstance(envelope, dict) else None
    if not isinstance(detail, dict):
        print("downbeat send-event: no detail object to take line items from; sent as given", file=sys.stderr)
        return envelope
    target = bucket_info()
    invoice = detail.get("id")
    # Ids may be any Unicode: the key carries a hash of the id, never the id.
    owner = hashlib.sha256(str(invoice).encode("utf-8", "surrogatepass")).hexdigest()[:16]
    key = f"claim-checks/{owner}/{uuid.uuid4().hex}.json"
    body = json.dumps(detail.get("line_items"), separators=(",", ":")).encode()
    # moto takes any credentials: the user's own never reach the local stack.
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=target["region"]
    )
    s3 = session.client("s3", endpoint_url=target["endpoint_url"])
    try:
        s3.put_object(Bucket=target["bucket"], Key=key, Body=body, ContentType="application/json")
    except (BotoCoreError, ClientError) as error:
        raise failed(f"uploading the line items to s3://{target['bucket']} failed: {error}") from None
    uri = f"s3://{target['bucket']}/{key}"
    print(f"downbeat send-event: {len(body):,} bytes of line items in the claim check {uri}", file=sys.stderr)
    return {**envelope, "detail": {**detail, "line_items": [], "line_items_uri": uri}}
