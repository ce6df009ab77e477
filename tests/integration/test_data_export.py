"""The data export against moto S3: files read back with pyarrow hold the expected rows and the
balances `customerBalances/list` shows; a re-run replaces and never duplicates; a run that stops
before its switch leaves the previous export readable; big tables are cut into files."""

from __future__ import annotations

import io
import itertools
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from functions.api.handler import lambda_handler as api_handler
from functions.data_export.handler import lambda_handler as export_handler
from local.http_server import http_api_event
from local.lambda_context import LocalLambdaContext
from shared.adapters.s3_exports import SCHEMAS, S3ExportBucket
from shared.domain.audit import AuditEntry
from shared.domain.commits import Commit, Segment
from shared.domain.data_export import SUPERSEDED_TAG, TABLES, ExportManifest, ExportTableName, manifest_key
from shared.domain.invoice import InvoiceEvent
from shared.domain.ledger import LedgerEntry
from shared.ports.errors import RetryableError
from shared.services.api_dependencies import ApiDependencies
from shared.services.data_export import DataExportDependencies, FutureExportDate, export_tables
from tests.builders import customer, invoice_event
from tests.fakes.memory_store import InMemoryStore

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

BUCKET = "downbeat-exports"
NOW = datetime(2025, 6, 15, 3, 0, tzinfo=UTC)
TODAY = NOW.date()
JAN = datetime(2025, 1, 1, tzinfo=UTC)
NEXT_JAN = datetime(2026, 1, 1, tzinfo=UTC)
TOKEN = "export-test-token"


@pytest.fixture
def s3(aws: None) -> S3Client:
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


def _audit(number: int) -> AuditEntry:
    return AuditEntry(
        id=f"audit_{number}",
        timestamp=JAN,
        actor="test",
        action="customerCommits.create",
        resource_type="commit",
        resource_id=f"commit_{number}",
        status_code=200,
        ip_address="192.0.2.1",
        user_agent="test",
    )


_numbers = itertools.count()


def add_commit(
    store: InMemoryStore,
    customer_id: str,
    commit_id: str,
    *segments: tuple[str, datetime, datetime],
    currency: str = "USD",
    credit: bool = False,
    **fields: Any,
) -> Commit:
    commit = Commit(
        id=commit_id,
        kind="credit" if credit else "commit",
        customer_id=customer_id,
        type=None if credit else "PREPAID",
        name=f"{commit_id} name",
        currency=currency,
        segments=[
            Segment(id=f"{commit_id}_seg_{n}", amount=Decimal(amount), starting_at=start, ending_before=end)
            for n, (amount, start, end) in enumerate(segments or (("1000.00", JAN, NEXT_JAN),))
        ],
        created_at=JAN,
        **fields,
    )
    store.create_commits_audited([commit], _audit(next(_numbers)))
    return commit


def add_manual(store: InMemoryStore, commit: Commit, amount: str, segment: int = 0) -> None:
    entry = LedgerEntry(
        id=f"entry_{next(_numbers)}",
        commit_id=commit.id,
        segment_id=commit.segments[segment].id,
        type="manual",
        amount=Decimal(amount),
        timestamp=JAN + timedelta(days=30),
        reason="correction",
    )
    assert store.add_manual_entry(commit.customer_id, entry, _audit(next(_numbers)))


def save_invoice(store: InMemoryStore, **overrides: Any) -> None:
    store.save_invoice(InvoiceEvent.model_validate(invoice_event(**overrides)).detail, JAN)


@pytest.fixture
def store() -> InMemoryStore:
    """Two customers whose commits and credits cover every status and three currencies' minor units."""
    store = InMemoryStore()
    for customer_id in ("cust_acme", "cust_globex"):
        store.create_customer(customer(customer_id))
    add_commit(store, "cust_acme", "commit_drawn", contract_id="con_1", priority=3, custom_fields={"team": "ml"},
               applicable_product_ids=["prod_api"], uniqueness_key="po-1")  # fmt: skip
    save_invoice(store, id="inv_draws", applied_credits=[{"id": "commit_drawn", "type": "PREPAID", "amount": "250.50"}])
    overdrawn = add_commit(store, "cust_acme", "commit_overdrawn", ("100.00", JAN, NEXT_JAN))
    add_manual(store, overdrawn, "-230.00")
    add_manual(store, overdrawn, "50.00")
    add_commit(store, "cust_acme", "commit_expired", ("500.00", JAN - timedelta(days=400), JAN))
    add_commit(store, "cust_acme", "commit_upcoming", ("500.00", NEXT_JAN, NEXT_JAN + timedelta(days=30)))
    add_commit(store, "cust_acme", "commit_pending", invoice_id="inv_billing_pending")
    save_invoice(store, id="inv_billing_voided", status="VOID", applied_credits=[])
    add_commit(store, "cust_acme", "commit_voided", invoice_id="inv_billing_voided")
    two = add_commit(store, "cust_globex", "credit_two_segments", ("10", JAN, NEXT_JAN), ("7", JAN, NEXT_JAN),
                     currency="JPY", credit=True)  # fmt: skip
    add_manual(store, two, "-3", segment=1)
    add_commit(store, "cust_globex", "credit_kwd", ("1.500", JAN, NEXT_JAN), currency="KWD", credit=True)
    return store


