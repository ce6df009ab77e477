"""The local stack's rules for its control endpoints, as pure functions: who may ask, what is served.

Which variables are secrets is an explicit list here: every name the stack can put in a
function's environment (the template's variables, the stack's own, every provider variable) is
either in SECRETS or in SETTINGS, so a new variable fails this test until someone decides.
"""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from local.doubles import DOUBLES
from local.http_server import bearer_token_matches, is_loopback_authority, is_loopback_origin
from local.resources import function_specs
from local.secret_variables import is_secret_name, split_environment
from local.stack import DUMMY_CREDENTIALS, OWN_SERVICE_ENDPOINTS, PROVIDER_VARIABLES
from local.template import load_template

SECRETS = {
    "STRIPE_API_KEY",
    "DOWNBEAT_API_TOKEN",
    "WEBHOOK_SECRET",
    "AZURE_CLIENT_SECRET",
    "STRIPE_SECRET_NAME",  # with it a handler reads the stack's Secrets Manager secret
    "API_TOKEN_SECRET_NAME",
    "AZURE_CREDENTIALS_SECRET_NAME",
    "DASHBOARD_SIGNING_SECRET",  # signs dashboard links: whoever has it can forge one
    "DASHBOARD_SIGNING_SECRET_NAME",
    "STRIPE_WEBHOOK_SECRET",  # verifies Stripe's webhooks: whoever has it can forge one
    "STRIPE_WEBHOOK_SECRET_NAME",
    "WEBHOOK_SECRET_NAME",  # signs the alert webhooks: whoever has it can forge one
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
}
SETTINGS = {
    "CLAIM_CHECK_BUCKET",
    "CLAIM_CHECK_BUCKET_OWNER",
    "EXPORT_BUCKET",
    "EXPORT_BUCKET_OWNER",
    "STRIPE_SYNC_MAX_RECEIVES",
    *OWN_SERVICE_ENDPOINTS,  # AWS_ENDPOINT_URL_SECRETS_MANAGER among them: a URL
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "EVENT_BUS_NAME",
    "POWERTOOLS_TRACE_DISABLED",
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_LOG_LEVEL",
    "POWERTOOLS_SERVICE_NAME",
    "LOG_LEVEL",
    "DASHBOARD_FRAME_ANCESTORS",
    "TABLE_NAME",
    "STRIPE_SYNC_QUEUE_URL",
    "ROUTER_DLQ_URL",
    "NOTIFICATIONS_QUEUE_URL",
    "ALERT_EVALUATION_QUEUE_URL",
    "STRIPE_API_BASE",
    "AZURE_METERING_BASE_URL",
    "AZURE_FULFILLMENT_BASE_URL",
    "AWS_MARKETPLACE_REGION",
    "MARKETPLACE_LIFECYCLE_DLQ_URL",
    "MARKETPLACE_SIGNUP_URL",
    "AWS_ENDPOINT_URL_MARKETPLACE_METERING",  # the AWS metering double's URL
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
    "AZURE_AUTHORITY_HOST",
    "WEBHOOK_URL",
    "NOTIFICATIONS_DLQ_URL",
    "REQUESTS_CA_BUNDLE",
    "SSL_CERT_FILE",
}


def every_variable_the_stack_sets() -> set[str]:
    names = {*OWN_SERVICE_ENDPOINTS, "AWS_REGION", "AWS_DEFAULT_REGION", "POWERTOOLS_TRACE_DISABLED"}
    names |= {"EVENT_BUS_NAME", *DUMMY_CREDENTIALS, "AWS_SESSION_TOKEN", *PROVIDER_VARIABLES}
    for double in DOUBLES:  # what a provider double hands the functions that need it
        names |= {double.variable, *double.defaults, *double.provides}
    for spec in function_specs(load_template()):
        names |= set(spec.environment)
    return names


def test_every_variable_a_function_can_get_is_classified_as_a_secret_or_a_setting() -> None:
    names = every_variable_the_stack_sets()
    unclassified = names - SECRETS - SETTINGS
    assert not unclassified, f"decide whether these are secrets (SECRETS) or settings (SETTINGS): {unclassified}"
    assert {name for name in names if is_secret_name(name)} == SECRETS & names
    assert names >= SECRETS, "a listed secret no longer exists: keep the list to what the stack sets"


