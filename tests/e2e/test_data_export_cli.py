"""`downbeat export --date D` and `downbeat trigger data_export` on the local stack (DynamoDB and S3 on
moto): the Parquet files the manifest names hold the customer's commits with the balances the
stack's own API answers; a second run of the date replaces the first; the progress bar is on
stderr; bad dates are usage errors."""

from __future__ import annotations

import contextlib
import io
import json
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from local.cli import main
from local.stack import LocalStack
from shared.adapters.dynamodb import DynamoDBStore
from shared.domain.audit import AuditEntry
from shared.domain.commits import Commit, Segment
from shared.domain.customers import Customer
from shared.domain.data_export import ExportManifest, manifest_key

START = datetime(2020, 1, 1, tzinfo=UTC)
END = datetime(2090, 1, 1, tzinfo=UTC)


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    # The stack shares this process: its functions' log lines and metrics land on stdout too.
    lines = [line for line in out.getvalue().splitlines() if not line.startswith(('{"level"', '{"_aws"'))]
    return code, "\n".join(lines), err.getvalue()


def new_customer_with_commits(store: DynamoDBStore) -> str:
    customer_id = f"cust_export_{uuid.uuid4().hex[:8]}"
    store.create_customer(Customer(id=customer_id, name="Export test", created_at=START))
    for number, (amount, currency) in enumerate([("1000.00", "USD"), ("12345", "JPY"), ("1.500", "KWD")]):
        commit = Commit(id=f"commit_{customer_id}_{number}", kind="commit", customer_id=customer_id, type="PREPAID",
                        name=f"commit {number}", currency=currency, created_at=START,
                        segments=[Segment(id=f"seg_{number}", amount=Decimal(amount), starting_at=START,
                                          ending_before=END)])  # fmt: skip
        audit = AuditEntry(id=f"audit_{uuid.uuid4().hex}", timestamp=START, actor="test",
                           action="customerCommits.create", resource_type="commit", resource_id=commit.id,
                           status_code=200, ip_address=None, user_agent=None)  # fmt: skip
        store.create_commits_audited([commit], audit)
    return customer_id


def api_balances(stack: LocalStack, customer_id: str) -> dict[str, str]:
    request = urllib.request.Request(
        f"{stack.url}/v1/contracts/customerBalances/list",
        data=json.dumps({"customer_id": customer_id, "limit": 100}).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {stack.api_token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return {entry["id"]: entry["balance"] for entry in json.loads(response.read())["data"]}


def exported(stack: LocalStack, day: str) -> tuple[ExportManifest, pa.Table]:
    assert stack.resources is not None
    bucket = stack.resources.buckets["ExportBucket"]
    s3: Any = stack.clients.s3
    manifest = ExportManifest.model_validate_json(
        s3.get_object(Bucket=bucket, Key=manifest_key(datetime.fromisoformat(day).date()))["Body"].read()
    )
    files = [s3.get_object(Bucket=bucket, Key=f.key)["Body"].read() for f in manifest.tables["balances"].files]
    return manifest, pa.concat_tables([pq.read_table(io.BytesIO(data)) for data in files])


def test_export_writes_the_stack_s_balances_and_trigger_replaces_the_day(
    local_stack: LocalStack, store: DynamoDBStore
) -> None:
    customer_id = new_customer_with_commits(store)
    today = datetime.now(UTC).date().isoformat()
    code, out, err = run("export", "--api", local_stack.url, "--date", today)
    assert code == 0, err
    summary = json.loads(out)
    assert summary["export_date"] == today
    assert f"export {today} [" in err
    assert "customers" in err
    assert "##############################]" in err  # ... to its end
    manifest, table = exported(local_stack, today)
    assert manifest.run_id == summary["run_id"]
    mine = {row["id"]: row["balance"] for row in table.to_pylist() if row["customer_id"] == customer_id}
    shown = api_balances(local_stack, customer_id)
    assert len(mine) == 3
    assert {commit_id: Decimal(balance) for commit_id, balance in shown.items()} == mine
    ids = table.column("id").to_pylist()
    assert len(ids) == len(set(ids))

    code, out, err = run("trigger", "--api", local_stack.url, "data_export")
    assert code == 0, err
    result = json.loads(out)
    assert result["export_date"] == today
    assert result["replaced_run_id"] == manifest.run_id
    assert result["retired_objects"] == 4  # the first run's two files and two schemas
    again, table = exported(local_stack, today)
    assert again.run_id == result["run_id"] != manifest.run_id
    ids = table.column("id").to_pylist()
    assert len(ids) == len(set(ids))  # replaced, not appended
    assert {row["id"] for row in table.to_pylist() if row["customer_id"] == customer_id} == set(mine)


@pytest.mark.parametrize(
    ("date", "said"),
    [("2025-13-01", "is not a date"), ("yesterday", "is not a date"), ("2025-3-1", "is not a date")],
)
def test_a_bad_date_is_a_usage_error(date: str, said: str) -> None:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), pytest.raises(SystemExit) as exit_:
        main(["export", "--date", date])
    assert exit_.value.code == 2
    assert said in err.getvalue()
    assert "YYYY-MM-DD" in err.getvalue()


def test_a_future_date_is_refused_and_writes_nothing(local_stack: LocalStack) -> None:
    tomorrow = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    code, _, err = run("export", "--api", local_stack.url, "--date", tomorrow)
    assert code == 2
    assert "after today" in err


def test_export_and_trigger_say_what_they_do() -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        main(["export", "--help"])
    text = " ".join(out.getvalue().split())
    for said in ("--date YYYY-MM-DD", "manifest", "Parquet", "balance", "docs/export.md", "progress bar", "Exit codes"):
        assert said in text
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        main(["trigger", "--help"])
    assert "data_export" in " ".join(out.getvalue().split())
