"""The Stripe double's webhooks are what Stripe sends: a receiver on loopback takes each request as it
arrives and the real SDK's `construct_event` (module and `StripeClient` forms) verifies it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import stripe

from local.stripe_double import StripeDouble
from local.stripe_double_wire import StripeError
from tests.fakes.stripe_sdk import client_for

SECRET = "whsec_capture_endpoint"


class _Capture(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((dict(self.headers.items()), body))  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def receiver() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def finalized_invoice(double: StripeDouble) -> str:
    client = client_for(double)
    customer = double.add_customer("cus_capture")
    invoice = client.v1.invoices.create(
        params={"customer": customer, "currency": "usd", "metadata": {"downbeat_invoice_id": "inv_capture"}}
    )
    assert invoice.id is not None
    client.v1.invoice_items.create(params={"customer": customer, "invoice": invoice.id, "amount": 1500})
    client.v1.invoices.finalize_invoice(invoice.id)
    return invoice.id


@pytest.mark.parametrize(
    ("action", "event_type", "status"),
    [
        ("pay", "invoice.paid", "paid"),
        ("fail-payment", "invoice.payment_failed", "open"),
        ("void", "invoice.voided", "void"),
        ("uncollectible", "invoice.marked_uncollectible", "uncollectible"),
    ],
)
def test_each_hand_action_sends_an_event_the_sdk_verifies(
    receiver: ThreadingHTTPServer, action: str, event_type: str, status: str
) -> None:
    with StripeDouble() as double:
        double.configure_webhooks(f"http://127.0.0.1:{receiver.server_address[1]}/hook", SECRET)
        invoice_id = finalized_invoice(double)
        delivery = double.hand_action(action, invoice_id)
    assert delivery.status == 200
    [(headers, body)] = receiver.received  # type: ignore[attr-defined]
    assert headers["Content-Type"].startswith("application/json")
    assert headers["Stripe-Signature"].startswith("t=")
    assert ",v1=" in headers["Stripe-Signature"]

    event = stripe.Webhook.construct_event(body, headers["Stripe-Signature"], SECRET)
    assert (event.type, event.data.object["id"], event.data.object["status"]) == (event_type, invoice_id, status)
    assert event.data.object["metadata"]["downbeat_invoice_id"] == "inv_capture"
    same = stripe.StripeClient("sk_test_x").construct_event(body, headers["Stripe-Signature"], SECRET)
    assert same.id == event.id == json.loads(body)["id"]
    assert same.id.startswith("evt_")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, headers["Stripe-Signature"], "whsec_someone_else")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body + b" ", headers["Stripe-Signature"], SECRET)


def test_a_failed_payment_is_attempted_and_still_owed_and_a_paid_one_is_not(receiver: ThreadingHTTPServer) -> None:
    with StripeDouble() as double:
        double.configure_webhooks(f"http://127.0.0.1:{receiver.server_address[1]}/hook", SECRET)
        invoice_id = finalized_invoice(double)
        double.hand_action("fail-payment", invoice_id)
        failed = client_for(double).v1.invoices.retrieve(invoice_id)
        assert (failed.status, failed.attempted, failed.amount_remaining) == ("open", True, 1500)
        double.hand_action("pay", invoice_id)
        paid = client_for(double).v1.invoices.retrieve(invoice_id)
        assert (paid.status, paid.amount_remaining, paid.attempt_count) == ("paid", 0, 2)


def test_a_transition_stripe_refuses_sends_nothing(receiver: ThreadingHTTPServer) -> None:
    with StripeDouble() as double:
        double.configure_webhooks(f"http://127.0.0.1:{receiver.server_address[1]}/hook", SECRET)
        invoice_id = finalized_invoice(double)
        double.hand_action("void", invoice_id)
        with pytest.raises(StripeError, match="only pay open or uncollectible"):
            double.hand_action("pay", invoice_id)
    assert len(receiver.received) == 1  # type: ignore[attr-defined]


def test_without_an_endpoint_the_action_happens_and_says_no_one_was_told() -> None:
    with StripeDouble() as double:
        invoice_id = finalized_invoice(double)
        delivery = double.hand_action("pay", invoice_id)
        assert double.invoice(invoice_id)["status"] == "paid"
    assert (delivery.status, delivery.error) == (None, "no webhook endpoint is configured")
