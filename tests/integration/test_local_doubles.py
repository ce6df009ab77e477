"""local/doubles.py: which provider doubles start, for which functions, and what they hand them."""

from __future__ import annotations

import contextlib
import json
import urllib.request

from local.doubles import LOCAL_STRIPE_KEY, DoubleOptions, start_doubles
from local.resources import FunctionSpec, function_specs

SPECS = {spec.logical_id: spec for spec in function_specs()}


def test_the_stripe_double_starts_for_the_stripe_worker_and_only_it_gets_its_variables() -> None:
    with contextlib.ExitStack() as exit_stack:
        providers = start_doubles(SPECS.values(), {}, exit_stack, DoubleOptions(stripe_customers=["cus_seeded"]))
        assert set(providers.running) == {"Stripe"}
        url = providers.running["Stripe"].url
        with urllib.request.urlopen(f"{url}/_double/state", timeout=10) as response:
            assert "cus_seeded" in json.dumps(json.load(response))
        assert providers.environment_for(SPECS["StripeSyncFunction"]) == {
            "STRIPE_API_BASE": url,
            "STRIPE_API_KEY": LOCAL_STRIPE_KEY,
        }
        assert providers.environment_for(SPECS["InvoiceRouterFunction"]) == {}
        assert providers.environment_for(SPECS["ApiFunction"]) == {}
        assert providers.parameter_overrides(SPECS.values()) == {"StripeApiBase": url}
        assert providers.secret_values() == {"StripeApiKeySecret": LOCAL_STRIPE_KEY}
    with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/_double/state", timeout=2):
        raise AssertionError("the double still answers after its exit stack closed")


def test_a_variable_the_user_set_wins_and_no_double_starts() -> None:
    environ = {"STRIPE_API_BASE": "http://127.0.0.1:12111", "STRIPE_API_KEY": "sk_test_users_own"}
    with contextlib.ExitStack() as exit_stack:
        providers = start_doubles(SPECS.values(), environ, exit_stack)
        assert providers.running == {}
        assert providers.environment_for(SPECS["StripeSyncFunction"]) == environ
        assert providers.parameter_overrides(SPECS.values()) == {"StripeApiBase": "http://127.0.0.1:12111"}
        assert providers.secret_values() == {"StripeApiKeySecret": "sk_test_users_own"}


def test_no_double_starts_when_no_function_needs_it() -> None:
    needs_nothing: list[FunctionSpec] = [SPECS["InvoiceRouterFunction"], SPECS["ApiFunction"]]
    with contextlib.ExitStack() as exit_stack:
        providers = start_doubles(needs_nothing, {}, exit_stack)
        assert providers.running == {}
        assert "STRIPE_API_BASE" not in providers.values
        assert providers.parameter_overrides(needs_nothing) == {}
        assert providers.values["STRIPE_API_KEY"] == LOCAL_STRIPE_KEY  # the local secret's value all the same
