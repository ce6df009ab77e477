"""The message asking the alert evaluator to evaluate one customer now (after a ledger-changing write).

Its own tiny module: the API builds it (as the router could), without loading the evaluator's code.
"""

from __future__ import annotations

from typing import Any


def customer_evaluation(customer_id: str, triggered_by: str) -> dict[str, Any]:
    """`triggered_by`: the id of the write (commit, credit, ledger entry, invoice) that changed the ledger."""
    return {"kind": "customer", "customer_id": customer_id, "triggered_by": triggered_by}
