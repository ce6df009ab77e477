"""The ledger's rules (docs/ledger.md): status, balances as a floored sum, drawdown allocation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.commits import Commit, Segment
from shared.domain.invoice import InvoiceEvent
from shared.domain.ledger import CommitLedger, Drawdown, LedgerEntry, allocate, plan_drawdowns
from tests.builders import invoice_event

JAN = datetime(2025, 1, 1, tzinfo=UTC)
FEB = datetime(2025, 2, 1, tzinfo=UTC)
MAR = datetime(2025, 3, 1, tzinfo=UTC)
APR = datetime(2025, 4, 1, tzinfo=UTC)
NOW = datetime(2025, 2, 15, tzinfo=UTC)


def segment(segment_id: str, amount: str, start: datetime, end: datetime) -> Segment:
    return Segment(id=segment_id, amount=Decimal(amount), starting_at=start, ending_before=end)


def commit(*segments: Segment, invoice_id: str | None = None, currency: str = "USD") -> Commit:
    return Commit(
        id="commit_1",
        kind="commit",
        customer_id="cust_acme",
        type="PREPAID",
        name="2025 commit",
        currency=currency,
        segments=list(segments) or [segment("seg_1", "1000.00", JAN, APR)],
        invoice_id=invoice_id,
        created_at=JAN,
    )


def manual(amount: str, at: datetime, segment_id: str = "seg_1", entry_id: str = "e1") -> LedgerEntry:
    return LedgerEntry(
        id=entry_id,
        commit_id="commit_1",
        segment_id=segment_id,
        type="manual",
        amount=Decimal(amount),
        timestamp=at,
        reason="adjustment",
    )


def finalized(invoice_id: str = "inv_1", amount: str = "100.00", **overrides: Any) -> Any:
    fields: dict[str, Any] = {
        "id": invoice_id,
        "start_timestamp": "2025-01-01T00:00:00Z",
        "end_timestamp": "2025-02-01T00:00:00Z",
        "applied_credits": [{"id": "commit_1", "type": "PREPAID", "amount": amount}],
        **overrides,
    }
    return InvoiceEvent.model_validate(invoice_event(**fields)).detail


def test_status_by_invoice_first_then_by_segments() -> None:
    plain = commit()
    assert plain.status(NOW, None) == "active"
    assert plain.status(JAN - timedelta(seconds=1), None) == "upcoming"
    assert plain.status(APR, None) == "expired"
    billed = commit(invoice_id="inv_9")
    assert billed.status(NOW, None) == "pending"  # its invoice not received yet
    assert billed.status(NOW, "DRAFT") == "pending"
    assert billed.status(NOW, "FINALIZED") == "active"
    assert billed.status(APR, "FINALIZED") == "expired"
    assert billed.status(NOW, "VOID") == "voided"


def test_grant_only() -> None:
    ledger = CommitLedger(commit())
    assert ledger.balance(NOW) == Decimal("1000.00")
    assert ledger.balance(APR) == 0  # expired
    assert ledger.balance(JAN - timedelta(days=1)) == 0  # upcoming
    assert [entry.type for entry in ledger.entries()] == ["grant"]


def test_a_voided_commit_shows_zero() -> None:
    assert CommitLedger(commit(invoice_id="inv_9")).balance(NOW, "VOID") == 0


def test_negative_manual_entries_beyond_the_remainder_floor_the_sum_not_each_step() -> None:
    entries = [manual("-600.00", NOW, entry_id="e1"), manual("-530.00", NOW, entry_id="e2")]
    assert CommitLedger(commit(), entries).balance(NOW) == 0  # 1000 - 1130 = -130 → 0
    entries.append(manual("50.00", NOW, entry_id="e3"))
    assert CommitLedger(commit(), entries).balance(NOW) == 0  # -80: a sum, not a running clamp
    entries.append(manual("100.00", NOW, entry_id="e4"))
    assert CommitLedger(commit(), entries).balance(NOW) == Decimal("20.00")


def test_future_dated_manual_entries_count_on_active_segments_only() -> None:
    two = commit(segment("seg_old", "100.00", JAN, FEB), segment("seg_1", "300.00", FEB, APR))
    future = NOW + timedelta(days=300)
    ledger = CommitLedger(two, [manual("-40.00", future, "seg_1"), manual("-25.00", future, "seg_old", "e2")])
    assert ledger.balance(NOW) == Decimal("260.00")  # seg_old is expired: its entry counts nowhere
    assert ledger.segment_sums()["seg_old"] == Decimal("75.00")  # stored all the same


def test_allocation_takes_the_earliest_ending_segment_first_and_leaves_the_excess_on_the_last() -> None:
    three = commit(
        segment("late", "100.00", JAN, APR),
        segment("early", "30.00", JAN, MAR),
        segment("future", "500.00", MAR, APR),
    )
    remaining = {"late": Decimal("100.00"), "early": Decimal("30.00"), "future": Decimal("500.00")}
    assert allocate(three, Decimal("20"), NOW, remaining) == {"early": Decimal("20")}
    assert allocate(three, Decimal("50"), NOW, remaining) == {"early": Decimal("30.00"), "late": Decimal("20.00")}
    # more than everything active: the excess stays on the last active segment, so the sum is exact
    assert allocate(three, Decimal("150"), NOW, remaining) == {"early": Decimal("30.00"), "late": Decimal("120.00")}
    # a segment already below zero gives nothing
    assert allocate(three, Decimal("10"), NOW, {**remaining, "early": Decimal("-5")}) == {"late": Decimal("10")}
    assert allocate(three, Decimal("10"), APR, remaining) == {}


def test_a_plan_draws_at_the_end_minus_one_millisecond_and_names_what_it_cannot_draw() -> None:
    two = commit(segment("jan", "100.00", JAN, FEB), segment("feb", "100.00", FEB, MAR))
    invoice = finalized(
        applied_credits=[
            {"id": "commit_1", "type": "PREPAID", "amount": "30.00"},
            {"id": "commit_1", "type": "PREPAID", "amount": "5.00"},  # same commit: summed
            {"id": "commit_gone", "type": "PREPAID", "amount": "1.00"},
        ]
    )
    plan = plan_drawdowns(invoice, {"commit_1": CommitLedger(two)})
    assert plan.drawdowns["commit_1"].amounts == {"jan": Decimal("35.00")}  # Jan 31 23:59:59.999 is January
    assert plan.drawdowns["commit_1"].timestamp == FEB - timedelta(milliseconds=1)
    (why,) = plan.unapplied
    assert why.startswith("commit_gone: no commit or credit")
    euros = plan_drawdowns(invoice, {"commit_1": CommitLedger(commit(currency="EUR"))})
    assert euros.drawdowns == {}
    assert "EUR" in euros.unapplied[0]


@pytest.mark.parametrize("status", ["DRAFT", "VOID"])
def test_only_a_finalized_invoice_draws(status: str) -> None:
    assert plan_drawdowns(finalized(status=status), {"commit_1": CommitLedger(commit())}).drawdowns == {}


def test_a_new_version_is_planned_without_its_own_previous_drawdown() -> None:
    previous = Drawdown("inv_1", "commit_1", 1, FEB, {"seg_1": Decimal("900.00")})
    other = Drawdown("inv_2", "commit_1", 1, FEB, {"seg_1": Decimal("50.00")})
    ledger = CommitLedger(commit(), drawdowns=[previous, other])
    plan = plan_drawdowns(finalized(amount="950.00"), {"commit_1": ledger})
    assert plan.drawdowns["commit_1"].amounts == {"seg_1": Decimal("950.00")}
    replaced = CommitLedger(commit(), drawdowns=[plan.drawdowns["commit_1"], other])
    assert replaced.balance(NOW) == 0  # 1000 - 950 - 50


# -- the formula, computed independently -------------------------------------------------------------
DAY = timedelta(days=1)
amounts = st.decimals(min_value=Decimal("-500"), max_value=Decimal("500"), places=2, allow_nan=False)
positive = st.decimals(min_value=Decimal("0"), max_value=Decimal("500"), places=2, allow_nan=False)


@st.composite
def ledgers(draw: st.DrawFn) -> tuple[Commit, list[LedgerEntry], list[tuple[datetime, Decimal]]]:
    count = draw(st.integers(1, 4))
    segments = []
    for index in range(count):
        start = JAN + draw(st.integers(0, 80)) * DAY
        segments.append(segment(f"s{index}", str(draw(positive)), start, start + draw(st.integers(1, 90)) * DAY))
    entries = [
        manual(
            str(draw(amounts)), JAN + draw(st.integers(-30, 400)) * DAY, f"s{draw(st.integers(0, count - 1))}", f"m{i}"
        )
        for i in range(draw(st.integers(0, 6)))
    ]
    invoices = [(JAN + draw(st.integers(1, 120)) * DAY, draw(positive)) for _ in range(draw(st.integers(0, 5)))]
    return commit(*segments), entries, invoices


@given(ledgers(), st.integers(0, 150))
def test_the_balance_is_the_floored_sum_of_the_active_segments(
    drawn: tuple[Commit, list[LedgerEntry], list[tuple[datetime, Decimal]]], day: int
) -> None:
    the_commit, entries, invoices = drawn
    now = JAN + day * DAY
    ledger = CommitLedger(the_commit, entries)
    for number, (end, amount) in enumerate(invoices):  # each invoice planned against the ledger so far
        applied = [{"id": "commit_1", "type": "PREPAID", "amount": str(amount)}]
        start = (end - DAY).isoformat().replace("+00:00", "Z")
        invoice = finalized(
            f"inv_{number}", applied_credits=applied, start_timestamp=start, end_timestamp=end.isoformat()
        )
        plan = plan_drawdowns(invoice, {"commit_1": ledger})
        ledger = CommitLedger(the_commit, entries, [*ledger.drawdowns, *plan.drawdowns.values()])
        active_then = [
            s for s in the_commit.segments if s.starting_at <= end - timedelta(milliseconds=1) < s.ending_before
        ]
        drawn_total = sum(plan.drawdowns["commit_1"].amounts.values()) if plan.drawdowns else Decimal(0)
        assert drawn_total == (amount if active_then and amount > 0 else 0)  # the sum is exact
    # independently: per segment, grant + every entry on it; floored once; only segments active now
    expected = Decimal(0)
    for seg in the_commit.segments:
        if not seg.starting_at <= now < seg.ending_before:
            continue
        total = seg.amount + sum((e.amount for e in entries if e.segment_id == seg.id), Decimal(0))
        total -= sum((d.amounts.get(seg.id, Decimal(0)) for d in ledger.drawdowns), Decimal(0))
        expected += max(Decimal(0), total)
    balance = ledger.balance(now)
    assert balance == expected
    assert balance >= 0