def test_split_environment_withholds_secrets_by_name_by_value_and_by_reference() -> None:
    environment = {
        "TABLE_NAME": "downbeat-local-DownbeatTable",
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://127.0.0.1:5000",
        "STRIPE_API_KEY": "sk_test_abcdefghijkl",
        "INNOCENT_LOOKING": "prefix-sk_test_abcdefghijkl",  # a secret's value under another name
        "FROM_THE_STACKS_SECRET": "dbtok-0123456789",  # a value the stack put in a Secrets Manager secret
        "DYNAMIC": "{{resolve:secretsmanager:MySecret:SecretString}}",
        "AWS_SECRET_ACCESS_KEY": "testing",  # withheld by name even when too short to match by value
        "MARKER": "testing",  # …and a short value is never matched by value
    }
    served, withheld = split_environment(environment, ["dbtok-0123456789"])
    assert served == {
        "TABLE_NAME": "downbeat-local-DownbeatTable",
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://127.0.0.1:5000",
        "MARKER": "testing",
    }
    assert withheld == sorted(set(environment) - set(served))


@pytest.mark.parametrize(
    "name",
    ["CLIENT_SECRET", "MY_APITOKEN", "DB_PASSWORD", "X_PASSPHRASE", "GCP_CREDENTIALS", "SSH_PRIVATE", "SIGNING_KEY",
     "KEY", "API_KEYS", "OPENAI_APIKEY", "LDAP_PASS", "lower_secret_key"],
)  # fmt: skip
def test_secret_looking_names_are_secrets(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name", ["TABLE_NAME", "KEYBOARD_LAYOUT", "MONKEY_MODE", "AWS_ENDPOINT_URL_SECRETS_MANAGER", "PASSTHROUGH"]
)
def test_ordinary_names_are_settings(name: str) -> None:
    assert not is_secret_name(name)


@pytest.mark.parametrize(
    "authority",
    ["localhost", "LocalHost", "localhost:8787", "localhost:", "127.0.0.1", "127.0.0.1:8787", "127.1.2.3:1",
     "[::1]", "[::1]:8787", "[0:0:0:0:0:0:0:1]"],
)  # fmt: skip
def test_loopback_authorities(authority: str) -> None:
    assert is_loopback_authority(authority)


@pytest.mark.parametrize(
    "authority",
    ["", "evil.com", "evil.com:8787", "localhost.evil.com", "localhost.", "127.0.0.1.nip.io", "0.0.0.0", "::1",
     "[::ffff:127.0.0.1]", "10.0.0.1", "user@localhost", "localhost:99999", "localhost:abc", "localhost:8787:1",
     "127.0.0.1 ", " localhost", "localhost/x", "[::1", "127.0.0.01", "2130706433", "0x7f.0.0.1", "[fe80::1]"],
)  # fmt: skip
def test_other_authorities_are_not_loopback(authority: str) -> None:
    assert not is_loopback_authority(authority)


@given(st.text(max_size=40))
def test_an_authority_is_loopback_only_when_its_host_is_localhost_or_a_loopback_address(authority: str) -> None:
    if not is_loopback_authority(authority):
        return
    host = authority.rsplit(":", 1)[0] if not authority.endswith("]") else authority
    if host.lower() == "localhost":
        return
    assert ipaddress.ip_address(host.strip("[]")).is_loopback


@pytest.mark.parametrize(
    ("origin", "loopback"),
    [("http://localhost:3000", True), ("https://127.0.0.1", True), ("http://[::1]:8787", True),
     ("null", False), ("http://evil.com", False), ("http://localhost.evil.com", False), ("file://", False),
     ("http://localhost/path", False), ("", False), ("http://", False)],
)  # fmt: skip
def test_loopback_origins(origin: str, loopback: bool) -> None:
    assert is_loopback_origin(origin) is loopback


@pytest.mark.parametrize(
    ("headers", "matches"),
    [(["Bearer right-token"], True), (["bearer   right-token  "], True), (["Bearer wrong-token"], False),
     (["Token right-token"], False), (["Bearer"], False), (["Bearer "], False), ([], False),
     (["Bearer right-token", "Bearer right-token"], False), (["right-token"], False)],
)  # fmt: skip
def test_bearer_token_matches(headers: list[str], matches: bool) -> None:
    assert bearer_token_matches(headers, "right-token") is matches
