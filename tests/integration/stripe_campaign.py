"""The Stripe fault campaign: random invoices, random faults between any two calls, redeliveries.

Each run syncs one random invoice while the double fails or "crashes" the worker: a 500 before or
after applying (the latter saved under the key and replayed), a dropped connection before or
after applying (a timeout), a 429 `rate_limit` or `lock_timeout`, the process dying before any
Stripe call, and redelivery days later (idempotency keys expired). Afterwards the invoice must
have exactly one Stripe invoice whose total equals ours and whose `effective_at` is right.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

from local.stripe_double import FaultKind
from shared.domain.invoice import InvoiceEvent
from shared.domain.money import round_to_currency
from shared.domain.providers import StripeConfiguration
from shared.domain.stripe_plan import plan_stripe_invoice, service_period_effective_at
from shared.ports.errors import RetryableError
from tests.builders import invoice_event
from tests.integration.stripe_harness import STRIPE_CUSTOMER, Harness, SimulatedCrash

CURRENCIES = ("USD", "EUR", "JPY", "KWD")
ZONES = ("UTC", "America/New_York", "Europe/Berlin", "Pacific/Kiritimati", "Asia/Tokyo")
FAULTS = ("fail_before", "fail_after_apply", "drop_before", "drop_after_apply", "rate_limited", "lock_timeout")
PATHS = (
    ("POST", "/v1/invoices"),
    ("POST", r"/v1/invoices/.*/add_lines"),
    ("POST", r"/v1/invoices/.*/finalize"),
    ("GET", "/v1/invoices"),
    ("GET", r"/v1/invoices/[^/]*"),
    ("GET", r"/v1/invoices/.*/lines"),
    ("DELETE", r"/v1/invoices/.*"),
)
PATH_WEIGHTS = (4, 4, 4, 1, 1, 1, 1)  # mostly the calls every sync makes
MAX_DELIVERIES = 20


@dataclass
class CampaignResult:
    runs: int = 0
    deliveries: int = 0
    crashes: int = 0
    handed_back: int = 0
    faults_fired: int = 0
    failures: list[str] = field(default_factory=list)


def random_invoice(rng: random.Random, invoice_id: str) -> dict[str, Any]:
    currency = rng.choice(CURRENCIES)
    count = rng.choice((1, 2, 3, 5, 8, 13)) if rng.random() < 0.97 else rng.randint(251, 300)
    lines = []
    for index in range(count):
        quantity = Decimal(rng.randint(1, 2_000_000)) / Decimal(10 ** rng.randint(0, 3))
        unit = Decimal(rng.randint(1, 5000)) / Decimal(10 ** rng.randint(1, 5))
        lines.append(
            {
                "id": f"li_{index}",
                "name": f"Usage {index}",
                "product_id": f"prod_{rng.randint(0, 9)}",
                "quantity": str(quantity),
                "unit_price": str(unit),
                "total": str(quantity * unit),
            }
        )
    subtotal = sum((Decimal(line["total"]) for line in lines), Decimal(0))
    rounded = round_to_currency(subtotal, currency)
    credit = round_to_currency(rounded * Decimal(rng.choice((0, 0, 0.1, 0.5))), currency)
    credits = [{"id": "commit_1", "type": "PREPAID", "amount": str(credit)}] if credit else []
    start_month = rng.randint(1, 12)
    start = f"2024-{start_month:02d}-01T00:00:00Z"
    end = f"{2024 + start_month // 12}-{start_month % 12 + 1:02d}-01T00:00:00Z"
    return {
        "id": invoice_id,
        "currency": currency,
        "line_items": lines,
        "subtotal": str(subtotal),
        "total": str(rounded - credit),
        "applied_credits": credits,
        "start_timestamp": start,
        "end_timestamp": end,
        "version": rng.randint(1, 9),
    }


def random_configuration(rng: random.Random) -> dict[str, Any]:
    configuration: dict[str, Any] = {"invoice_date_timezone": rng.choice(ZONES)}
    if rng.random() < 0.2:
        configuration["stripe_collection_method"] = "send_invoice"
        configuration["days_until_due"] = rng.randint(0, 45)
    if rng.random() < 0.1:
        configuration["leave_as_draft"] = True
    return configuration


def inject_random_faults(h: Harness, rng: random.Random) -> None:
    for _ in range(rng.randint(1, 4)):
        kind = rng.choice(FAULTS)
        method, path = rng.choices(PATHS, weights=PATH_WEIGHTS)[0]
        filters: dict[str, Any] = {"method": method, "path": path, "skip": rng.randint(0, 1)}
        if kind == "rate_limited":
            h.double.rate_limited(**filters, times=rng.randint(1, 2))
        elif kind == "lock_timeout":
            h.double.lock_timeout(**filters)
        else:
            h.double.inject(cast(FaultKind, kind), **filters, times=rng.randint(1, 3))


def one_run(h: Harness, rng: random.Random, number: int, result: CampaignResult) -> None:
    h.double.reset()
    h.double.add_customer(STRIPE_CUSTOMER)
    configuration = random_configuration(rng)
    h.add_customer(**configuration)
    invoice_id = f"inv_run{number}"
    detail = random_invoice(rng, invoice_id)
    h.save_invoice(**detail)
    inject_random_faults(h, rng)

    settled = None
    for _ in range(MAX_DELIVERIES):
        result.deliveries += 1
        h.stripe.survive = rng.randint(0, 4) if rng.random() < 0.3 else None
        try:
            settled = h.deliver(invoice_id, version=detail["version"])
        except SimulatedCrash:
            result.crashes += 1
            h.clock.advance(400)  # the lease expires; SQS makes the record visible again
        except RetryableError:
            result.handed_back += 1
            h.clock.advance(30)
        else:
            break
        finally:
            h.stripe.survive = None
        if rng.random() < 0.15:
            h.clock.advance(rng.randint(2, 8) * 86_400)  # redelivered days later: keys expired
    result.faults_fired += sum(1 for request in h.double.requests if request.fault is not None)
    h.double.clear_faults()
    if settled is None:
        result.failures.append(f"run {number}: not settled after {MAX_DELIVERIES} deliveries")
        return
    invoice = InvoiceEvent.model_validate(invoice_event(**detail)).detail
    stripe_configuration = StripeConfiguration(stripe_customer_id=STRIPE_CUSTOMER, **configuration)
    plan = plan_stripe_invoice(invoice, stripe_configuration)
    problems = check(h, invoice_id, plan.total, stripe_configuration, settled.status, detail)
    result.failures.extend(f"run {number}: {problem}" for problem in problems)
    # One more delivery, days later, must change nothing.
    h.clock.advance(3 * 86_400)
    again = h.deliver(invoice_id, version=detail["version"])
    problems = check(h, invoice_id, plan.total, stripe_configuration, again.status, detail)
    result.failures.extend(f"run {number} (redelivered): {problem}" for problem in problems)


def check(
    h: Harness,
    invoice_id: str,
    total: int,
    configuration: StripeConfiguration,
    status: str,
    detail: dict[str, Any],
) -> list[str]:
    found = h.stripe_invoices(invoice_id)
    if len(found) != 1:
        return [f"{len(found)} Stripe invoices"]
    stripe_invoice = found[0]
    problems = []
    expected_status = "draft" if configuration.leave_as_draft else "synced"
    if status != expected_status:
        problems.append(f"sync status {status}, expected {expected_status}")
    if stripe_invoice["total"] != total:
        problems.append(f"Stripe total {stripe_invoice['total']} != ours {total}")
    invoice = InvoiceEvent.model_validate(invoice_event(**detail)).detail
    moment = service_period_effective_at(invoice.end_timestamp, configuration.invoice_date_timezone)
    if stripe_invoice["effective_at"] != int(moment.timestamp()):
        problems.append(f"effective_at {stripe_invoice['effective_at']} != {int(moment.timestamp())}")
    expected_state = "draft" if configuration.leave_as_draft else "open"
    if stripe_invoice["status"] not in (expected_state, "paid"):
        problems.append(f"Stripe status {stripe_invoice['status']}")
    if h.double.invoice_items(pending=True):
        problems.append("stray pending invoice items were left behind")
    return problems


def run_campaign(h: Harness, runs: int, seed: int) -> CampaignResult:
    rng = random.Random(seed)
    result = CampaignResult()
    for number in range(runs):
        result.runs += 1
        one_run(h, rng, number, result)
    return result