def bucket(s3: S3Client, **options: Any) -> S3ExportBucket:
    return S3ExportBucket(s3, BUCKET, **options)


def deps_for(store: InMemoryStore, export_bucket: Any, now: datetime = NOW) -> DataExportDependencies:
    nonces = (f"{n:08x}" for n in itertools.count(1))
    return DataExportDependencies(store=store, bucket=export_bucket, clock=lambda: now, new_nonce=lambda: next(nonces))


def manifest_of(s3: S3Client, day: date = TODAY) -> ExportManifest:
    body = s3.get_object(Bucket=BUCKET, Key=manifest_key(day))["Body"].read()
    return ExportManifest.model_validate_json(body)


def read_table(s3: S3Client, manifest: ExportManifest, name: ExportTableName) -> pa.Table:
    """What a reader does: the manifest's files of `name`, and nothing else, read with pyarrow."""
    parts = [
        pq.read_table(io.BytesIO(s3.get_object(Bucket=BUCKET, Key=file.key)["Body"].read()))
        for file in manifest.tables[name].files
    ]
    return pa.concat_tables(parts)


def rows_by_id(table: pa.Table) -> dict[str, dict[str, Any]]:
    return {row["id"]: row for row in table.to_pylist()}


def api_balances(store: InMemoryStore, customer_id: str) -> dict[str, dict[str, Any]]:
    """customerBalances/list through the API handler, at the export's moment, every page."""
    deps = ApiDependencies(store, lambda: NOW, lambda prefix: f"{prefix}_x", lambda: TOKEN)
    found: dict[str, dict[str, Any]] = {}
    cursor = None
    while True:
        body = {"customer_id": customer_id, "limit": 2, **({"next_page": cursor} if cursor else {})}
        event = http_api_event(
            method="POST",
            target="/v1/contracts/customerBalances/list",
            headers=[("authorization", f"Bearer {TOKEN}"), ("content-type", "application/json")],
            body=json.dumps(body).encode(),
            source_ip="192.0.2.1",
        )
        reply = json.loads(api_handler(event, LocalLambdaContext("ApiFunction"), deps=deps)["body"])
        found.update({entry["id"]: entry for entry in reply["data"]})
        if (cursor := reply["next_page"]) is None:
            return found


def test_the_tables_read_back_with_pyarrow_hold_every_commit_with_the_api_s_balance(
    s3: S3Client, store: InMemoryStore
) -> None:
    result = export_tables(deps_for(store, bucket(s3)))
    manifest = manifest_of(s3)
    assert manifest == result.manifest
    balances = rows_by_id(read_table(s3, manifest, "balances"))
    commits = rows_by_id(read_table(s3, manifest, "commits"))
    api = {**api_balances(store, "cust_acme"), **api_balances(store, "cust_globex")}
    assert set(balances) == set(commits) == set(api)
    assert len(balances) == 8
    for commit_id, shown in api.items():
        for row in (balances[commit_id], commits[commit_id]):
            # One rule: the exported Decimal is the API's decimal string, to the digit.
            assert row["balance"] == Decimal(shown["balance"]), commit_id
            assert f"{row['balance']:.{len(shown['balance'].partition('.')[2])}f}" == shown["balance"]
            assert row["status"] == shown["status"], commit_id
            assert row["balance_as_of"] == NOW
        assert balances[commit_id]["type"] == shown["type"]
        assert balances[commit_id]["name"] == shown["name"]
        assert balances[commit_id]["currency"] == shown["currency"]
        assert balances[commit_id]["contract_id"] == shown["contract_id"]
    # The docs/ledger.md cases, as the API shows them.
    expected = {"commit_drawn": "749.50", "commit_overdrawn": "0", "commit_expired": "0", "commit_upcoming": "0",
                "commit_pending": "1000.00", "commit_voided": "0", "credit_two_segments": "14",
                "credit_kwd": "1.500"}  # fmt: skip
    for commit_id, amount in expected.items():
        assert balances[commit_id]["balance"] == Decimal(amount), commit_id
    assert commits["commit_voided"]["status"] == "voided"
    assert commits["commit_pending"]["status"] == "pending"


