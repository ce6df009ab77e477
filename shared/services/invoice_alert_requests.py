"""After the router stores a new invoice version: ask the alert evaluator for the customer's
evaluation, but only when an alert can apply to that customer, so that an account (or a customer)
without alerts pays nothing for it (docs/alerts.md "Runs").

Whether one can is known without a request of its own: the customer's own live alerts are counted
on its item (`Customer.alert_count`), which the router read to accept the invoice; the alerts for
every customer are counted once for the account, and that count is read at most once per
`EVERY_CUSTOMER_MAX_AGE` per warm Lambda. So an alert for every customer created just now is seen
by the invoices of the next minute at the latest (and by the scheduled run in any case).

The request is `{"kind": "customer", "customer_id", "triggered_by": <invoice id>}`, as an API
write's; the evaluator evaluates the customer as it is then, so asking twice is harmless.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.clock import Clock
from shared.domain.customers import Customer

EVERY_CUSTOMER_MAX_AGE = timedelta(seconds=60)

# (customer id, invoice id): puts the request on the evaluator's queue; a failure to is logged and
# counted there (AlertEvaluationRequestsFailed), never raised: the invoice is stored regardless.
AskForEvaluation = Callable[[str, str], None]
# How many live alerts apply to every customer; None when it could not be read (logged there).
EveryCustomerCount = Callable[[], "int | None"]


@dataclass
class EveryCustomerAlerts:
    """Whether any live alert applies to every customer, the account's count cached for `max_age`."""

    count: EveryCustomerCount
    clock: Clock
    max_age: timedelta = EVERY_CUSTOMER_MAX_AGE
    _known: tuple[datetime, bool] | None = field(default=None, init=False)

    def any(self) -> bool:
        now = self.clock()
        if self._known is not None and timedelta(0) <= now - self._known[0] < self.max_age:
            return self._known[1]
        counted = self.count()
        # Unknown counts as some: a needless evaluation costs a message, a missed one an alert late.
        found = counted is None or counted > 0
        self._known = (now, found)
        return found


@dataclass
class InvoiceAlertRequests:
    ask: AskForEvaluation
    every_customer: EveryCustomerAlerts

    def after_new_version(self, customer: Customer, invoice_id: str) -> bool:
        """Ask for the customer's evaluation when an alert can apply to it; whether it asked."""
        if customer.alert_count <= 0 and not self.every_customer.any():
            return False
        self.ask(customer.id, invoice_id)
        return True
