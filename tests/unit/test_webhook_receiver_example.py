"""The receiver example docs/webhooks.md publishes: the page shows the file as it is, and the file
does what the page says (the local-stack test runs it against real deliveries too)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from local.webhook_receiver import EXAMPLE_PATH, receiver_example
from shared.domain.webhook_delivery import SIGNATURE_HEADER, imf_fixdate, signature

DOCS = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"
example = receiver_example()
NOW = datetime(2025, 11, 25, 14, 0, 0, tzinfo=UTC)
BODY = json.dumps({"id": "ntf_example", "type": "alerts.spend_threshold_reached", "properties": {}}).encode()


def signed(secret: str, body: bytes = BODY, at: datetime = NOW) -> dict[str, str]:
    date = imf_fixdate(at)
    return {"Date": date, SIGNATURE_HEADER: signature(secret, date, body)}


def test_the_page_includes_the_example_file_verbatim() -> None:
    page = DOCS.read_text()
    match = re.search(r"<!-- include: docs/examples/webhook_receiver.py -->\n```python\n(.*?)```\n", page, re.DOTALL)
    assert match, "docs/webhooks.md must show docs/examples/webhook_receiver.py in a python block after its marker"
    assert match.group(1) == EXAMPLE_PATH.read_text(), "the page's copy differs from docs/examples/webhook_receiver.py"


def test_the_example_imports_nothing_of_downbeat() -> None:
    imports = re.findall(r"^(?:from|import) (\S+)", EXAMPLE_PATH.read_text(), re.MULTILINE)
    assert not [name for name in imports if name.split(".")[0] in {"shared", "local", "functions", "tests"}]


def test_verify_accepts_each_id_once_and_rejects_what_the_page_says() -> None:
    clock = NOW.timestamp
    verifier = example.WebhookVerifier("s3cret-value", clock=clock)
    assert verifier.verify(signed("s3cret-value"), BODY)["id"] == "ntf_example"
    assert verifier.verify(signed("s3cret-value", at=NOW + timedelta(seconds=30)), BODY) is None  # a retry
    # Header names in any case, as HTTP servers hand them over.
    lower = {name.lower(): value for name, value in signed("s3cret-value").items()}
    assert example.WebhookVerifier("s3cret-value", clock=clock).verify(lower, BODY) is not None

    refusals = {
        "bad signature": [
            (signed("s3cret-value"), BODY + b" "),
            (signed("another-secret"), BODY),
            ({**signed("s3cret-value"), SIGNATURE_HEADER: signed("s3cret-value")[SIGNATURE_HEADER].upper()}, BODY),
        ],
        "Date too far": [
            (signed("s3cret-value", at=NOW - timedelta(seconds=301)), BODY),
            (signed("s3cret-value", at=NOW + timedelta(seconds=301)), BODY),
        ],
        "missing": [({"Date": imf_fixdate(NOW)}, BODY), ({SIGNATURE_HEADER: "00"}, BODY)],
        "not an HTTP date": [({"Date": "yesterday", SIGNATURE_HEADER: "00"}, BODY)],
        "not in GMT": [({"Date": "Tue, 25 Nov 2025 15:00:00 +0100", SIGNATURE_HEADER: "00"}, BODY)],
    }
    for reason, cases in refusals.items():
        for headers, body in cases:
            with pytest.raises(example.Rejected, match=reason):
                example.WebhookVerifier("s3cret-value", clock=clock).verify(headers, body)


def test_during_a_rotation_the_old_secret_verifies_too() -> None:
    verifier = example.WebhookVerifier("new-secret", "old-secret", clock=NOW.timestamp)
    assert verifier.verify(signed("old-secret"), BODY) is not None
    with pytest.raises(example.Rejected):
        example.WebhookVerifier("new-secret", clock=NOW.timestamp).verify(signed("old-secret"), BODY)


def test_ids_are_forgotten_only_after_downbeat_stops_retrying() -> None:
    now = [NOW.timestamp()]
    seen = example.SeenIds(clock=lambda: now[0])
    assert seen.first_time("ntf_1")
    now[0] += 72 * 3600
    assert not seen.first_time("ntf_1")
    now[0] += example.REMEMBER_SECONDS
    assert seen.first_time("ntf_1")
