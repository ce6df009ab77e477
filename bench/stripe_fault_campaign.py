"""The Stripe fault campaign at scale (make test runs 200 runs; this runs more, another seed).

STRIPE_CAMPAIGN_RUNS (default 1000) and STRIPE_CAMPAIGN_SEED (default 1) choose the size and seed.
"""

from __future__ import annotations

import os
import time

from tests.integration.stripe_campaign import run_campaign
from tests.integration.stripe_harness import harness


def main() -> None:
    runs = int(os.environ.get("STRIPE_CAMPAIGN_RUNS", "1000"))
    seed = int(os.environ.get("STRIPE_CAMPAIGN_SEED", "1"))
    started = time.perf_counter()
    with harness() as h:
        result = run_campaign(h, runs, seed)
    elapsed = time.perf_counter() - started
    print(f"runs {result.runs}, seed {seed}: {len(result.failures)} failures in {elapsed:.1f} s")
    print(
        f"deliveries {result.deliveries}, worker crashes {result.crashes}, handed back to the queue "
        f"{result.handed_back}, injected faults fired {result.faults_fired}"
    )
    for failure in result.failures[:20]:
        print("  FAIL", failure)


if __name__ == "__main__":
    main()
