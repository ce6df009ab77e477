"""The router asks for a customer's alert evaluation after a new invoice version, only when an alert
can apply to the customer: its own (counted on its item, read with it) or one for every customer
(the account's count, read at most once a minute per warm Lambda). Duplicates and stale versions
ask nothing; a request that cannot be queued never fails the invoice."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from shared.api_wiring import invoice_alert_requests
from shared.observability import metrics
from shared.services.invoice_alert_requests import EVERY_CUSTOMER_MAX_AGE, EveryCustomerAlerts, InvoiceAlertRequests
from shared.services.route_invoice import RouterDependencies, route_invoice_event
from tests.alert_world import alert, audit
from tests.builders import STRIPE, configuration, contract, customer, invoice_event
from tests.fakes.memory_store import InMemoryStore, RecordingQueue

QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/alert-evaluation"


@dataclass
class Router:
    store: InMemoryStore = field(default_factory=InMemoryStore)
    now: datetime = datetime(2025, 3, 1, 0, 5, tzinfo=UTC)
    asked: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for customer_id in ("cust_quiet", "cust_watched"):
            self.store.create_customer(customer(customer_id, configuration(STRIPE, default=True)))
        self.requests = InvoiceAlertRequests(
            lambda customer_id, invoice_id: self.asked.append((customer_id, invoice_id)),
            EveryCustomerAlerts(self.store.count_alerts_for_every_customer, lambda: self.now),
        )

    def deps(self, requests: InvoiceAlertRequests | None = None) -> RouterDependencies:
        return RouterDependencies(
            store=self.store,
            stripe_queue=RecordingQueue(),
            dead_letters=RecordingQueue(),
            clock=lambda: self.now,
            alert_requests=requests or self.requests,
        )

    def route(self, invoice_id: str, customer_id: str, version: int = 1, **detail: Any) -> bool:
        event = invoice_event(id=invoice_id, customer_id=customer_id, version=version, **detail)
        return route_invoice_event(event, self.deps()).alert_evaluation_asked

    def add_alert(self, alert_id: str, customer_id: str | None) -> None:
        self.store.create_alert_audited(alert(alert_id, customer_id=customer_id), audit("alerts.create", alert_id))

    def archive(self, alert_id: str) -> None:
        self.store.archive_alert_audited(alert_id, self.now, audit("alerts.archive", alert_id))


@pytest.fixture
def router() -> Router:
    return Router()


def test_a_customer_without_alerts_asks_nothing_and_the_account_count_is_read_once_a_minute(router: Router) -> None:
    assert not router.route("inv_1", "cust_quiet")
    assert not router.route("inv_2", "cust_quiet", status="DRAFT")
    assert (router.asked, router.store.every_customer_count_reads) == ([], 1)
    router.now += EVERY_CUSTOMER_MAX_AGE
    assert not router.route("inv_3", "cust_quiet")
    assert router.store.every_customer_count_reads == 2


def test_a_customers_own_alert_asks_naming_the_invoice_without_reading_the_account_count(router: Router) -> None:
    router.add_alert("alert_own", "cust_watched")
    assert router.store.customers["cust_watched"].alert_count == 1
    assert router.route("inv_w", "cust_watched")
    assert not router.route("inv_q", "cust_quiet")  # another customer's alert does not apply
    assert router.asked == [("cust_watched", "inv_w")]
    router.archive("alert_own")
    router.archive("alert_own")  # twice: counted once
    assert router.store.customers["cust_watched"].alert_count == 0


def test_an_alert_for_every_customer_asks_for_each_once_the_cached_count_is_old(router: Router) -> None:
    assert not router.route("inv_1", "cust_quiet")  # reads and caches: none
    router.add_alert("alert_all", None)
    assert not router.route("inv_2", "cust_quiet")  # within the minute: still none
    router.now += EVERY_CUSTOMER_MAX_AGE
    assert router.route("inv_3", "cust_quiet")
    assert router.route("inv_4", "cust_watched")
    assert router.asked == [("cust_quiet", "inv_3"), ("cust_watched", "inv_4")]
    router.archive("alert_all")
    router.now += EVERY_CUSTOMER_MAX_AGE
    assert not router.route("inv_5", "cust_quiet")


def test_duplicates_and_stale_versions_ask_nothing_a_new_version_and_a_void_do(router: Router) -> None:
    router.add_alert("alert_own", "cust_watched")
    assert router.route("inv_1", "cust_watched", version=2)
    assert not router.route("inv_1", "cust_watched", version=2)  # duplicate
    assert not router.route("inv_1", "cust_watched", version=1)  # stale
    assert router.route("inv_1", "cust_watched", version=3, status="VOID", total="0.00")
    assert router.asked == [("cust_watched", "inv_1"), ("cust_watched", "inv_1")]


def test_a_stored_invoice_whose_provider_cannot_be_resolved_still_asks(router: Router) -> None:
    router.store.create_contract(contract("con_aws", "cust_watched", override="aws_marketplace"))
    router.add_alert("alert_own", "cust_watched")
    event = invoice_event(id="inv_1", customer_id="cust_watched", contract_id="con_aws")
    result = route_invoice_event(event, router.deps())
    assert (result.outcome, result.field) == ("rejected", "detail.contract_id")  # no AWS configuration
    assert result.alert_evaluation_asked  # stored all the same: its drawdowns count
    assert router.asked == [("cust_watched", "inv_1")]


def test_an_unreadable_account_count_asks_and_is_not_read_again_for_a_minute(router: Router) -> None:
    reads: list[datetime] = []

    def unreadable() -> int | None:
        reads.append(router.now)
        return None

    requests = InvoiceAlertRequests(router.requests.ask, EveryCustomerAlerts(unreadable, lambda: router.now))
    event = invoice_event(id="inv_1", customer_id="cust_quiet")
    assert route_invoice_event(event, router.deps(requests)).alert_evaluation_asked
    assert route_invoice_event(invoice_event(id="inv_2", customer_id="cust_quiet"), router.deps(requests))
    assert (len(reads), router.asked) == (1, [("cust_quiet", "inv_1"), ("cust_quiet", "inv_2")])


@pytest.fixture
def failing_sqs() -> Iterator[Any]:
    client = boto3.client("sqs", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    with Stubber(client) as stubber:
        for _ in range(5):
            stubber.add_client_error("send_message", service_error_code="ThrottlingException", http_status_code=400)
        yield client


def test_a_request_that_cannot_be_queued_is_counted_and_the_invoice_routed(router: Router, failing_sqs: Any) -> None:
    requests = invoice_alert_requests(QUEUE_URL, failing_sqs, router.store)
    assert requests is not None
    router.add_alert("alert_own", "cust_watched")
    metrics.clear_metrics()
    result = route_invoice_event(invoice_event(id="inv_1", customer_id="cust_watched"), router.deps(requests))
    assert (result.outcome, result.alert_evaluation_asked) == ("queued", True)
    stored = router.store.get_invoice("inv_1")
    assert stored is not None
    assert stored.version == 7
    assert "AlertEvaluationRequestsFailed" in metrics.metric_set
    metrics.clear_metrics()


def test_without_the_queue_url_the_router_asks_nothing(router: Router) -> None:
    assert invoice_alert_requests(None, boto3.client("sqs", region_name="us-east-1"), router.store) is None