def test_the_commits_table_carries_the_commit_as_stored(s3: S3Client, store: InMemoryStore) -> None:
    export_tables(deps_for(store, bucket(s3)))
    row = rows_by_id(read_table(s3, manifest_of(s3), "commits"))["commit_drawn"]
    assert row == {
        "customer_id": "cust_acme",
        "id": "commit_drawn",
        "kind": "commit",
        "type": "PREPAID",
        "name": "commit_drawn name",
        "contract_id": "con_1",
        "priority": 3,
        "currency": "USD",
        "status": "active",
        "balance": Decimal("749.500"),
        "balance_as_of": NOW,
        "segments": [
            {"id": "commit_drawn_seg_0", "amount": Decimal("1000.000"), "starting_at": JAN, "ending_before": NEXT_JAN}
        ],
        "applicable_product_ids": ["prod_api"],
        "custom_fields": [("team", "ml")],
        "uniqueness_key": "po-1",
        "invoice_id": None,
        "recurring_commit_id": None,
        "created_at": JAN,
    }


def test_money_is_decimal_never_float_and_the_schema_is_stored_beside_the_files(
    s3: S3Client, store: InMemoryStore
) -> None:
    manifest = export_tables(deps_for(store, bucket(s3))).manifest
    for name in TABLES:
        table = read_table(s3, manifest, name)
        assert table.schema.equals(SCHEMAS[name])
        assert table.schema.field("balance").type == pa.decimal128(38, 3)
        floats = [f.name for f in table.schema if pa.types.is_floating(f.type)]
        assert not floats
        key = manifest.tables[name].schema_key
        assert key.startswith(f"{name}/export_date=2025-06-15/run={manifest.run_id}/")
        document = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
        assert [column["name"] for column in document["columns"]] == table.schema.names
        assert all(column["description"] for column in document["columns"])
        assert {c["name"]: c["type"] for c in document["columns"]}["balance"] == "decimal128(38, 3)"
    commits = read_table(s3, manifest, "commits")
    assert commits.schema.field("segments").type.value_type.field("amount").type == pa.decimal128(38, 3)


def test_files_sit_under_the_run_and_the_date_and_athena_s_manifests_list_them(
    s3: S3Client, store: InMemoryStore
) -> None:
    manifest = export_tables(deps_for(store, bucket(s3))).manifest
    assert manifest.run_id == "20250615T030000000000Z-00000001"
    for name in TABLES:
        [file] = manifest.tables[name].files
        assert file.key == f"{name}/export_date=2025-06-15/run={manifest.run_id}/part-00000.parquet"
        assert file.rows == 8
        athena = s3.get_object(Bucket=BUCKET, Key=f"athena/{name}/export_date=2025-06-15/manifest")["Body"].read()
        assert athena.decode() == f"s3://{BUCKET}/{file.key}\n"


def test_a_rerun_for_the_same_date_replaces_the_export_and_never_duplicates_it(
    s3: S3Client, store: InMemoryStore
) -> None:
    first = export_tables(deps_for(store, bucket(s3))).manifest
    add_commit(store, "cust_globex", "commit_added_later")
    second = export_tables(deps_for(store, bucket(s3), NOW + timedelta(hours=2))).manifest
    assert second.run_id != first.run_id
    assert manifest_of(s3) == second
    for name in TABLES:
        ids = read_table(s3, second, name).column("id").to_pylist()
        assert len(ids) == len(set(ids)) == 9  # every commit once, the new one included
    # The first run's files are still there (a reader that read its manifest just before still
    # finds them) but marked for expiry; the current run's are not.
    for key in first.object_keys():
        tags = s3.get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"]
        assert tags == [{"Key": SUPERSEDED_TAG[0], "Value": SUPERSEDED_TAG[1]}], key
    for key in second.object_keys():
        assert s3.get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"] == [], key
    # Another date is its own partition: untouched by this date's runs.
    other = export_tables(deps_for(store, bucket(s3), NOW + timedelta(days=1))).manifest
    assert manifest_of(s3) == second
    assert manifest_of(s3, TODAY + timedelta(days=1)) == other
    assert s3.get_object_tagging(Bucket=BUCKET, Key=second.tables["commits"].files[0].key)["TagSet"] == []


class _CrashingBucket:
    """The S3 bucket, failing at one chosen step: after all files are written, before the switch."""

    def __init__(self, inner: S3ExportBucket, fail: str) -> None:
        self._inner = inner
        self._fail = fail

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if name != self._fail:
            return attribute

        def crash(*args: Any, **kwargs: Any) -> Any:
            raise RetryableError("S3 PutObject on export bucket: the connection dropped")

        return crash


