"""Acceptance: ≥ 200 randomized fault-injection runs (fixed seed) leave exactly one right invoice each.

A bigger campaign: `python -m bench.stripe_fault_campaign --runs 2000`.
"""

from __future__ import annotations

from tests.integration.stripe_campaign import run_campaign
from tests.integration.stripe_harness import harness

RUNS = 200
SEED = 20250301


def test_fault_campaign_every_invoice_exactly_once_with_the_right_total_and_date() -> None:
    with harness() as h:
        result = run_campaign(h, RUNS, SEED)

    assert result.failures == []
    assert result.runs == RUNS
    assert result.crashes > 20  # the campaign really did kill the worker between calls
    assert result.faults_fired > RUNS  # and really did fail requests
    assert result.handed_back > 0
