"""Property tests of the router: every field of the invoice event, from the event model's own JSON
schema, broken in every way tests/hostile.py knows — each event is rejected to the DLQ naming
that field with nothing stored, or accepted and stored so that it reads back. Never an exception."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings

from shared.api.schemas import InvoiceView
from shared.domain.invoice import Invoice, InvoiceEvent
from shared.domain.types import STORAGE
from shared.services.route_invoice import RouterDependencies, route_invoice_event
from tests.builders import STRIPE, configuration, contract, customer, invoice_event
from tests.fakes.memory_store import InMemoryStore, RecordingQueue
from tests.hostile import COVERED, Bounds, Field, Mutation, any_mutation, apply, catalog, fields, names_field

NOW = datetime(2025, 3, 1, 0, 5, tzinfo=UTC)
MODEL = "InvoiceEvent"
_LINE = {
    "id": "li_2",
    "name": "Storage",
    "product_id": "prod_storage",
    "quantity": "10",
    "unit_price": "2.5",
    "total": "25.00",
    "custom_fields": {"team": "ml"},
    "buckets": [
        {
            "starting_at": "2025-02-01T00:00:00Z",
            "ending_before": "2025-02-02T00:00:00Z",
            "quantity": "10",
            "total": "25",
        },
    ],
}
BASE: dict[str, Any] = invoice_event(contract_id="con_acme_2025", subtotal="1555.0045", total="1259.56")
BASE["detail"]["line_items"].append(_LINE)
BASE["detail"]["applied_credits"][0]["name"] = "2025 commit"
FIELDS: list[Field] = list(fields(InvoiceEvent.model_json_schema(by_alias=True), base=BASE))

# The event model's rules across fields: breaking the first may be reported on the second.
RELATED = [
    (r"detail\.start_timestamp", r"detail\.end_timestamp"),
    (r"detail\.line_items\.\d+\.buckets\.\d+\.starting_at", r"detail\.line_items\.\d+\.buckets\.\d+\.ending_before"),
    (r"detail-type", r"detail\.status"),
    (r"detail\.currency", r"detail\.total"),
    (r"detail\.line_items\.\d+\.id", r"detail\.line_items\.\d+\.id"),  # a duplicate names the later line
]


# Which fields are ids and names (the envelope's own `id` is EventBridge's, not ours).
BOUNDS = Bounds(
    ids=r"detail\.(.+\.)?(id|customer_id|contract_id|product_id)",
    names=r"detail\.(line_items|applied_credits)\.\d+\.name",
)


def _deps() -> tuple[RouterDependencies, InMemoryStore, RecordingQueue, RecordingQueue]:
    store = InMemoryStore()
    store.create_customer(customer("cust_acme", configuration(STRIPE, default=True)))
    store.create_contract(contract("con_acme_2025", "cust_acme"))
    stripe, dead_letters = RecordingQueue(), RecordingQueue()
    return RouterDependencies(store, stripe, dead_letters, lambda: NOW), store, stripe, dead_letters


def check(mutation: Mutation, field: Field | None = None) -> str | None:
    """None when the router handled the broken event as the contract says, else what went wrong."""
    deps, store, stripe, dead_letters = _deps()
    event = apply(BASE, mutation)
    try:
        result = route_invoice_event(event, deps)
    except Exception as error:  # the property: nothing escapes (it would be a traceback and a retry)
        return f"raised {type(error).__name__}: {str(error)[:200]}"
    if result.outcome == "rejected":
        if len(dead_letters.messages) != 1:
            return f"rejected with {len(dead_letters.messages)} DLQ messages"
        body, attributes = dead_letters.messages[0]
        json.dumps(body, sort_keys=True, default=str)  # what the SQS adapter sends must serialize
        if not names_field(attributes.get("field"), mutation, RELATED):
            return f"rejection names {attributes.get('field')!r}: {attributes.get('reason')}"
        if "Traceback" in attributes["reason"]:
            return "the reason is a traceback"
        if store.invoices or store.outbox or stripe.messages:
            return "a rejected event left something stored or queued"
        # The one trace a rejection leaves: its invoice's sync status says failed, with the DLQ.
        for sync in store.syncs.values():
            if (sync.status, sync.dead_letter_queue) != ("failed", "RouterDLQ"):
                return f"a rejection left the sync status {sync.status} ({sync.dead_letter_queue})"
        return None
    if dead_letters.messages:
        return f"{result.outcome} but dead-lettered too"
    if field is not None and BOUNDS.refuses(field, mutation):
        return f"accepted ({result.outcome}) although out of bounds"
    (stored,) = store.invoices.values()
    # Accepted: what was stored must read back from its stored text and render as the API shows it.
    if Invoice.model_validate_json(stored.model_dump_json(context=STORAGE)) != stored:
        return "the stored invoice does not read back as itself"
    InvoiceView.of(stored).model_dump_json()
    return None


@pytest.mark.parametrize("field", FIELDS, ids=lambda field: field.dotted)
def test_every_field_of_the_event_against_the_catalog(field: Field) -> None:
    COVERED.setdefault(MODEL, set()).add(field.dotted)
    problems = [f"{mutation.dotted} = {mutation.value!r:.80}: {problem}" for mutation in catalog(field)
                if (problem := check(mutation, field))]  # fmt: skip
    assert not problems, "\n".join(problems)


@settings(max_examples=200)
@given(broken=any_mutation(FIELDS))
def test_generated_hostile_events(broken: tuple[Field, Mutation]) -> None:
    field, mutation = broken
    COVERED.setdefault(MODEL, set()).add(field.dotted)
    problem = check(mutation, field)
    assert problem is None, problem


def test_the_schema_walk_reaches_every_level_of_the_event() -> None:
    paths = {field.dotted for field in FIELDS}
    assert {
        "detail-type",
        "detail.start_timestamp",
        "detail.version",
        "detail.line_items.1.buckets.0.starting_at",
        "detail.line_items.0.custom_fields",
        "detail.applied_credits.0.amount",
        "detail.custom_fields.region",
    } <= paths
    assert check(Mutation(("detail", "version"), 8)) is None  # the base itself is accepted
