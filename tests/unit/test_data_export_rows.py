"""The export's rows: their balance is the one `customerBalances/list` shows, for any ledger (one
rule, not two); the rows have exactly the tables' columns; the bucket's keys and run ids."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.adapters.s3_exports import SCHEMAS, schema_document
from shared.api.commit_schemas import BalanceView
from shared.domain.commits import Commit, Segment
from shared.domain.data_export import (
    TABLES,
    balance_row,
    commit_row,
    data_key,
    exported_balance,
    manifest_key,
    rows_of,
    run_id,
)
from shared.domain.ledger import CommitLedger, Drawdown
from shared.domain.money import minor_units

START = datetime(2025, 1, 1, tzinfo=UTC)


@st.composite
def ledgers(draw: st.DrawFn) -> tuple[CommitLedger, datetime, str | None]:
    currency = draw(st.sampled_from(["USD", "JPY", "KWD", "EUR"]))
    digits = minor_units(currency)

    def amount(low: int, high: int) -> Decimal:
        return Decimal(draw(st.integers(low, high))).scaleb(-digits)

    segments = []
    for number in range(draw(st.integers(1, 4))):
        begin = START + timedelta(days=draw(st.integers(0, 400)))
        segments.append(Segment(id=f"seg_{number}", amount=amount(0, 10**9), starting_at=begin,
                                ending_before=begin + timedelta(days=draw(st.integers(1, 400)))))  # fmt: skip
    invoice_id = draw(st.sampled_from([None, "inv_billing"]))
    commit = Commit(id="commit_1", kind="commit", customer_id="cust_acme", type="PREPAID", name="c",
                    currency=currency, segments=segments, invoice_id=invoice_id, created_at=START)  # fmt: skip
    # Manual sums and drawdowns of any size and sign, with more digits than the currency has (an
    # applied credit may carry them): the rounding is part of the rule.
    manual = {s.id: Decimal(draw(st.integers(-(10**10), 10**10))).scaleb(-digits - 2) for s in segments}
    drawdowns = [
        Drawdown(f"inv_{n}", commit.id, 1, START, {s.id: Decimal(draw(st.integers(0, 10**9))).scaleb(-digits - 1)})
        for n, s in enumerate(segments)
        if draw(st.booleans())
    ]
    now = START + timedelta(days=draw(st.integers(0, 900)), seconds=draw(st.integers(0, 86399)))
    status = draw(st.sampled_from([None, "DRAFT", "FINALIZED", "VOID"])) if invoice_id else None
    return CommitLedger(commit, [], drawdowns, manual), now, status


@given(ledgers())
def test_the_exported_balance_is_the_balance_the_api_shows(case: tuple[CommitLedger, datetime, str | None]) -> None:
    ledger, now, status = case
    shown = BalanceView.of(ledger, now, status, ledgers=False)
    exported = exported_balance(ledger, now, status)
    assert str(exported) == shown.balance  # to the digit, at the currency's minor units
    row = balance_row(ledger, now, status)
    assert row["balance"] == exported
    assert row["status"] == shown.status
    assert commit_row(ledger, now, status)["balance"] == exported


def test_rows_have_exactly_their_table_s_columns() -> None:
    segment = Segment(id="seg_1", amount=Decimal("10.00"), starting_at=START, ending_before=START + timedelta(days=9))
    commit = Commit(id="credit_1", kind="credit", customer_id="cust_acme", name="c", currency="USD",
                    segments=[segment], created_at=START)  # fmt: skip
    rows = rows_of(CommitLedger(commit), START, {})
    for table in TABLES:
        assert list(rows[table]) == SCHEMAS[table].names
        assert [column["name"] for column in schema_document(table)["columns"]] == SCHEMAS[table].names


def test_keys_put_each_run_under_its_date_and_the_manifest_apart() -> None:
    day = date(2025, 3, 2)
    run = run_id(datetime(2025, 3, 2, 3, 0, 0, 123456, tzinfo=UTC), "1f2e3d4cffff")
    assert run == "20250302T030000123456Z-1f2e3d4c"
    assert data_key("balances", day, run, 3) == f"balances/export_date=2025-03-02/run={run}/part-00003.parquet"
    assert manifest_key(day) == "manifests/export_date=2025-03-02/manifest.json"
    with pytest.raises(ValueError, match="run id"):
        run_id(START, "not hex!")
