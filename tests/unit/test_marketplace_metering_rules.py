"""The meter's pure rules: cents, hours, windows, allocation with carry-over, batching, status."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.marketplace_metering import (
    MAX_INVOICES_PER_RECORD,
    InvoiceCents,
    InvoiceMeterView,
    InvoiceShare,
    allocate,
    batches,
    call_group,
    cents,
    hour_start,
    meter_status,
    record_id,
    sendable,
    unmetered_cents,
    window_closes,
)
from shared.ports.metering import AwsBuyer, AzureBuyer, Buyer, UsageRecord

HOUR = datetime(2025, 3, 10, 12, tzinfo=UTC)


@given(st.integers(min_value=0, max_value=10**15))
def test_cents_are_the_usd_amount_in_whole_cents(amount: int) -> None:
    assert cents(Decimal(amount) / 100) == amount


def test_cents_round_half_up() -> None:
    assert (cents(Decimal("0.005")), cents(Decimal("0.0049"))) == (1, 0)


def test_hour_start_is_the_utc_hour() -> None:
    from zoneinfo import ZoneInfo

    moment = datetime(2025, 3, 10, 13, 59, 59, 999999, tzinfo=ZoneInfo("Europe/Berlin"))
    assert hour_start(moment) == datetime(2025, 3, 10, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("stamp", "aws", "azure"),
    [
        (HOUR, HOUR + timedelta(hours=24), HOUR + timedelta(hours=24)),
        (
            datetime(2025, 3, 31, 23, tzinfo=UTC),
            datetime(2025, 4, 1, 6, tzinfo=UTC),
            datetime(2025, 4, 1, 23, tzinfo=UTC),
        ),
        (
            datetime(2025, 3, 31, 4, tzinfo=UTC),
            datetime(2025, 4, 1, 4, tzinfo=UTC),
            datetime(2025, 4, 1, 4, tzinfo=UTC),
        ),
        (
            datetime(2025, 12, 31, 12, tzinfo=UTC),
            datetime(2026, 1, 1, 6, tzinfo=UTC),
            datetime(2026, 1, 1, 12, tzinfo=UTC),
        ),
        (
            datetime(2024, 2, 29, 20, tzinfo=UTC),
            datetime(2024, 3, 1, 6, tzinfo=UTC),
            datetime(2024, 3, 1, 20, tzinfo=UTC),
        ),
    ],
)
def test_windows(stamp: datetime, aws: datetime, azure: datetime) -> None:
    assert window_closes("aws_marketplace", stamp) == aws
    assert window_closes("azure_marketplace", stamp) == azure


def test_a_record_is_not_sent_in_the_last_minutes_of_its_window() -> None:
    closes = HOUR + timedelta(hours=24)
    assert sendable("aws_marketplace", HOUR, closes - timedelta(minutes=6))
    assert not sendable("aws_marketplace", HOUR, closes - timedelta(minutes=5))


@given(st.integers(min_value=-(10**9), max_value=10**9), st.integers(min_value=0, max_value=10**9))
def test_only_positive_changes_are_owed(target: int, metered: int) -> None:
    owed = unmetered_cents(target, metered)
    assert owed >= 0
    assert owed == (target - metered if target > metered else 0)


owed_lists = st.lists(st.integers(min_value=0, max_value=10**7), min_size=0, max_size=150)


@given(owed_lists, st.integers(min_value=1, max_value=10**6))
def test_one_record_takes_what_fits_in_order(owed: list[int], max_quantity: int) -> None:
    invoices = [InvoiceCents(f"inv_{n}", amount) for n, amount in enumerate(owed)]
    taken = allocate(invoices, max_quantity)
    assert sum(taken.values()) <= max_quantity
    assert len(taken) <= MAX_INVOICES_PER_RECORD
    assert all(0 < share <= owed[int(invoice_id[4:])] for invoice_id, share in taken.items())
    # Greedy: only the last invoice taken may be taken in part, and nothing is skipped before it.
    positions = [int(invoice_id[4:]) for invoice_id in taken]
    assert positions == sorted(positions)
    if positions:
        before = [n for n in range(positions[-1]) if owed[n] > 0]
        assert before == positions[:-1]
        assert all(taken[f"inv_{n}"] == owed[n] for n in positions[:-1])


# Bounded so that an example takes at most a few hundred hours (a loop iteration each).
@given(st.lists(st.integers(min_value=0, max_value=5_000), max_size=30), st.integers(min_value=500, max_value=10**6))
def test_carry_over_meters_every_cent_exactly_in_as_few_hours_as_the_maximum_allows(
    owed: list[int], max_quantity: int
) -> None:
    remaining = {f"inv_{n}": amount for n, amount in enumerate(owed)}
    hours = 0
    metered = dict.fromkeys(remaining, 0)
    while any(remaining.values()):
        taken = allocate([InvoiceCents(key, value) for key, value in remaining.items()], max_quantity)
        assert taken
        for key, share in taken.items():
            remaining[key] -= share
            metered[key] += share
        hours += 1
    assert metered == {f"inv_{n}": amount for n, amount in enumerate(owed)}
    assert hours == math.ceil(sum(owed) / max_quantity)


buyers = st.one_of(
    st.builds(
        AwsBuyer,
        product_code=st.sampled_from(["prod-a", "prod-b"]),
        region=st.sampled_from(["us-east-1", "eu-west-1"]),
        customer_identifier=st.just("c-1"),
    ),
    st.builds(
        AwsBuyer,
        product_code=st.sampled_from(["prod-a", "prod-b"]),
        region=st.just("us-east-1"),
        customer_aws_account_id=st.just("111122223333"),
        license_arn=st.just("arn:aws:license-manager::1:license:l-1"),
    ),
)


@given(st.lists(buyers, max_size=120), st.integers(min_value=1, max_value=25))
def test_batches_carry_every_record_once_in_the_fewest_uniform_calls(group_buyers: list[Buyer], size: int) -> None:
    records = [UsageRecord(f"r{n}", buyer, "usage_fee", HOUR, 1) for n, buyer in enumerate(group_buyers)]
    calls = batches(records, size)
    assert sorted(record.record_id for call in calls for record in call) == sorted(r.record_id for r in records)
    assert all(1 <= len(call) <= size for call in calls)
    assert all(len({call_group(record.buyer) for record in call}) == 1 for call in calls)
    groups: dict[tuple[str, ...], int] = {}
    for record in records:
        groups[call_group(record.buyer)] = groups.get(call_group(record.buyer), 0) + 1
    assert len(calls) == sum(math.ceil(count / size) for count in groups.values())


def test_licence_based_and_legacy_buyers_of_one_product_never_share_a_call() -> None:
    legacy = AwsBuyer("prod-a", "us-east-1", customer_identifier="c-1")
    licence = AwsBuyer("prod-a", "us-east-1", customer_aws_account_id="111122223333", license_arn="arn:l")
    assert call_group(legacy) != call_group(licence)
    assert call_group(AzureBuyer("sub-1", "gold")) == call_group(AzureBuyer("sub-2", "silver"))


def test_record_ids_are_stable_and_distinct_per_hour() -> None:
    assert record_id("aws_marketplace", "c", "usage_fee", HOUR) == record_id("aws_marketplace", "c", "usage_fee", HOUR)
    assert record_id("aws_marketplace", "c", "usage_fee", HOUR) != record_id(
        "aws_marketplace", "c", "usage_fee", HOUR + timedelta(hours=1)
    )


def view(status: str = "FINALIZED", target: int = 300, metered: int = 300, *shares: InvoiceShare) -> InvoiceMeterView:
    return InvoiceMeterView(status, "USD", target, metered, shares)


def test_status_synced_when_every_cent_is_accepted() -> None:
    assert meter_status(view("FINALIZED", 300, 300, InvoiceShare(HOUR, 300, 300, "accepted", "m-1")))[0] == "synced"


def test_status_pending_while_cents_wait_or_over_metered() -> None:
    waiting = meter_status(view("DRAFT", 500, 300, InvoiceShare(HOUR, 300, 300, "sent")))
    assert waiting[0] == "pending"
    assert "200 cents not yet in a usage record" in waiting[1]
    over = meter_status(view("DRAFT", 200, 300, InvoiceShare(HOUR, 300, 300, "accepted", "m-1")))
    assert over[0] == "pending"
    assert "over-metered" in over[1]


def test_status_failed_and_expired_name_hours_and_cents() -> None:
    failed = meter_status(view("FINALIZED", 300, 300, InvoiceShare(HOUR, 300, 310, "duplicate", reason="conflict")))
    assert failed == (
        "failed",
        "300 cents not metered: 2025-03-10T12:00:00Z 300 cents (duplicate: conflict); 0 cents accepted",
    )
    expired = meter_status(
        view(
            "FINALIZED",
            300,
            300,
            InvoiceShare(HOUR, 100, 100, "accepted", "m-1"),
            InvoiceShare(HOUR + timedelta(hours=1), 200, 200, "expired", reason="window closed"),
        )
    )
    assert expired[0] == "expired"
    assert "2025-03-10T13:00:00Z 200 cents" in expired[1]
    assert "100 cents accepted" in expired[1]


def test_status_of_a_non_usd_entry_names_the_currency() -> None:
    assert meter_status(InvoiceMeterView("FINALIZED", "JPY", 0, 0, ())) == (
        "failed",
        "marketplaces meter in USD only; invoice currency is JPY",
    )
