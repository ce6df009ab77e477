"""`downbeat sync --dry-run INVOICE_FILE` prints the plan and calls nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local.cli import main
from tests.builders import invoice_event


def test_dry_run_prints_the_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    invoice_file = tmp_path / "invoice.json"
    invoice_file.write_text(json.dumps(invoice_event()))
    config_file = tmp_path / "stripe.json"
    config_file.write_text(json.dumps({"stripe_customer_id": "cus_N1", "invoice_date_timezone": "Pacific/Kiritimati"}))

    assert main(["sync", "--dry-run", str(invoice_file), "--config", str(config_file)]) == 0

    plan = json.loads(capsys.readouterr().out)
    assert plan["customer"] == "cus_N1"
    assert plan["total"] == 123456
    assert plan["effective_at"] == 1740693600  # 2025-02-28 12:00 +14:00 = 2025-02-27T22:00:00Z
    assert [call["step"] for call in plan["calls"]] == ["create_draft", "add_lines_1", "finalize"]
    assert plan["calls"][0]["idempotency_key"] == "downbeat:inv_1:v7:create_draft:a1"


def test_sync_without_dry_run_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    invoice_file = tmp_path / "invoice.json"
    invoice_file.write_text(json.dumps(invoice_event()))
    assert main(["sync", str(invoice_file)]) == 2
    assert "--dry-run" in capsys.readouterr().err


def test_dry_run_without_a_configuration_plans_for_a_placeholder_customer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    invoice_file = tmp_path / "invoice.json"
    invoice_file.write_text(json.dumps(invoice_event()))
    assert main(["sync", "--dry-run", str(invoice_file)]) == 0
    assert json.loads(capsys.readouterr().out)["customer"] == "cus_DRY_RUN"  # a shape the configuration accepts
