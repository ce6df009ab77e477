"""The README's "Try it" steps, carried out as written: a plain `downbeat local`, then the commands.

The steps are the README's marked blocks (the markers of docs/adding-a-function.md, run by the
same Runner): `<!-- step: stack -->` starts `downbeat local` with `--port 0` and hands its URL to
the commands after it as DOWNBEAT_API_URL — and, for the curl line, which names
http://127.0.0.1:8787, in that URL's place. Nothing is seeded by the test: the stack's own
default must make the sample events route. Afterwards the finalized invoice is synced to Stripe
and the invalid one is in RouterDLQ naming `detail.currency`.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.cli import request_json
from local.http_server import LOCAL_API_TOKEN
from tests.e2e.helpers import poll_until
from tests.e2e.test_adding_a_function import Runner, Step, doc_steps

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
DOCUMENTED_URL = "http://127.0.0.1:8787"


class ReadmeRunner(Runner):
    def run(self, step: Step) -> None:
        url = self.env["DOWNBEAT_API_URL"]
        for line in step.body.splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                self.last_command, self.last_output = line, self.command(line.replace(DOCUMENTED_URL, url))


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[ReadmeRunner]:
    runner = ReadmeRunner(REPO, tmp_path / "stack-stderr.log")
    try:
        yield runner
    finally:
        runner.stop_stack()


def sync_status(base: str, invoice_id: str) -> dict[str, Any] | None:
    request = urllib.request.Request(
        f"{base}/v1/invoices/{invoice_id}/sync", headers={"Authorization": f"Bearer {LOCAL_API_TOKEN}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            record: dict[str, Any] = json.loads(response.read())["data"]
            return record
    except urllib.error.HTTPError:
        return None


def test_the_readme_marks_a_stack_and_the_commands_after_it() -> None:
    kinds = [step.kind for step in doc_steps(README.read_text(encoding="utf-8"))]
    assert kinds == ["stack", "run"], kinds


def test_the_readme_steps_work_as_written_on_a_plain_downbeat_local(runner: ReadmeRunner) -> None:
    started = time.monotonic()
    steps = doc_steps(README.read_text(encoding="utf-8"))
    for step in steps:
        if step.kind == "stack":
            runner.start_stack(step)
        else:
            runner.run(step)
    base = runner.env["DOWNBEAT_API_URL"]
    # The curl line's answer: the sync record, or (had the router not stored the invoice yet) the API's 404.
    answer = json.loads(runner.last_output)
    assert answer.get("data", {}).get("invoice_id") == "inv_demo_stripe" or "message" in answer, answer

    synced = poll_until(
        lambda: (record := sync_status(base, "inv_demo_stripe")) and record["status"] == "synced" and record,
        timeout=60,
        what="inv_demo_stripe to be synced to Stripe",
    )
    assert synced["provider_ids"]["stripe_invoice_id"].startswith("in_")

    def rejected() -> dict[str, Any] | None:
        for entry in request_json(base, "GET", "/_local/dlq", token=LOCAL_API_TOKEN)["messages"]:
            if entry["queue"] == "RouterDLQ" and entry["body"].get("detail", {}).get("id") == "inv_demo_invalid":
                return dict(entry)
        return None

    assert poll_until(rejected, timeout=60, what="inv_demo_invalid in RouterDLQ")["field"] == "detail.currency"
    runner.stop_stack()
    assert runner.stack is not None
    assert runner.stack.returncode == 0, runner.log.read_text()[-3000:]
    print(f"README steps: {time.monotonic() - started:.1f} s")
