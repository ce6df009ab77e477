"""replaced by the real adapter"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shared.ports.metering import MarketplaceProvider, RecordOutcome, UsageRecord


def azure_credential(tenant_id: str, client_id: str, client_secret: str, authority_host: str) -> Any:
    raise NotImplementedError("replaced by the real adapter")


class AzureMarketplaceMetering:
    provider: MarketplaceProvider = "azure_marketplace"
    max_records = 25
    max_quantity = 1_000_000_000

    def __init__(
        self, credential: Any, base_url: str = "https://marketplaceapi.microsoft.com", *, timeout_seconds: float = 10.0
    ) -> None:
        raise NotImplementedError("replaced by the real adapter")

    def meter(self, records: Sequence[UsageRecord]) -> list[RecordOutcome]:
        raise NotImplementedError("replaced by the real adapter")
