"""Small helpers shared by the e2e tests: sample events with fresh ids, DLQ reads, polling."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from local.cli import request_json
from local.demo_data import demo_event
from shared.adapters.dynamodb import DynamoDBStore
from shared.domain.customers import Customer

T = TypeVar("T")


def poll_until(probe: Callable[[], T | None], *, timeout: float = 15.0, interval: float = 0.05, what: str = "") -> T:
    """The first truthy result of `probe()`; fails the test after `timeout` seconds (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or probe}")
        time.sleep(interval)


def sample_event(file_name: str = "finalized.json", **detail: Any) -> dict[str, Any]:
    """A sample event from events/invoice_router with a fresh invoice id (tests share one stack)."""
    event = demo_event(file_name)
    event["detail"].update({"id": f"inv_e2e_{uuid.uuid4().hex[:10]}", **detail})
    return event


def write_event(directory: Path, event: dict[str, Any]) -> str:
    path = directory / f"{event['detail']['id']}.json"
    path.write_text(json.dumps(event), encoding="utf-8")
    return str(path)


def dead_letters(api: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = request_json(api, "GET", "/_local/dlq")["messages"]
    return messages


def dead_letter_for(api: str, invoice_id: str) -> dict[str, Any] | None:
    for entry in dead_letters(api):
        body = entry["body"]
        if not isinstance(body, dict):
            continue
        event = body.get("requestPayload") or body  # an OnFailure record, or the rejected event itself
        if event.get("detail", {}).get("id") == invoice_id or body.get("invoice_id") == invoice_id:
            return entry
    return None


def customer_like(store: DynamoDBStore, template_id: str, **configuration: str) -> str:
    """A customer of its own (`cust_reconcile_…`, other tests share the stack), copied from the seeded
    `template_id` with only its first provider configuration, whose fields `configuration` changes."""
    template = store.get_customer(template_id)
    assert template is not None
    provider = template.billing_provider_configurations[0]
    changed = provider.model_copy(update={"configuration": provider.configuration.model_copy(update=configuration)})
    customer_id = f"cust_reconcile_{uuid.uuid4().hex[:8]}"
    copied = {**template.model_dump(), "id": customer_id, "billing_provider_configurations": [changed.model_dump()]}
    store.create_customer(Customer.model_validate(copied))
    return customer_id
