"""The router and the ledger: a valid invoice is routed whatever its applied credits name, and the
ones it could not draw down are reported (a log line and the `UnappliedCredits` metric)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from functions.invoice_router.handler import lambda_handler
from local.lambda_context import LocalLambdaContext
from shared.domain.commits import Commit, Segment
from shared.domain.invoice import MAX_APPLIED_CREDITS
from shared.services.route_invoice import RouterDependencies
from tests.builders import STRIPE, configuration, customer, invoice_event
from tests.fakes.memory_store import InMemoryStore, RecordingQueue

NOW = datetime(2025, 3, 1, 0, 5, tzinfo=UTC)


@pytest.fixture
def store() -> InMemoryStore:
    store = InMemoryStore()
    store.create_customer(customer("cust_acme", configuration(STRIPE, default=True)))
    store.commits[("cust_acme", "commit_9")] = Commit(
        id="commit_9",
        kind="commit",
        customer_id="cust_acme",
        type="PREPAID",
        name="2025",
        currency="USD",
        segments=[
            Segment(
                id="seg_1",
                amount=Decimal("1000.00"),
                starting_at=datetime(2025, 1, 1, tzinfo=UTC),
                ending_before=datetime(2026, 1, 1, tzinfo=UTC),
            )
        ],
        created_at=NOW,
    )
    return store


def route(store: InMemoryStore, **overrides: Any) -> dict[str, Any]:
    deps = RouterDependencies(
        store=store, stripe_queue=RecordingQueue(), dead_letters=RecordingQueue(), clock=lambda: NOW
    )
    result: dict[str, Any] = lambda_handler(
        invoice_event(**overrides), LocalLambdaContext("InvoiceRouterFunction"), deps=deps
    )
    return result


def test_a_known_commit_is_drawn_down_and_nothing_is_reported(
    store: InMemoryStore, capsys: pytest.CaptureFixture[str]
) -> None:
    result = route(store)
    assert (result["outcome"], result["unapplied_credits"]) == ("queued", ())
    ledger = store.get_commit_ledger("cust_acme", "commit_9")
    assert ledger is not None
    assert ledger.balance(NOW) == Decimal("704.56")  # 1000 - 295.44
    assert "UnappliedCredits" not in capsys.readouterr().out


def test_an_unknown_commit_is_reported_and_the_invoice_still_routed(
    store: InMemoryStore, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    result = route(store, applied_credits=[{"id": "commit_gone", "type": "PREPAID", "amount": "5.00"}])
    assert result["outcome"] == "queued"
    (why,) = result["unapplied_credits"]
    assert str(why).startswith("commit_gone: no commit or credit of customer cust_acme")
    assert store.get_invoice("inv_1") is not None
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert any(line.get("UnappliedCredits") == [1.0] for line in lines)
    assert any("drew down no commit" in record.getMessage() for record in caplog.records)


def test_more_applied_credits_than_one_transaction_holds_is_a_rejection_naming_them(store: InMemoryStore) -> None:
    applied = [{"id": f"commit_{n}", "type": "PREPAID", "amount": "1.00"} for n in range(MAX_APPLIED_CREDITS + 1)]
    result = route(store, applied_credits=applied)
    assert (result["outcome"], result["field"]) == ("rejected", "detail.applied_credits")
    assert store.get_invoice("inv_1") is None
    assert route(store, applied_credits=applied[:MAX_APPLIED_CREDITS])["outcome"] == "queued"