def test_a_run_that_stops_before_its_switch_leaves_the_previous_export_readable(
    s3: S3Client, store: InMemoryStore
) -> None:
    before = export_tables(deps_for(store, bucket(s3))).manifest
    old_rows = read_table(s3, before, "balances").to_pylist()
    add_commit(store, "cust_acme", "commit_new")
    with pytest.raises(RetryableError):
        export_tables(deps_for(store, _CrashingBucket(bucket(s3), "switch_manifest"), NOW + timedelta(hours=1)))
    # The crashed run wrote its files (under its own run prefix)...
    crashed = [
        entry["Key"]
        for entry in s3.list_objects_v2(Bucket=BUCKET, Prefix="balances/")["Contents"]
        if "run=20250615T040000" in entry["Key"]
    ]
    assert crashed
    # ...but readers read the manifest, which still names the previous run, complete and alone.
    assert manifest_of(s3) == before
    assert read_table(s3, before, "balances").to_pylist() == old_rows
    assert all(s3.get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"] == [] for key in before.object_keys())
    # The next complete run takes over and retires both the previous run's and the crashed run's files.
    after = export_tables(deps_for(store, bucket(s3), NOW + timedelta(hours=2))).manifest
    assert "commit_new" in read_table(s3, after, "balances").column("id").to_pylist()
    for key in [*before.object_keys(), *crashed]:
        assert s3.get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"] != [], key


def test_a_run_that_fails_while_writing_leaves_no_local_file_and_the_previous_export(
    s3: S3Client, store: InMemoryStore, tmp_path: Path
) -> None:
    before = export_tables(deps_for(store, bucket(s3))).manifest

    class FailingStore(InMemoryStore):
        def invoice_statuses(self, invoice_ids: Any) -> dict[str, str]:
            raise RetryableError("DynamoDB BatchGetItem on the table was throttled")

    failing = FailingStore()
    failing.__dict__.update(store.__dict__)
    with pytest.raises(RetryableError):
        export_tables(deps_for(failing, bucket(s3, scratch=tmp_path, rows_per_group=1), NOW + timedelta(hours=1)))
    assert manifest_of(s3) == before
    assert list(tmp_path.iterdir()) == []


def test_a_big_table_is_cut_into_files_of_row_groups_and_reads_back_whole(
    s3: S3Client, store: InMemoryStore, tmp_path: Path
) -> None:
    for number in range(41):
        add_commit(store, f"cust_{number % 3}", f"commit_many_{number:02d}")
    for number in range(3):
        store.create_customer(customer(f"cust_{number}"))
    export_bucket = bucket(s3, scratch=tmp_path, rows_per_group=4, rows_per_file=12)
    manifest = export_tables(deps_for(store, export_bucket)).manifest
    files = manifest.tables["balances"].files
    assert [f.rows for f in files] == [12, 12, 12, 12, 1]  # 49 rows: 41 + the fixture's 8
    assert [f.key.rsplit("/", 1)[1] for f in files] == [f"part-{n:05d}.parquet" for n in range(5)]
    table = read_table(s3, manifest, "balances")
    assert table.num_rows == manifest.tables["balances"].rows == 49
    assert len(set(table.column("id").to_pylist())) == 49
    first = pq.ParquetFile(io.BytesIO(s3.get_object(Bucket=BUCKET, Key=files[0].key)["Body"].read()))
    assert first.metadata.num_row_groups == 3  # 4 rows each: memory holds one group, never the table
    assert list(tmp_path.iterdir()) == []  # each file left the disk once stored


def test_an_empty_store_exports_empty_tables_with_their_schema(s3: S3Client) -> None:
    manifest = export_tables(deps_for(InMemoryStore(), bucket(s3))).manifest
    for name in TABLES:
        table = read_table(s3, manifest, name)
        assert table.num_rows == 0
        assert table.schema.equals(SCHEMAS[name])


def test_a_future_export_date_is_refused_before_anything_is_written(s3: S3Client, store: InMemoryStore) -> None:
    with pytest.raises(FutureExportDate, match="after today"):
        export_tables(deps_for(store, bucket(s3)), TODAY + timedelta(days=1))
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET)


def test_the_handler_exports_today_and_says_what_it_wrote(s3: S3Client, store: InMemoryStore) -> None:
    event = json.loads(Path("events/data_export/scheduled.json").read_text())
    context = cast(Any, LocalLambdaContext("DataExportFunction"))
    answer = export_handler(event, context, deps=deps_for(store, bucket(s3)))
    assert answer["export_date"] == "2025-06-15"
    assert answer["tables"] == {"commits": {"rows": 8, "files": 1}, "balances": {"rows": 8, "files": 1}}
    assert manifest_of(s3).run_id == answer["run_id"]
