"""The marketplace_meter handler: a Lambda context running out of time, metrics, and bootstrap on
DynamoDB (moto) with the in-memory marketplaces in place of the real adapters."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import time_machine
from mypy_boto3_dynamodb.client import DynamoDBClient

from functions.marketplace_meter.handler import lambda_handler
from shared import bootstrap
from shared.adapters import aws_metering, azure_metering
from shared.adapters.dynamodb import DynamoDBStore
from shared.clock import utc_now
from tests.conftest import TABLE_NAME
from tests.fakes.marketplace_metering import FakeMarketplace
from tests.meter_world import MeterWorld, MutableClock

EVENT = json.loads((Path(__file__).parents[2] / "events" / "marketplace_meter" / "scheduled.json").read_text())
NOON = datetime(2025, 3, 10, 12, 5, tzinfo=UTC)


@dataclass
class ScriptedContext:
    """A LambdaContext whose remaining time is read from a script, one value per call."""

    remaining: Iterator[int]
    function_name: str = "marketplace_meter"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:marketplace_meter"
    aws_request_id: str = "req-1"
    reads: list[int] = field(default_factory=list)

    def get_remaining_time_in_millis(self) -> int:
        value = next(self.remaining, 0)
        self.reads.append(value)
        return value


def test_a_context_running_out_mid_page_leaves_the_rest_for_the_next_run(capsys: pytest.CaptureFixture[str]) -> None:
    world = MeterWorld(MutableClock(NOON))
    for number in range(12):
        world.add_customer(f"c{number:02d}")
        world.send_invoice(f"inv_{number:02d}", f"c{number:02d}", "2.00")
    deps = world.deps(page_size=5)
    # Read before each page, its work and each call: the second page stops before its call.
    first = lambda_handler(EVENT, ScriptedContext(iter([300_000] * 5)), deps=deps)
    assert first["stopped_early"]
    assert 0 < first["accepted"] < 12
    second = lambda_handler(EVENT, ScriptedContext(iter([300_000] * 10_000)), deps=deps)
    assert not second["stopped_early"]
    assert first["accepted"] + second["accepted"] == 12
    sent = [record.record_id for call in world.market().calls for record in call]
    assert len(sent) == len(set(sent)) == 12
    output = capsys.readouterr().out
    for name in ("MarketplaceRecordsAccepted", "MarketplaceRecordsExpired", "OldestUnmeteredWorkAge"):
        assert name in output


@pytest.fixture
def fake_adapters(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """bootstrap's adapters, replaced where the factory finds them (it imports them when called)."""
    built: dict[str, Any] = {}

    def aws(session: Any = None, *, config: Any = None) -> FakeMarketplace:
        market = built["aws"] = FakeMarketplace("aws_marketplace", utc_now)
        return market

    def azure(credential: Any, base_url: str = "", *, timeout_seconds: float = 10.0) -> FakeMarketplace:
        market = built["azure"] = FakeMarketplace("azure_marketplace", utc_now)
        built["azure_base_url"] = base_url
        built["azure_credential"] = credential
        return market

    def credential(tenant_id: str, client_id: str, client_secret: str, authority_host: str) -> str:
        return f"credential:{tenant_id}:{client_id}:{authority_host}"

    monkeypatch.setattr(aws_metering, "AwsMarketplaceMetering", aws)
    monkeypatch.setattr(azure_metering, "AzureMarketplaceMetering", azure)
    monkeypatch.setattr(azure_metering, "azure_credential", credential)
    bootstrap.reset()
    yield built
    bootstrap.reset()


def test_without_azure_credentials_only_aws_is_metered(
    fake_adapters: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TABLE_NAME", TABLE_NAME)
    for name in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_CREDENTIALS_SECRET_NAME"):
        monkeypatch.delenv(name, raising=False)
    assert list(bootstrap.marketplace_meter().meters) == ["aws_marketplace"]


def test_the_sample_event_through_bootstrap_on_dynamodb(
    dynamodb: DynamoDBClient, fake_adapters: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TABLE_NAME", TABLE_NAME)
    monkeypatch.setenv("AZURE_TENANT_ID", "tenant-1")
    monkeypatch.setenv("AZURE_CLIENT_ID", "client-1")
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "not-logged")
    monkeypatch.setenv("AZURE_METERING_BASE_URL", "https://127.0.0.1:8443")
    with time_machine.travel(NOON, tick=False):
        world = MeterWorld(utc_now, store=DynamoDBStore(dynamodb, TABLE_NAME))
        world.add_customer("aws_buyer")
        world.add_customer("azure_buyer", "azure_marketplace")
        world.send_invoice("inv_aws", "aws_buyer", "12.34")
        world.send_invoice("inv_azure", "azure_buyer", "0.99")
        deps = bootstrap.marketplace_meter()
        response = lambda_handler(EVENT, ScriptedContext(iter([300_000] * 1000)), deps=deps)
    assert fake_adapters["azure_base_url"] == "https://127.0.0.1:8443"
    assert fake_adapters["azure_credential"] == "credential:tenant-1:client-1:login.microsoftonline.com"
    assert (response["accepted"], response["accepted_cents"]) == (2, 1234 + 99)
    aws_status = world.store.get_sync("inv_aws")
    azure_status = world.store.get_sync("inv_azure")
    assert aws_status is not None
    assert azure_status is not None
    assert (aws_status.status, azure_status.status) == ("synced", "synced")
    assert aws_status.provider_ids["metering_record_ids"] == ["mrid-000000"]
    assert azure_status.provider_ids["usage_event_ids"] == ["uev-000000"]
    assert aws_status.provider_ids["records"][0]["hour"] == "2025-03-10T12:00:00Z"


def test_settings_never_show_the_azure_client_secret() -> None:
    from shared.config import MarketplaceMeterSettings

    settings = MarketplaceMeterSettings.from_env(
        {
            "TABLE_NAME": "t",
            "AZURE_TENANT_ID": "tenant",
            "AZURE_CLIENT_ID": "client",
            "AZURE_CLIENT_SECRET": "s3cr3t-v4lue",
        }
    )
    assert "s3cr3t-v4lue" not in repr(settings)
    assert "s3cr3t-v4lue" not in str(settings)


def test_an_unreadable_azure_secret_leaves_aws_metered(
    fake_adapters: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TABLE_NAME", TABLE_NAME)
    monkeypatch.setenv("AZURE_CREDENTIALS_SECRET_NAME", "downbeat/azure-metering-credentials")
    for name in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(bootstrap, "secret_text", lambda name: lambda: "not json")
    assert list(bootstrap.marketplace_meter().meters) == ["aws_marketplace"]
    monkeypatch.setattr(
        bootstrap,
        "secret_text",
        lambda name: lambda: json.dumps({"tenant_id": "t", "client_id": "c", "client_secret": "s"}),
    )
    bootstrap.reset()
    assert list(bootstrap.marketplace_meter().meters) == ["aws_marketplace", "azure_marketplace"]
    assert fake_adapters["azure_credential"] == "credential:t:c:login.microsoftonline.com"
