"""The marketplace meter's fault campaign at scale (make test runs 200 seeds per marketplace; this
runs 1,000 seeds from another start).

METER_CAMPAIGN_RUNS (default 1000) and METER_CAMPAIGN_SEED (default 10000, the first seed) choose.
A run whose invariants break stops the campaign with the seed to replay (`run_campaign(seed, provider)`).
"""

from __future__ import annotations

import os
import time

from shared.ports.metering import MarketplaceProvider
from tests.integration.meter_campaign import run_campaign, summary

PROVIDERS: tuple[MarketplaceProvider, ...] = ("aws_marketplace", "azure_marketplace")


def main() -> None:
    runs = int(os.environ.get("METER_CAMPAIGN_RUNS", "1000"))
    first = int(os.environ.get("METER_CAMPAIGN_SEED", "10000"))
    for provider in PROVIDERS:
        started = time.perf_counter()
        results = [run_campaign(seed, provider) for seed in range(first, first + runs)]
        elapsed = time.perf_counter() - started
        counts = summary(results)
        print(f"{provider}: {counts['runs']} runs (seeds {first}..{first + runs - 1}) in {elapsed:.1f} s")
        print(
            f"  exact (every invoiced cent accepted): {counts['exact']}; with expired/failed cents: "
            f"{counts['with_expired_or_failed']}; double-metered cents: {counts['double_metered_cents']}"
        )
        print(
            f"  cents invoiced {counts['invoiced_cents']} = accepted {counts['accepted_cents']}"
            f" + expired {counts['expired_cents']} + failed {counts['failed_cents']}"
            f" (expired but held by the marketplace, answer lost: {counts['held_but_expired_cents']})"
        )
        print(
            f"  meter runs {counts['meter_runs']}, crashes {counts['crashes']}, overlapping runs"
            f" {counts['overlapping_runs']}, duplicate deliveries {counts['duplicate_deliveries']},"
            f" outages {counts['outages']}"
        )
        print(f"  provider faults: {counts['faults']}")


if __name__ == "__main__":
    main()
