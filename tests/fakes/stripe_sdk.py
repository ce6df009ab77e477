"""Helpers to drive the real ``stripe`` SDK against :class:`local.stripe_double.StripeDouble`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import stripe
from stripe._http_client import HTTPClient

from local.stripe_double import StripeDouble

TEST_API_KEY = "sk_test_downbeat_double"


def client_for(double: StripeDouble, *, max_network_retries: int = 0) -> stripe.StripeClient:
    """A StripeClient whose API base is the double (what ``STRIPE_API_BASE`` does in the app)."""
    return stripe.StripeClient(
        TEST_API_KEY, base_addresses={"api": double.url}, max_network_retries=max_network_retries
    )


@contextmanager
def instant_sdk_retries() -> Iterator[None]:
    """Make the SDK's retry back-off zero seconds (it otherwise sleeps at least 0.5 s per retry).

    The SDK computes the pause in ``HTTPClient._sleep_time_seconds``; nothing else changes, so the
    retry *decisions* (connection errors, 409, 5xx, ``Stripe-Should-Retry``) stay the real ones.
    """
    original = HTTPClient._sleep_time_seconds
    HTTPClient._sleep_time_seconds = lambda self, num_retries: 0.0  # type: ignore[method-assign]
    try:
        yield
    finally:
        HTTPClient._sleep_time_seconds = original  # type: ignore[method-assign]
