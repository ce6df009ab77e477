"""replaced by the real adapter"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shared.ports.metering import MarketplaceProvider, RecordOutcome, UsageRecord


class AwsMarketplaceMetering:
    provider: MarketplaceProvider = "aws_marketplace"
    max_records = 25
    max_quantity = 2_147_483_647

    def __init__(self, session: Any = None, *, config: Any = None) -> None:
        raise NotImplementedError("replaced by the real adapter")

    def meter(self, records: Sequence[UsageRecord]) -> list[RecordOutcome]:
        raise NotImplementedError("replaced by the real adapter")
