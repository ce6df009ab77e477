"""The `downbeat` commands against the running stack, and `invoke` with no stack at all."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from local.cli import main
from local.http_server import LOCAL_API_TOKEN
from local.stack import LocalStack
from tests.e2e.helpers import dead_letter_for, poll_until, sample_event, write_event
from tests.e2e.stack_process import StackProcess, clean_environment

REPO = Path(__file__).resolve().parents[2]
ROUTER_EVENT = str(REPO / "events" / "invoice_router" / "finalized.json")


def test_send_event_refuses_a_file_that_is_not_json_with_exit_code_2(
    local_stack: LocalStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{not json", encoding="utf-8")
    assert main(["send-event", "--api", local_stack.url, str(path)]) == 2
    captured = capsys.readouterr()
    assert "is not JSON" in captured.err
    assert captured.out == ""


def test_dlq_list_prints_one_json_object_per_line_and_consumes_nothing(
    local_stack: LocalStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event = sample_event("invalid.json")
    assert main(["send-event", "--api", local_stack.url, write_event(tmp_path, event)]) == 0
    poll_until(lambda: dead_letter_for(local_stack.url, event["detail"]["id"]), what="the rejected event")
    capsys.readouterr()

    listings = []
    for _ in range(3):
        assert main(["dlq", "list", "--api", local_stack.url]) == 0
        lines = capsys.readouterr().out.splitlines()
        listings.append([json.loads(line) for line in lines])
    assert all(len(listing) == len(listings[0]) for listing in listings)
    assert {e["message_id"] for e in listings[0]} == {e["message_id"] for e in listings[2]}
    mine = [e for e in listings[2] if e["body"].get("detail", {}).get("id") == event["detail"]["id"]]
    assert len(mine) == 1
    assert list(mine[0]) == ["queue", "message_id", "reason", "body", "field"]
    assert "detail.currency" in mine[0]["reason"]
    assert mine[0]["field"] == "detail.currency"
    assert mine[0]["body"]["detail"] == event["detail"]


def test_invoke_runs_a_handler_against_the_running_stack(
    local_stack: LocalStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event = sample_event()  # cust_acme exists in the running stack (seeded by the fixture)
    assert main(["invoke", "--api", local_stack.url, "InvoiceRouterFunction", write_event(tmp_path, event)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["outcome"] == "queued"
    assert result["provider"] == "stripe"


def test_trigger_names_a_missing_scheduled_function_with_exit_code_2(
    local_stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["trigger", "--api", local_stack.url, "nightly_report"]) == 2
    assert "no scheduled function nightly_report in this build" in capsys.readouterr().err


def run_cli(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """The CLI in a clean process: no AWS credentials or profile, and nothing listening at --api."""
    environment = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "local.cli", *args, "--api", "http://127.0.0.1:9"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_invoke_without_a_stack_uses_a_fresh_in_memory_aws_and_needs_no_credentials(tmp_path: Path) -> None:
    fresh = run_cli("invoke", "invoice_router", ROUTER_EVENT, tmp_path=tmp_path)
    assert fresh.returncode == 0, fresh.stderr
    rejected = json.loads(fresh.stdout)
    assert rejected["outcome"] == "rejected"
    assert rejected["field"] == "detail.customer_id"

    seeded = run_cli("invoke", "invoice_router", ROUTER_EVENT, "--seed", tmp_path=tmp_path)
    assert seeded.returncode == 0, seeded.stderr
    assert json.loads(seeded.stdout)["outcome"] == "queued"


def test_downbeat_local_prints_one_ready_line_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    environment = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "PYTHONPATH": str(REPO)}
    stderr_path = tmp_path / "stderr.log"  # shown when an assertion fails: what the stack said
    with stderr_path.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "local.cli", "local", "--port", "0", "--no-schedules"],
            cwd=tmp_path,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # blocks until the stack is ready (or the process dies)
        match = re.fullmatch(r"downbeat local ready: api=(http://127\.0\.0\.1:\d+)\n", line)
        assert match, (line, stderr_path.read_text()[-2000:])
        # generous timeouts: a loaded CI machine, not the stack, decides how long these take
        with urllib.request.urlopen(match.group(1) + "/health", timeout=30) as response:
            assert response.status == 200
        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr_path.read_text()[-2000:]
    assert rest == ""


def customer_status(base: str, customer_id: str) -> int:
    request = urllib.request.Request(
        f"{base}/v1/customers/{customer_id}", headers={"Authorization": f"Bearer {LOCAL_API_TOKEN}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_downbeat_local_seeds_the_demo_data_unless_no_seed_and_invoke_seed_seeds_a_running_stack(
    tmp_path: Path,
) -> None:
    environment = clean_environment(tmp_path)
    with StackProcess(environment, tmp_path) as seeded:
        assert customer_status(seeded.url, "cust_acme") == 200
    with StackProcess(environment, tmp_path, arguments=("--port", "0", "--no-schedules", "--no-seed")) as empty:
        assert customer_status(empty.url, "cust_acme") == 404
        invoked = subprocess.run(
            [sys.executable, "-m", "local.cli", "invoke", "invoice_router", ROUTER_EVENT, "--seed", "--api", empty.url],
            cwd=tmp_path,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert invoked.returncode == 0, invoked.stderr
        assert json.loads(invoked.stdout)["outcome"] == "queued"  # seeded first: the customer is known
        assert customer_status(empty.url, "cust_acme") == 200
