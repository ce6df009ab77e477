"""Placeholder so `sam build` has code to package; the real handler replaces this file."""

from __future__ import annotations

from typing import Any


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    raise NotImplementedError("functions.stripe_sync.handler is not written yet")
