"""Invoice ids of any printable Unicode on every downstream path: the Stripe SDK and the double
(headers and metadata), the router → Stripe worker flow, SQS bodies and attributes, the sync API
with percent-encoded paths."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import stripe
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local.stripe_double import StripeDouble
from shared.adapters.sqs_queue import SqsQueue
from shared.domain.stripe_plan import METADATA_INVOICE_ID
from shared.domain.sync import ROUTER_DLQ, SyncAttempt
from shared.services.route_invoice import RouterDependencies, route_invoice_event
from shared.services.stripe_sync_dependencies import StripeSyncMessage
from tests.builders import invoice_event
from tests.fakes.memory_store import RecordingQueue
from tests.fakes.stripe_sdk import TEST_API_KEY
from tests.integration.api_harness import ApiClient, LocalApi
from tests.integration.stripe_harness import STRIPE_CUSTOMER, Harness, harness

HOSTILE_IDS = [
    "inv_Ω_ünïcødé",
    "請求書-2025-03",
    "\u0641\u0627\u062a\u0648\u0631\u0629_\u0667",  # right-to-left, an Arabic-Indic digit
    "inv_😀🧾",
    "e\u0301\u0301\u0301",  # combining marks
    "inv 7f3a/ß?#%&+",  # characters a URL or form must escape
    "inv:v1:create_draft:a1",
    "😀" * 256,
    "x" * 256,
]
printable_ids = st.text(
    st.characters(codec="utf-8", categories=("L", "M", "N", "P", "S", "Zs")), min_size=1, max_size=256
)


def assert_header_safe_keys(double: StripeDouble) -> None:
    for request in double.requests:
        if request.method == "POST":
            key = request.idempotency_key
            assert key is not None
            assert len(key) <= 255
            assert all(" " <= character <= "~" for character in key), key
            assert request.status == 200, (request.path, request.status)


# -- the SDK and the double ---------------------------------------------------------------------


@pytest.fixture
def double() -> Iterator[StripeDouble]:
    with StripeDouble() as running:
        running.add_customer(STRIPE_CUSTOMER)
        yield running


def client_for(double: StripeDouble) -> stripe.StripeClient:
    return stripe.StripeClient(TEST_API_KEY, base_addresses={"api": double.url}, max_network_retries=0)


def test_the_sdk_cannot_send_a_header_beyond_latin_1(double: StripeDouble) -> None:
    """Why the raw id never goes in the key: the SDK fails before sending (a connection error,
    which a worker would retry for ever)."""
    invoices = client_for(double).v1.invoices
    with pytest.raises(stripe.APIConnectionError) as raised:
        invoices.create(params={"customer": STRIPE_CUSTOMER}, options={"idempotency_key": "inv_Ω"})
    assert "UnicodeEncodeError" in str(raised.value)
    assert double.requests == []


@pytest.mark.parametrize("key", ["inv_ünï", "inv_\x7f", "k" * 256])
def test_the_double_refuses_a_key_stripe_would_not_take(double: StripeDouble, key: str) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client_for(double).v1.invoices.create(params={"customer": STRIPE_CUSTOMER}, options={"idempotency_key": key})
    assert raised.value.http_status == 400
    assert double.invoices() == []  # refused before anything was created


@pytest.mark.parametrize("invoice_id", HOSTILE_IDS)
def test_metadata_carries_any_id_and_listing_finds_it(double: StripeDouble, invoice_id: str) -> None:
    client = client_for(double)
    created = client.v1.invoices.create(
        params={"customer": STRIPE_CUSTOMER, "metadata": {METADATA_INVOICE_ID: invoice_id}},
        options={"idempotency_key": "k-1"},
    )
    assert created.to_dict()["metadata"] == {METADATA_INVOICE_ID: invoice_id}
    [listed] = client.v1.invoices.list(params={"customer": STRIPE_CUSTOMER}).data
    assert listed.to_dict()["metadata"] == {METADATA_INVOICE_ID: invoice_id}


def test_metadata_values_are_limited_to_500_characters(double: StripeDouble) -> None:
    client = client_for(double)
    client.v1.invoices.create(params={"customer": STRIPE_CUSTOMER, "metadata": {"k": "😀" * 500}})
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.create(params={"customer": STRIPE_CUSTOMER, "metadata": {"k": "😀" * 501}})


# -- the Stripe worker, through the real SDK --------------------------------------------------


@pytest.fixture
def h() -> Iterator[Harness]:
    with harness() as running:
        running.add_customer()
        yield running


@pytest.mark.parametrize("bulk_lines", [True, False], ids=["add_lines", "invoice_items"])
@pytest.mark.parametrize("invoice_id", HOSTILE_IDS)
def test_the_worker_syncs_an_invoice_of_any_id_exactly_once(h: Harness, invoice_id: str, bulk_lines: bool) -> None:
    h.deps.bulk_lines = bulk_lines
    line = {"id": invoice_id, "name": "Usage", "product_id": invoice_id, "quantity": "1", "total": "1234.56"}
    h.save_invoice(id=invoice_id, subtotal="1234.56", total="1234.56", line_items=[line], applied_credits=[])

    result = h.deliver(invoice_id)

    assert (result.status, result.failure_code) == ("synced", None)
    stripe_invoice = h.only_stripe_invoice(invoice_id)
    assert stripe_invoice["status"] == "open"
    assert stripe_invoice["total"] == 123456
    assert_header_safe_keys(h.double)
    # redelivered: found again by listing on its metadata, never a second invoice
    assert h.deliver(invoice_id).status == "synced"
    h.only_stripe_invoice(invoice_id)


def test_printable_unicode_ids_go_through_the_router_and_the_stripe_worker() -> None:
    with harness() as h:
        h.add_customer()
        stripe_queue = RecordingQueue()
        router = RouterDependencies(
            store=h.store, stripe_queue=stripe_queue, dead_letters=RecordingQueue(), clock=h.now
        )

        @settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
        @given(invoice_id=printable_ids)
        def route_and_sync(invoice_id: str) -> None:
            result = route_invoice_event(invoice_event(id=invoice_id), router)
            assert result.outcome in ("queued", "duplicate"), result
            if result.outcome == "queued":
                body, attributes = stripe_queue.messages[-1]
                assert attributes["invoice_id"] == invoice_id
                message = StripeSyncMessage.model_validate_json(json.dumps(body))
                assert h.deliver(message.invoice_id, version=message.version).status == "synced"
            sync = h.store.get_sync(invoice_id)
            assert sync is not None
            assert (sync.status, sync.dead_letter_queue) == ("synced", None)
            h.only_stripe_invoice(invoice_id)

        route_and_sync()
        assert_header_safe_keys(h.double)


# -- SQS ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("invoice_id", HOSTILE_IDS)
def test_sqs_bodies_and_attributes_carry_any_id(aws: None, invoice_id: str) -> None:
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="unicode-ids")["QueueUrl"]
    queue = SqsQueue(sqs, url)
    reason = f"invoice {invoice_id} rejected: detail.customer_id: unknown customer"
    queue.send({"invoice_id": invoice_id, "version": 7}, attributes={"invoice_id": invoice_id, "reason": reason})

    [message] = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"])["Messages"]

    assert json.loads(message["Body"]) == {"invoice_id": invoice_id, "version": 7}
    attributes = {name: value["StringValue"] for name, value in message["MessageAttributes"].items()}
    assert attributes == {"invoice_id": invoice_id, "reason": reason}


# -- the sync API: percent-encoded ids ------------------------------------------------------------


@pytest.mark.parametrize("invoice_id", HOSTILE_IDS)
def test_the_sync_status_answers_for_a_percent_encoded_id(local_api: LocalApi, api: ApiClient, invoice_id: str) -> None:
    local_api.store.record_rejection(
        invoice_id,
        reason=f"invoice {invoice_id} rejected: detail.customer_id: unknown customer 'cust_ghost'",
        attempt=SyncAttempt.model_validate({"at": "2025-03-01T00:00:00Z", "outcome": "rejected"}),
        dead_letter_queue=ROUTER_DLQ,
    )
    record: dict[str, Any] = api.get(f"/v1/invoices/{urllib.parse.quote(invoice_id, safe='')}/sync").data
    assert record["invoice_id"] == invoice_id
    assert (record["status"], record["dead_letter_queue"], record["provider"]) == ("failed", ROUTER_DLQ, None)
    assert invoice_id in record["reason"]


def test_an_id_never_received_is_404_even_at_the_longest(api: ApiClient) -> None:
    for invoice_id in ("🧾" * 256, "請求書-never"):  # ids no test of this module records
        assert api.get(f"/v1/invoices/{urllib.parse.quote(invoice_id, safe='')}/sync").error() == (404, None)
    assert api.get(f"/v1/invoices/{'x' * 257}/sync").error() == (404, None)  # no id is that long
    too_long = urllib.parse.quote("😀" * 257, safe="")  # longer than any encoded id: the path is refused
    assert api.get(f"/v1/invoices/{too_long}/sync").error() == (400, "invoice_id")


def test_the_openapi_document_shows_dead_letter_queue(api: ApiClient) -> None:
    document = api.get("/openapi.json", authorization=None).body
    schema = document["components"]["schemas"]["SyncRecord"]["properties"]["dead_letter_queue"]
    assert "downbeat dlq list" in schema["description"]
    assert {"RouterDLQ", "StripeSyncDLQ"} <= set(json.dumps(schema).replace('"', " ").split())
