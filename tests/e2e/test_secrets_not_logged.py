"""No secret in any log line, DLQ message or response: the stack run with known secrets, everything kept.

The stack runs as `downbeat local` in its own process with every logging switch on (DEBUG for
its own log and the functions', POWERTOOLS_LOGGER_LOG_EVENT, POWERTOOLS_DEV), and both its
streams are kept: the `downbeat.local` log, the functions' Powertools JSON lines and metrics,
anything a library prints. tests/e2e/secret_flows.py drives it through the API token and the
Stripe key; `downbeat dlq list` output (bodies and reasons) and every response the flows got —
the API's, and the control endpoints' including `/_local/env/<function>` for every function —
are checked with the streams. The second test runs the same flows on a stack that leaks on
purpose (tests/e2e/leaky_stack.py) and expects the same check to fail.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.stripe_double import StripeDouble
from tests.e2e.secret_flows import STACK_ARGUMENTS, FlowsSeen, KnownSecrets, drive_secret_flows
from tests.e2e.stack_process import StackProcess, clean_environment
from tests.secret_leaks import AS_IS, BASE64, BEARER, assert_no_secret_leaks, find_leaks


class RecordingStripeDouble(StripeDouble):
    """The Stripe double, keeping each Authorization header it was sent (which key the worker used)."""

    def __init__(self) -> None:
        super().__init__(auto_create_customers=True)  # customers created through the API exist
        self.authorizations: set[str] = set()

    def _serve(self, method: str, path: str, params: Any, headers: dict[str, str]) -> Any:
        self.authorizations.add(headers.get("authorization", ""))
        return super()._serve(method, path, params, headers)


@pytest.fixture
def stripe() -> Iterator[RecordingStripeDouble]:
    with RecordingStripeDouble() as double:
        yield double


def run_flows(
    secrets: KnownSecrets, stripe: StripeDouble, workdir: Path, module: str = "local.cli"
) -> tuple[FlowsSeen, dict[str, str]]:
    """The flows on a fresh stack process; what they saw, and everything to check (by source)."""
    environment = clean_environment(workdir, **secrets.stack_variables(stripe.url))
    with StackProcess(environment, workdir, module=module, arguments=STACK_ARGUMENTS) as stack:
        seen = drive_secret_flows(stack.url, secrets, stripe, workdir)
    assert stack.returncode == 0, stack.captured()["stack stderr"][-2000:]
    return seen, {**stack.captured(), "dlq list": seen.dlq_listing, "responses": seen.responses_text()}


def assert_the_flows_ran_with_these_secrets(
    seen: FlowsSeen, secrets: KnownSecrets, stripe: RecordingStripeDouble
) -> None:
    assert seen.refused == [401, 401, 401]
    assert seen.syncs["synced"]["status"] == "synced"
    assert seen.syncs["failed"]["status"] == "failed"
    assert "invalid_request_error" in seen.syncs["failed"]["reason"]
    assert {entry["queue"] for entry in seen.dead_letters} == {"RouterDLQ", "StripeSyncDLQ", "NotificationsDLQ"}
    assert sorted(entry.get("field", "") for entry in seen.dead_letters if entry["queue"] == "RouterDLQ") == [
        "detail-type",
        "detail.currency",
        "detail.customer_id",
    ]
    assert stripe.authorizations == {f"Bearer {secrets.stripe_key}"}  # the key we look for is the one in use
    # The environments held the secrets the stack withheld from its answers.
    assert {"DOWNBEAT_API_TOKEN", "API_TOKEN_SECRET_NAME"} <= set(seen.withheld["ApiFunction"])
    assert {"STRIPE_API_KEY", "STRIPE_SECRET_NAME"} <= set(seen.withheld["StripeSyncFunction"])
    assert seen.control_refused == [401, 401, 401]
    assert seen.dashboard_pages == [200, 403, 200]
    assert seen.webhooks == [200, 400]
    assert {"STRIPE_WEBHOOK_SECRET", "STRIPE_WEBHOOK_SECRET_NAME"} <= set(seen.withheld["StripeWebhookFunction"])
    assert {"DASHBOARD_SIGNING_SECRET", "DASHBOARD_SIGNING_SECRET_NAME"} <= set(seen.withheld["ApiFunction"])
    assert seen.alert_webhooks_delivered
    assert {"WEBHOOK_SECRET", "WEBHOOK_SECRET_NAME"} <= set(seen.withheld["WebhookSenderFunction"])
    (unreadable,) = [entry for entry in seen.dead_letters if entry["queue"] == "NotificationsDLQ"]
    assert unreadable["reason"] == "unreadable notification: id: must be a non-empty string"


def test_no_secret_in_logs_dead_letters_or_responses(stripe: RecordingStripeDouble, tmp_path: Path) -> None:
    secrets = KnownSecrets.fresh()
    seen, captured = run_flows(secrets, stripe, tmp_path)
    assert_the_flows_ran_with_these_secrets(seen, secrets, stripe)
    # Debug logging was on: the stack's own lines here; the leaking test below shows that a DEBUG
    # line of the functions' Powertools logger is captured too.
    assert " DEBUG downbeat.local: " in captured["stack stderr"]
    assert_no_secret_leaks(secrets.by_name(), captured)


def test_the_check_reports_secrets_a_stack_leaks_on_purpose(stripe: RecordingStripeDouble, tmp_path: Path) -> None:
    secrets = KnownSecrets.fresh()
    seen, captured = run_flows(secrets, stripe, tmp_path, module="tests.e2e.leaky_stack")
    assert_the_flows_ran_with_these_secrets(seen, secrets, stripe)

    found = {(leak.secret, leak.form, leak.source) for leak in find_leaks(secrets.by_name(), captured)}
    assert found == {
        ("DOWNBEAT_API_TOKEN", BEARER, "stack stderr"),
        ("STRIPE_API_KEY", BASE64, "stack stderr"),
        ("DOWNBEAT_API_TOKEN", AS_IS, "dlq list"),
        ("DOWNBEAT_API_TOKEN", AS_IS, "responses"),  # the DLQ reason in /_local/dlq, and /_local/env
        ("STRIPE_API_KEY", AS_IS, "responses"),  # /_local/env/StripeSyncFunction serving the key
        ("DASHBOARD_SIGNING_SECRET", AS_IS, "responses"),  # /_local/env/ApiFunction serving it
        ("STRIPE_WEBHOOK_SECRET", AS_IS, "responses"),  # /_local/env/StripeWebhookFunction serving it
        ("WEBHOOK_SECRET", AS_IS, "responses"),  # /_local/env/WebhookSenderFunction serving it
    }
    with pytest.raises(AssertionError) as failure:
        assert_no_secret_leaks(secrets.by_name(), captured)
    report = str(failure.value)
    print(report)  # shown with -s: what a real leak looks like
    assert report.startswith("secret leaked: ")
    assert "«DOWNBEAT_API_TOKEN»" in report
    assert "«base64 of STRIPE_API_KEY»" in report
    assert all(value not in report for value in secrets.by_name().values())
