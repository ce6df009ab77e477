"""The stripe_sync handler: SQS batches, partial failures, metrics; once through bootstrap on moto."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from functions.stripe_sync.handler import lambda_handler
from local.lambda_context import LocalLambdaContext
from shared import bootstrap
from shared.adapters.dynamodb import DynamoDBStore
from shared.domain.invoice import InvoiceEvent
from tests.builders import configuration, customer, invoice_event
from tests.conftest import TABLE_NAME
from tests.fakes.stripe_sdk import TEST_API_KEY
from tests.integration.stripe_harness import STRIPE_CUSTOMER, Harness, harness

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

EVENTS = Path(__file__).resolve().parents[2] / "events" / "stripe_sync"
CONTEXT = LocalLambdaContext("stripe_sync")


def sqs_event(*bodies: dict[str, Any]) -> dict[str, Any]:
    template = json.loads((EVENTS / "sync.json").read_text())["Records"][0]
    records = []
    for number, body in enumerate(bodies):
        record = copy.deepcopy(template)
        record["messageId"] = f"m{number}"
        record["body"] = json.dumps(body)
        records.append(record)
    return {"Records": records}


@pytest.fixture
def h() -> Iterator[Harness]:
    with harness() as running:
        running.add_customer()
        yield running


def test_one_customers_errors_never_block_the_others(h: Harness, capsys: pytest.CaptureFixture[str]) -> None:
    h.save_invoice(id="inv_ok")
    h.save_invoice(id="inv_throttled")
    raw = {"billing_provider": "stripe", "configuration": {"stripe_customer_id": "cus_gone"}}
    h.store.create_customer(customer("cust_gone", configuration(raw, default=True)))
    h.save_invoice(id="inv_gone", customer_id="cust_gone")

    def is_throttled(view: Any) -> bool:
        return bool(
            view.method == "POST" and view.params.get("metadata", {}).get("downbeat_invoice_id") == "inv_throttled"
        )

    h.double.rate_limited(when=is_throttled, times=None)
    event = sqs_event(
        {"invoice_id": "inv_throttled", "version": 7, "action": "sync"},
        {"invoice_id": "inv_gone", "version": 7, "action": "sync"},
        {"invoice_id": "inv_ok", "version": 7, "action": "sync"},
    )

    response = lambda_handler(event, CONTEXT, deps=h.deps)

    assert response == {"batchItemFailures": [{"itemIdentifier": "m0"}]}  # only the throttled one comes back
    assert len(h.stripe_invoices("inv_ok")) == 1
    gone = h.store.get_sync("inv_gone")
    assert gone is not None
    assert gone.status == "failed"
    assert "resource_missing" in (gone.reason or "")
    metrics = capsys.readouterr().out
    for name in ("StripeInvoicesSynced", "StripeSyncFailed", "StripeSyncRetried", "StripeCallsPerInvoice",
                 "OldestUnsyncedStripeInvoiceAge"):  # fmt: skip
        assert name in metrics


def test_the_sample_event_through_bootstrap_on_dynamodb(
    dynamodb: DynamoDBClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    with harness() as h:
        monkeypatch.setenv("TABLE_NAME", TABLE_NAME)
        monkeypatch.setenv("STRIPE_API_BASE", h.double.url)
        monkeypatch.setenv("STRIPE_API_KEY", TEST_API_KEY)
        bootstrap.reset()
        store = DynamoDBStore(dynamodb, TABLE_NAME)
        raw = {"billing_provider": "stripe", "configuration": {"stripe_customer_id": STRIPE_CUSTOMER}}
        store.create_customer(customer("cust_acme", configuration(raw, default=True)))
        invoice = InvoiceEvent.model_validate(invoice_event(id="inv_7f3a")).detail
        store.save_invoice(invoice, h.now())
        try:
            response = lambda_handler(json.loads((EVENTS / "sync.json").read_text()), CONTEXT)
        finally:
            bootstrap.reset()

        assert response == {"batchItemFailures": []}
        stripe_invoice = h.only_stripe_invoice("inv_7f3a")
        assert (stripe_invoice["status"], stripe_invoice["total"]) == ("open", 123456)
        sync = store.get_sync("inv_7f3a")
        assert sync is not None
        assert sync.status == "synced"
        assert sync.provider_ids == {"stripe_invoice_id": stripe_invoice["id"]}
        state = store.get_stripe_sync("inv_7f3a")
        assert state is not None
        assert (state.step, state.calls) == ("synced", 3)
        assert store.oldest_unsettled("stripe") is None  # settled: no longer waiting


def test_settings_never_show_the_key() -> None:
    from shared.config import StripeSyncSettings

    settings = StripeSyncSettings.from_env({"TABLE_NAME": "t", "STRIPE_API_KEY": "sk_test_secret"})
    assert "sk_test_secret" not in repr(settings)
    assert settings.stripe_api_base == "https://api.stripe.com"


def test_the_key_comes_from_secrets_manager_when_no_key_is_set(aws: None) -> None:
    import boto3

    from shared.config import StripeSyncSettings

    arn = boto3.client("secretsmanager").create_secret(Name="stripe-key", SecretString="sk_test_from_secret\n")["ARN"]
    settings = StripeSyncSettings.from_env({"TABLE_NAME": "t", "STRIPE_SECRET_NAME": arn})
    assert bootstrap.stripe_api_key(settings) == "sk_test_from_secret"
    with pytest.raises(Exception, match="STRIPE_API_KEY"):
        bootstrap.stripe_api_key(StripeSyncSettings.from_env({"TABLE_NAME": "t"}))
