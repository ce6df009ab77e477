"""effective_at: 12:00 in invoice_date_timezone on the last service date (end_timestamp - 1 ms, UTC)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.domain.invoice import InvoiceEvent
from shared.domain.providers import StripeConfiguration
from shared.domain.stripe_plan import effective_at, plan_stripe_invoice
from tests.builders import invoice_event


def stamp(start: str, end: str, zone: str = "UTC", **configuration: object) -> int | None:
    invoice = InvoiceEvent.model_validate(invoice_event(start_timestamp=start, end_timestamp=end)).detail
    value, _ = effective_at(
        invoice,
        StripeConfiguration.model_validate(
            {"stripe_customer_id": "cus_1", "invoice_date_timezone": zone, **configuration}
        ),
    )
    return value


def utc(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


@pytest.mark.parametrize(
    ("case", "start", "end", "zone", "expected"),
    [
        ("31-day month", "2025-01-01T00:00:00Z", "2025-02-01T00:00:00Z", "UTC", "2025-01-31T12:00:00"),
        ("February, leap year", "2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z", "UTC", "2024-02-29T12:00:00"),
        ("February, common year", "2025-02-01T00:00:00Z", "2025-03-01T00:00:00Z", "UTC", "2025-02-28T12:00:00"),
        # New York springs forward on 2025-03-09: noon that day is EDT (UTC-4).
        (
            "DST start, New York",
            "2025-02-09T00:00:00Z",
            "2025-03-10T00:00:00Z",
            "America/New_York",
            "2025-03-09T16:00:00",
        ),
        # ...and falls back on 2025-11-02: noon that day is EST (UTC-5).
        (
            "DST end, New York",
            "2025-10-02T00:00:00Z",
            "2025-11-03T00:00:00Z",
            "America/New_York",
            "2025-11-02T17:00:00",
        ),
        # Berlin springs forward on 2025-03-30 (CEST, UTC+2) and falls back on 2025-10-26 (CET, UTC+1).
        ("DST start, Berlin", "2025-03-01T00:00:00Z", "2025-03-31T00:00:00Z", "Europe/Berlin", "2025-03-30T10:00:00"),
        ("DST end, Berlin", "2025-10-01T00:00:00Z", "2025-10-27T00:00:00Z", "Europe/Berlin", "2025-10-26T11:00:00"),
        ("14-day period", "2025-03-03T00:00:00Z", "2025-03-17T00:00:00Z", "UTC", "2025-03-16T12:00:00"),
        # UTC+14: noon on Feb 28 in Kiritimati is still Feb 27 in UTC.
        ("east of UTC+12", "2025-02-01T00:00:00Z", "2025-03-01T00:00:00Z", "Pacific/Kiritimati", "2025-02-27T22:00:00"),
        ("west of UTC", "2025-02-01T00:00:00Z", "2025-03-01T00:00:00Z", "Pacific/Pago_Pago", "2025-02-28T23:00:00"),
        # The date is the UTC date of end - 1 ms, whatever the zone.
        ("end just after midnight", "2025-02-01T00:00:00Z", "2025-03-01T00:00:00.0005Z", "UTC", "2025-02-28T12:00:00"),
        ("end 1 ms after midnight", "2025-02-01T00:00:00Z", "2025-03-01T00:00:00.001Z", "UTC", "2025-03-01T12:00:00"),
        ("end mid-day", "2025-02-01T00:00:00Z", "2025-02-15T18:30:00Z", "Asia/Tokyo", "2025-02-15T03:00:00"),
    ],
)
def test_effective_at_is_noon_local_on_the_last_service_date(
    case: str, start: str, end: str, zone: str, expected: str
) -> None:
    assert stamp(start, end, zone) == utc(expected), case


def test_finalization_and_automatic_tax_leave_it_unset_and_say_why() -> None:
    invoice = InvoiceEvent.model_validate(invoice_event()).detail
    by_finalization = StripeConfiguration(stripe_customer_id="cus_1", invoice_date="finalization")
    with_tax = StripeConfiguration(stripe_customer_id="cus_1", automatic_tax=True)

    assert effective_at(invoice, by_finalization)[0] is None
    assert "finalization" in effective_at(invoice, by_finalization)[1]
    value, note = effective_at(invoice, with_tax)
    assert value is None
    assert "tax" in note
    plan = plan_stripe_invoice(invoice, with_tax)
    assert "effective_at" not in plan.draft_params
    assert plan.draft_params["automatic_tax"] == {"enabled": True}
