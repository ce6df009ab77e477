"""`downbeat local` that leaks secrets on purpose: the proof that the leak check can fail.

    python -m tests.e2e.leaky_stack local --port 0 …   (the arguments of `downbeat`)

Inside the stack process, right after the stack imports each handler module (so the functions'
Powertools logger writes where it always does), three leaks go in through what the functions
themselves use:

- the API logs `Authorization: Bearer <the token it expects>` at DEBUG;
- the Stripe worker logs its key as an HTTP Basic header (base64) at INFO;
- the router adds the API token to the reason of every message it dead-letters;
- and the stack itself serves each function's whole environment at `/_local/env/<function>`,
  secrets included (what it did before it withheld them).

Only this test module does this; nothing in the product reads a switch for it.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import sys
from collections.abc import Mapping
from typing import Any

import local.stack
from local.cli import main
from local.lambda_runtime import Handler, load_handler
from local.resources import FunctionSpec

_leaking: set[str] = set()


class _TokenInReason:
    """A MessageQueue that writes the API token into each message's reason."""

    def __init__(self, queue: Any) -> None:
        self._queue = queue

    def send(self, body: Mapping[str, Any], attributes: Mapping[str, str] | None = None) -> str:
        leaked = dict(attributes or {})
        leaked["reason"] = f"{leaked.get('reason', '')} (caller token {os.environ['DOWNBEAT_API_TOKEN']})"
        message_id: str = self._queue.send(body, attributes=leaked)
        return message_id


def _leak_in_api(module: Any) -> None:
    authenticate = module.authenticate

    def logging_authenticate(event: Any, expected_token: str) -> Any:
        module.logger.debug("authenticating", extra={"authorization": f"Bearer {expected_token}"})
        return authenticate(event, expected_token)

    module.authenticate = logging_authenticate


def _leak_in_stripe_sync(module: Any) -> None:
    sync_stripe_invoice = module.sync_stripe_invoice

    def logging_sync(message: Any, deps: Any, *delivery: Any) -> Any:
        basic = base64.b64encode(f"{os.environ['STRIPE_API_KEY']}:".encode()).decode()
        module.logger.info("calling Stripe", extra={"authorization": f"Basic {basic}"})
        return sync_stripe_invoice(message, deps, *delivery)

    module.sync_stripe_invoice = logging_sync


def _leak_in_router(module: Any) -> None:
    route_invoice_event = module.route_invoice_event

    def leaking_route(event: Any, deps: Any) -> Any:
        return route_invoice_event(event, dataclasses.replace(deps, dead_letters=_TokenInReason(deps.dead_letters)))

    module.route_invoice_event = leaking_route


LEAKS = {
    "ApiFunction": _leak_in_api,
    "StripeSyncFunction": _leak_in_stripe_sync,
    "InvoiceRouterFunction": _leak_in_router,
}


def _load_leaking_handler(spec: FunctionSpec) -> Handler:
    handler = load_handler(spec)
    leak = LEAKS.get(spec.logical_id)
    if leak is not None and spec.logical_id not in _leaking:  # the stack may load a handler again
        leak(sys.modules[spec.module])
        _leaking.add(spec.logical_id)
    return handler


def _whole_environment(stack: local.stack.LocalStack, name: str) -> dict[str, str]:
    return dict(stack.runtime(name).environment)


if __name__ == "__main__":
    # The stack imported load_handler by name: its module attribute is the one to replace.
    local.stack.load_handler = _load_leaking_handler  # type: ignore[attr-defined]
    local.stack.LocalStack.function_environment = _whole_environment  # type: ignore[method-assign,assignment]
    sys.exit(main(sys.argv[1:]))
