"""The marketplace meter's fault campaign (tests/integration/meter_campaign.py): 200 seeded runs per
marketplace; `python -m bench meter_fault_campaign` runs 1,000."""

from __future__ import annotations

import pytest

from shared.ports.metering import MarketplaceProvider
from tests.integration.meter_campaign import run_campaign, summary

SEEDS = range(200)


@pytest.mark.parametrize("provider", ["aws_marketplace", "azure_marketplace"])
def test_never_double_metered_and_every_cent_accounted_for(provider: MarketplaceProvider) -> None:
    results = [run_campaign(seed, provider) for seed in SEEDS]  # each run asserts its own invariants
    counts = summary(results)
    assert counts["double_metered_cents"] == 0
    assert counts["invoiced_cents"] == counts["accepted_cents"] + counts["expired_cents"] + counts["failed_cents"]
    # The campaign exercised what it claims to: otherwise it proves nothing.
    assert counts["crashes"] > 50
    assert counts["overlapping_runs"] > 50
    assert counts["duplicate_deliveries"] > 50
    assert counts["outages"] > 10
    assert counts["expired_cents"] > 0  # some windows closed mid-outage
    assert counts["exact"] > counts["runs"] // 2
    assert set(counts["faults"]) == {
        "throttle",
        "server_error",
        "timeout_before",
        "timeout_after_apply",
        "unprocessed",
        "crash_after_apply",
    }
