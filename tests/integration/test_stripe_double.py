"""The Stripe double speaks Stripe's wire format to the real ``stripe`` SDK (loopback only)."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import stripe

from local.stripe_double import IDEMPOTENCY_TTL_SECONDS, ManualClock, RequestView, StripeDouble
from tests.fakes.stripe_sdk import client_for, instant_sdk_retries

CUSTOMER = "cus_N1"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def double(clock: ManualClock) -> Iterator[StripeDouble]:
    with StripeDouble(clock=clock, seed=7) as running:
        running.add_customer(CUSTOMER)
        yield running


@pytest.fixture
def client(double: StripeDouble) -> stripe.StripeClient:
    return client_for(double)


def draft(client: stripe.StripeClient, **params: Any) -> stripe.Invoice:
    defaults: dict[str, Any] = {
        "customer": CUSTOMER,
        "currency": "usd",
        "auto_advance": False,
        "pending_invoice_items_behavior": "exclude",
        "metadata": {"downbeat_invoice_id": "inv_1"},
    }
    return client.v1.invoices.create(params={**defaults, **params})  # type: ignore[arg-type]


def metadata_of(obj: stripe.Invoice) -> dict[str, str]:
    assert obj.metadata is not None
    return {key: str(value) for key, value in obj.metadata.to_dict().items()}


def line_count(double: StripeDouble, invoice_id: str) -> int:
    return len(double.invoice_items(invoice=invoice_id))


def lines(count: int, amount: int = 100) -> list[Any]:
    return [{"amount": amount, "description": f"line {i}"} for i in range(count)]


# ---- drafts, items, lines -------------------------------------------------------------------


def test_draft_with_exclude_never_sweeps_a_stray_pending_item(
    client: stripe.StripeClient, double: StripeDouble
) -> None:
    stray = client.v1.invoice_items.create(params={"customer": CUSTOMER, "currency": "usd", "amount": 999})

    invoice = draft(client)
    invoice = client.v1.invoices.add_lines(invoice.id, params={"lines": lines(2)})

    assert invoice.object == "invoice"
    assert invoice.id.startswith("in_")
    assert invoice.status == "draft"
    assert invoice.auto_advance is False
    assert metadata_of(invoice) == {"downbeat_invoice_id": "inv_1"}
    assert (invoice.subtotal, invoice.total, invoice.amount_due) == (200, 200, 200)
    assert [line.id[:3] for line in invoice.lines.data] == ["il_", "il_"]
    pending = double.invoice_items(pending=True)
    assert [item["id"] for item in pending] == [stray.id]
    assert pending[0]["invoice"] is None


def test_include_behaviour_sweeps_pending_items_of_the_currency(client: stripe.StripeClient) -> None:
    client.v1.invoice_items.create(params={"customer": CUSTOMER, "currency": "usd", "amount": 500})
    client.v1.invoice_items.create(params={"customer": CUSTOMER, "currency": "eur", "amount": 700})

    invoice = draft(client, pending_invoice_items_behavior="include")

    assert invoice.total == 500


def test_remove_lines_deletes_or_unassigns_lines_of_a_draft_only(
    client: stripe.StripeClient, double: StripeDouble
) -> None:
    invoice = client.v1.invoices.add_lines(draft(client).id, params={"lines": lines(3, amount=100)})
    listed = client.v1.invoices.line_items.list(invoice.id).data
    first, second, third = (str(line.id) for line in listed)

    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.invoices.remove_lines(
            invoice.id, params={"lines": [{"id": first, "behavior": "delete"}, {"id": "il_nope", "behavior": "delete"}]}
        )
    assert missing.value.code == "resource_missing"
    assert line_count(double, invoice.id) == 3  # all or nothing

    updated = client.v1.invoices.remove_lines(
        invoice.id,
        params={
            "lines": [{"id": first, "behavior": "delete"}, {"id": second, "behavior": "unassign"}],
            "invoice_metadata": {"downbeat_invoice_version": "8"},
        },
    )

    assert (updated.total, metadata_of(updated)["downbeat_invoice_version"]) == (100, "8")
    assert [item["amount"] for item in double.invoice_items(pending=True)] == [100]  # unassigned, kept
    assert len(double.invoice_items()) == 2  # the deleted one is gone
    client.v1.invoices.finalize_invoice(invoice.id)
    with pytest.raises(stripe.InvalidRequestError) as final:
        client.v1.invoices.remove_lines(invoice.id, params={"lines": [{"id": third, "behavior": "delete"}]})
    assert final.value.code == "invoice_not_editable"


def test_add_lines_cap_per_call_is_enforced(clock: ManualClock) -> None:
    with StripeDouble(clock=clock, add_lines_max_per_call=5) as capped:
        capped.add_customer(CUSTOMER)
        client = client_for(capped)
        invoice = draft(client)

        with pytest.raises(stripe.InvalidRequestError) as raised:
            client.v1.invoices.add_lines(invoice.id, params={"lines": lines(6)})
        assert raised.value.http_status == 400
        assert raised.value.param == "lines"
        assert line_count(capped, invoice.id) == 0  # nothing half-applied

        updated = client.v1.invoices.add_lines(
            invoice.id, params={"lines": lines(5), "invoice_metadata": {"lines_sent": "5"}}
        )
        assert line_count(capped, invoice.id) == 5
        assert metadata_of(updated)["lines_sent"] == "5"


def test_add_lines_attaches_an_existing_pending_item_and_rejects_bad_lines(
    client: stripe.StripeClient,
) -> None:
    pending = client.v1.invoice_items.create(params={"customer": CUSTOMER, "currency": "usd", "amount": 40})
    invoice = draft(client)

    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.invoices.add_lines(invoice.id, params={"lines": [{"amount": 1}, {"description": "no amount"}]})
    assert (raised.value.code, raised.value.param) == ("parameter_missing", "lines[1][amount]")

    updated = client.v1.invoices.add_lines(invoice.id, params={"lines": [{"invoice_item": pending.id}]})
    assert updated.total == 40
    assert client.v1.invoice_items.retrieve(pending.id).invoice == invoice.id


def test_invoice_items_made_with_invoice_param_belong_to_that_invoice(
    client: stripe.StripeClient, double: StripeDouble
) -> None:
    invoice = draft(client)
    other = draft(client, metadata={"downbeat_invoice_id": "inv_2"})
    made = [
        client.v1.invoice_items.create(
            params={"customer": CUSTOMER, "invoice": invoice.id, "amount": amount, "description": "usage"}
        )
        for amount in (1_000, -250)
    ]
    client.v1.invoice_items.create(params={"customer": CUSTOMER, "invoice": other.id, "amount": 5})

    listed = client.v1.invoice_items.list(params={"invoice": invoice.id})
    assert {item.id for item in listed.data} == {item.id for item in made}
    assert all(item.object == "invoiceitem" and item.id.startswith("ii_") for item in listed.data)
    assert client.v1.invoices.retrieve(invoice.id).total == 750

    client.v1.invoice_items.delete(made[1].id)
    assert client.v1.invoices.retrieve(invoice.id).total == 1_000
    assert double.find_invoice("downbeat_invoice_id", "inv_2") is not None


def test_unknown_customer_is_a_400_resource_missing_naming_customer(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        draft(client, customer="cus_missing")

    assert raised.value.http_status == 400
    assert (raised.value.code, raised.value.param) == ("resource_missing", "customer")
    assert str(raised.value.request_id).startswith("req_")


def test_missing_invoice_in_the_url_is_a_404(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.invoices.retrieve("in_missing")

    assert (raised.value.http_status, raised.value.code) == (404, "resource_missing")


def test_days_until_due_is_rejected_with_charge_automatically(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        draft(client, collection_method="charge_automatically", days_until_due=30)
    assert raised.value.param == "days_until_due"

    invoice = draft(client, collection_method="send_invoice", days_until_due=30)
    assert invoice.due_date == invoice.created + 30 * 86_400


def test_unknown_parameters_are_rejected(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        draft(client, days_untill_due=3)

    assert (raised.value.code, raised.value.param) == ("parameter_unknown", "days_untill_due")


def test_automatic_tax_adds_tax_and_refuses_negative_items(client: stripe.StripeClient) -> None:
    invoice = draft(client, automatic_tax={"enabled": True})
    invoice = client.v1.invoices.add_lines(invoice.id, params={"lines": [{"amount": 1_000}]})

    assert invoice.automatic_tax.enabled is True
    assert (invoice.total_excluding_tax, invoice.total) == (1_000, 1_100)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.add_lines(invoice.id, params={"lines": [{"amount": -100}]})


# ---- lists and pagination -------------------------------------------------------------------


def test_list_is_newest_first_with_cursors(client: stripe.StripeClient, double: StripeDouble) -> None:
    double.add_customer("cus_other")
    made = [draft(client, metadata={"downbeat_invoice_id": f"inv_{i}"}).id for i in range(5)]
    draft(client, customer="cus_other")

    first = client.v1.invoices.list(params={"customer": CUSTOMER, "limit": 2})
    assert [i.id for i in first.data] == made[::-1][:2]
    assert first.has_more is True
    assert first.url == "/v1/invoices"
    second = client.v1.invoices.list(params={"customer": CUSTOMER, "limit": 2, "starting_after": first.data[-1].id})
    assert [i.id for i in second.data] == made[::-1][2:4]
    back = client.v1.invoices.list(params={"customer": CUSTOMER, "limit": 2, "ending_before": made[2]})
    assert [i.id for i in back.data] == [made[4], made[3]]
    everything = client.v1.invoices.list(params={"customer": CUSTOMER, "limit": 2})
    assert [i.id for i in everything.auto_paging_iter()] == made[::-1]
    drafts = client.v1.invoices.list(params={"customer": CUSTOMER, "status": "open"})
    assert drafts.data == []


def test_invoice_lines_are_paginated(client: stripe.StripeClient) -> None:
    invoice = draft(client)
    client.v1.invoices.add_lines(invoice.id, params={"lines": lines(25, amount=3)})

    retrieved = client.v1.invoices.retrieve(invoice.id)
    assert (len(retrieved.lines.data), retrieved.lines.has_more) == (10, True)
    page = client.v1.invoices.line_items.list(invoice.id, params={"limit": 20})
    assert (len(page.data), page.has_more) == (20, True)
    assert sum(line.amount for line in page.auto_paging_iter()) == 75


# ---- idempotency ----------------------------------------------------------------------------


def test_same_key_same_params_replays_the_saved_response(client: stripe.StripeClient, double: StripeDouble) -> None:
    params: dict[str, Any] = {"customer": CUSTOMER, "currency": "usd", "metadata": {"downbeat_invoice_id": "i"}}
    first = client.v1.invoices.create(params=params, options={"idempotency_key": "create-i"})  # type: ignore[arg-type]
    again = client.v1.invoices.create(params=params, options={"idempotency_key": "create-i"})  # type: ignore[arg-type]

    assert again.id == first.id
    assert len(double.invoices()) == 1
    assert again.last_response is not None
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    assert [r.replayed for r in double.calls("POST", "/v1/invoices")] == [False, True]


def test_same_key_with_other_params_is_an_idempotency_error(client: stripe.StripeClient) -> None:
    client.v1.invoices.create(params={"customer": CUSTOMER}, options={"idempotency_key": "k"})

    with pytest.raises(stripe.IdempotencyError) as raised:
        client.v1.invoices.create(params={"customer": CUSTOMER, "description": "x"}, options={"idempotency_key": "k"})
    assert raised.value.http_status == 400


def test_a_500_after_apply_is_saved_and_replayed_under_its_key(
    client: stripe.StripeClient, double: StripeDouble
) -> None:
    fault = double.fail_after_apply(method="POST", path="/v1/invoices")
    retrying = client_for(double, max_network_retries=2)

    with pytest.raises(stripe.APIError) as raised:
        retrying.v1.invoices.create(params={"customer": CUSTOMER}, options={"idempotency_key": "k500"})
    assert raised.value.http_status == 500
    assert raised.value.headers is not None
    assert raised.value.headers["Stripe-Should-Retry"] == "false"  # so the SDK did not retry
    assert fault.fired == 1
    assert len(double.invoices()) == 1  # applied although the client saw a 500

    with pytest.raises(stripe.APIError) as replayed:
        retrying.v1.invoices.create(params={"customer": CUSTOMER}, options={"idempotency_key": "k500"})
    assert replayed.value.headers is not None
    assert replayed.value.headers["Idempotent-Replayed"] == "true"
    assert len(double.invoices()) == 1
    assert [r.status for r in double.calls("POST", "/v1/invoices")] == [500, 500]


def test_keys_expire_after_24_hours(client: stripe.StripeClient, double: StripeDouble, clock: ManualClock) -> None:
    params: dict[str, Any] = {"customer": CUSTOMER}
    first = client.v1.invoices.create(params=params, options={"idempotency_key": "day"})  # type: ignore[arg-type]

    clock.advance(IDEMPOTENCY_TTL_SECONDS - 1)
    assert client.v1.invoices.create(params=params, options={"idempotency_key": "day"}).id == first.id  # type: ignore[arg-type]
    clock.advance(1)
    later = client.v1.invoices.create(params=params, options={"idempotency_key": "day"})  # type: ignore[arg-type]

    assert later.id != first.id
    assert len(double.invoices()) == 2


# ---- transitions ----------------------------------------------------------------------------


def test_finalize_void_delete_and_their_errors(
    client: stripe.StripeClient, double: StripeDouble, clock: ManualClock
) -> None:
    invoice = draft(client)
    client.v1.invoices.add_lines(invoice.id, params={"lines": lines(1, amount=500)})
    item_id = double.invoice_items(invoice=invoice.id)[0]["id"]
    clock.advance(60)

    final = client.v1.invoices.finalize_invoice(invoice.id, params={"auto_advance": True})
    assert final.status == "open"
    assert final.auto_advance is True
    assert final.number
    assert final.status_transitions.finalized_at == int(clock())
    assert final.effective_at == int(clock())  # unset → finalization time

    for attempt, code in (
        (lambda: client.v1.invoices.finalize_invoice(invoice.id), "status_transition_invalid"),
        (lambda: client.v1.invoices.add_lines(invoice.id, params={"lines": lines(1)}), "invoice_not_editable"),
        (lambda: client.v1.invoices.update(invoice.id, params={"effective_at": 1}), "invoice_not_editable"),
        (lambda: client.v1.invoices.delete(invoice.id), "invoice_not_editable"),
        (lambda: client.v1.invoice_items.delete(item_id), "invoice_not_editable"),
    ):
        with pytest.raises(stripe.InvalidRequestError) as raised:
            attempt()
        assert (raised.value.http_status, raised.value.code) == (400, code)

    noted = client.v1.invoices.update(invoice.id, params={"metadata": {"note": "ok"}})
    assert metadata_of(noted)["note"] == "ok"
    voided = client.v1.invoices.void_invoice(invoice.id)
    assert voided.status == "void"
    assert voided.status_transitions.voided_at == int(clock())
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.void_invoice(invoice.id)


def test_deleting_a_draft_removes_it_and_voiding_a_draft_fails(client: stripe.StripeClient) -> None:
    invoice = draft(client)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.void_invoice(invoice.id)

    deleted = client.v1.invoices.delete(invoice.id)

    assert deleted.deleted is True
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.invoices.retrieve(invoice.id)
    assert raised.value.http_status == 404


def test_zero_total_finalizes_to_paid_and_a_set_effective_at_is_kept(client: stripe.StripeClient) -> None:
    invoice = draft(client, effective_at=1_700_000_000)

    final = client.v1.invoices.finalize_invoice(invoice.id)

    assert final.status == "paid"
    assert final.effective_at == 1_700_000_000


# ---- Stripe's limits ------------------------------------------------------------------------


def test_an_invoice_holds_at_most_250_items(client: stripe.StripeClient, double: StripeDouble) -> None:
    invoice = draft(client)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.add_lines(invoice.id, params={"lines": lines(251)})

    client.v1.invoices.add_lines(invoice.id, params={"lines": lines(250)})
    assert line_count(double, invoice.id) == 250

    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.invoice_items.create(params={"customer": CUSTOMER, "invoice": invoice.id, "amount": 1})
    assert raised.value.param == "invoice"


def test_three_decimal_currencies_take_only_multiples_of_ten(client: stripe.StripeClient) -> None:
    invoice = draft(client, currency="KWD")
    assert invoice.currency == "kwd"

    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.invoice_items.create(params={"customer": CUSTOMER, "invoice": invoice.id, "amount": 1_005})
    assert raised.value.param == "amount"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.add_lines(invoice.id, params={"lines": [{"amount": 7}]})

    item = client.v1.invoice_items.create(params={"customer": CUSTOMER, "invoice": invoice.id, "amount": 1_010})
    assert (item.amount, item.currency) == (1_010, "kwd")


def test_rate_limit_surfaces_as_rate_limit_error_and_is_not_retried(
    client: stripe.StripeClient, double: StripeDouble, clock: ManualClock
) -> None:
    double.set_rate_limit(2)
    client.v1.invoices.list()
    client.v1.invoices.list()

    with pytest.raises(stripe.RateLimitError) as raised:
        client.v1.invoices.list()
    assert raised.value.http_status == 429
    assert raised.value.code is None  # the SDK does not copy `code` onto RateLimitError …
    assert raised.value.error is not None
    assert raised.value.error.code == "rate_limit"  # … it is on the error object
    assert raised.value.headers is not None
    assert "Retry-After" not in raised.value.headers
    assert "Stripe-Should-Retry" not in raised.value.headers

    with instant_sdk_retries(), pytest.raises(stripe.RateLimitError):
        client_for(double, max_network_retries=3).v1.invoices.list()
    assert len(double.requests) == 4  # the SDK did not retry the 429

    clock.advance(1)
    assert client.v1.invoices.list().data == []


# ---- faults ---------------------------------------------------------------------------------


def test_drop_after_apply_is_a_connection_error_with_the_object_created(
    client: stripe.StripeClient, double: StripeDouble
) -> None:
    double.drop_after_apply(method="POST", path="/v1/invoices")

    with pytest.raises(stripe.APIConnectionError):
        draft(client)

    created = double.find_invoice("downbeat_invoice_id", "inv_1")
    assert created is not None
    assert created["status"] == "draft"
    assert double.requests[-1].status is None
    assert double.requests[-1].invoice_id == created["id"]


def test_sdk_retry_after_a_drop_gets_the_saved_response(double: StripeDouble) -> None:
    double.drop_after_apply(method="POST", path="/v1/invoices")

    with instant_sdk_retries():
        invoice = draft(client_for(double, max_network_retries=1))

    assert [i["id"] for i in double.invoices()] == [invoice.id]
    assert [r.replayed for r in double.calls("POST", "/v1/invoices")] == [False, True]


def test_drop_before_applies_nothing(client: stripe.StripeClient, double: StripeDouble) -> None:
    double.drop_before(method="POST")

    with pytest.raises(stripe.APIConnectionError):
        draft(client)
    assert double.invoices() == []


def test_fail_before_is_not_saved_so_the_sdk_retry_succeeds(double: StripeDouble) -> None:
    fault = double.fail_before(method="POST", path="/v1/invoices", status=503)

    with instant_sdk_retries():
        invoice = draft(client_for(double, max_network_retries=2))

    assert fault.fired == 1
    assert [i["id"] for i in double.invoices()] == [invoice.id]
    assert [r.status for r in double.calls("POST", "/v1/invoices")] == [503, 200]


def test_lock_timeout_carries_should_retry_true_and_the_sdk_retries_it(
    client: stripe.StripeClient, double: StripeDouble
) -> None:
    invoice = draft(client)
    double.lock_timeout(path=r"/v1/invoices/in_\w+/finalize")

    with instant_sdk_retries():
        final = client_for(double, max_network_retries=2).v1.invoices.finalize_invoice(invoice.id)

    assert final.status == "paid"
    finalize_calls = double.calls("POST", r".*/finalize", invoice_id=invoice.id)
    assert [r.status for r in finalize_calls] == [429, 200]


def test_faults_by_request_number_skip_and_predicate(client: stripe.StripeClient, double: StripeDouble) -> None:
    invoice = draft(client)  # request 1
    double.fail_before(nth=3, status=402, error={"type": "card_error", "code": "card_declined", "message": "no"})
    double.fail_before(
        when=lambda view: view.params.get("metadata", {}).get("downbeat_invoice_id") == "inv_9",
        status=409,
        error={"type": "invalid_request_error", "code": "idempotency_key_in_use", "message": "busy"},
        times=None,
    )
    double.fail_before(method="GET", path="/v1/invoices/.*", skip=1)

    client.v1.invoices.retrieve(invoice.id)  # request 2: skipped once
    with pytest.raises(stripe.CardError):
        client.v1.invoices.retrieve(invoice.id)  # request 3: nth
    for _ in range(2):
        with pytest.raises(stripe.APIError):
            draft(client, metadata={"downbeat_invoice_id": "inv_9"})
    with pytest.raises(stripe.APIError):
        client.v1.invoices.retrieve(invoice.id)

    assert [r.status for r in double.requests] == [200, 200, 402, 409, 409, 500]
    assert len(double.calls(invoice_id=invoice.id)) == 4


def test_predicate_sees_the_request(double: StripeDouble, client: stripe.StripeClient) -> None:
    seen: list[RequestView] = []

    def record(view: RequestView) -> bool:
        seen.append(view)
        return False

    double.fail_before(when=record)

    draft(client)

    assert seen[0].method == "POST"
    assert seen[0].params["metadata"] == {"downbeat_invoice_id": "inv_1"}
    assert seen[0].idempotency_key  # the SDK sends one on every POST


def test_reset_forgets_everything(client: stripe.StripeClient, double: StripeDouble) -> None:
    draft(client)
    double.fail_before()

    double.reset()

    assert (double.invoices(), double.requests, double.faults) == ([], [], [])
    with pytest.raises(stripe.InvalidRequestError):
        draft(client)  # customers are gone too


def test_control_surface(double: StripeDouble, client: stripe.StripeClient) -> None:
    def post(path: str, payload: dict[str, Any]) -> Any:
        request = urllib.request.Request(double.url + path, data=json.dumps(payload).encode(), method="POST")
        with urllib.request.urlopen(request) as reply:
            return json.loads(reply.read())

    post("/_double/customers", {"id": "cus_ctl"})
    post("/_double/faults", {"kind": "fail_before", "method": "GET", "status": 500})
    draft(client, customer="cus_ctl")
    with urllib.request.urlopen(double.url + "/_double/state") as reply:
        state = json.loads(reply.read())

    assert [i["customer"] for i in state["invoices"]] == ["cus_ctl"]
    assert len(double.faults) == 1
