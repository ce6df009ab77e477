"""The webhook's token check loads PyJWT and cryptography on its first call, not on import: the API
function's cold start is benched, and only the Azure webhook route verifies a token."""

from __future__ import annotations

import json

from tests.fresh_interpreter import fresh_stdout

LOADED = "import json, sys; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & {'jwt', 'cryptography', 'azure', 'requests'})))"  # noqa: E501


def test_importing_the_verifier_loads_no_jwt_crypto_or_azure_sdk() -> None:
    loaded = fresh_stdout(f"import shared.adapters.entra_webhook_tokens; {LOADED}")

    assert json.loads(loaded) == []


def test_the_first_verification_loads_pyjwt() -> None:
    code = (
        "from shared.adapters.entra_webhook_tokens import EntraWebhookTokens\n"
        "print(EntraWebhookTokens('t', 'c').verify('Bearer x.y').reason)\n"
        f"{LOADED}"
    )

    reason, loaded = fresh_stdout(code).splitlines()

    assert reason == "malformed"
    assert "jwt" in json.loads(loaded)
