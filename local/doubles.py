"""The built-in provider doubles: which there are, which functions get them, how each starts.

`downbeat local` (local/stack.py) and `downbeat invoke` (local/invoke.py) both start them from
`DOUBLES`. A double starts when a function that needs it runs and its variable is unset: a
variable the user has set always wins, even when it points away from the local doubles. The
double's URL goes in that variable; `defaults` fill the variables that go with it (the local
Stripe key, the local Azure app registration), again unless the user set them, and `provides`
the ones only the started double knows (the Azure double's authority and CA bundle). Adding a
double is one `ProviderDouble` below.

The marketplace doubles: a function calls AWS Marketplace when its template environment names
`AWS_MARKETPLACE_REGION` (boto3 finds the double through `AWS_ENDPOINT_URL_MARKETPLACE_METERING`,
a variable the template never sets), and Azure Marketplace when it names `AZURE_METERING_BASE_URL`
(the meter) or `AZURE_FULFILLMENT_BASE_URL` (the API: landing, activation, webhook). One Azure
double serves both: its URL goes in each of those variables the user left unset.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from local.resources import FunctionSpec

LOCAL_STRIPE_KEY = "sk_test_downbeat_local"
# Signs the double's webhooks to the local stack (and verifies them there): fake, local-only.
LOCAL_STRIPE_WEBHOOK_SECRET = "whsec_downbeat_local"
# The Azure double's app registration: fake, local-only values (the secret is withheld like any
# other secret variable: local/secret_variables.py).
LOCAL_AZURE_TENANT_ID = "00000000-0000-4000-8000-00000000d0b1"
LOCAL_AZURE_CLIENT_ID = "00000000-0000-4000-8000-00000000c11e"
LOCAL_AZURE_CLIENT_SECRET = "downbeat-local-azure-client-secret"
# Signs the alert webhooks to the local receiver (which verifies them with it): fake, local-only.
LOCAL_WEBHOOK_SECRET = "downbeat-local-webhook-secret"


class RunningDouble(Protocol):
    @property
    def url(self) -> str: ...


@dataclass(frozen=True)
class DoubleOptions:
    """How the caller wants the doubles seeded."""

    stripe_customers: Sequence[str] = ()
    # The stack's API creates customers that name Stripe ids the double has never seen: there the
    # double treats any `cus_…` id as an existing customer of the account it stands in for.
    stripe_auto_create_customers: bool = False
    # Likewise the marketplace doubles take every buyer they have never seen as subscribed.
    marketplace_auto_subscribe: bool = False


@dataclass(frozen=True)
class ProviderDouble:
    name: str
    variable: str  # where the double's URL goes; when the user has set it, no double starts
    # Starts the double (its stop registered on the exit stack) and returns it.
    start: Callable[[contextlib.ExitStack, DoubleOptions], RunningDouble]
    needed_by: Callable[[FunctionSpec], bool]  # judged from the function's template environment
    defaults: Mapping[str, str] = field(default_factory=dict)  # variables that go with it: local values
    secrets: Mapping[str, str] = field(default_factory=dict)  # secret logical id → the variable it holds
    # Variables whose local values come from the started double (`provide(double)`); a user's value wins.
    provides: tuple[str, ...] = ()
    provide: Callable[[RunningDouble], Mapping[str, str]] | None = None
    # Defaults only a function that declares another variable gets: default → that template variable
    # (the webhook secret goes to the function that names its secret, not to every Stripe caller).
    only_with: Mapping[str, str] = field(default_factory=dict)
    # Called once started, with the variables as resolved (the user's, else the local defaults):
    # the webhook receiver verifies with the WEBHOOK_SECRET the sender signs with.
    configure: Callable[[RunningDouble, Mapping[str, str]], None] | None = None
    # More variables the double's URL goes in, each unless the user set it; a function declaring
    # one the user left unset starts the double even when `variable` is set.
    also: tuple[str, ...] = ()

    @property
    def url_variables(self) -> tuple[str, ...]:
        return (self.variable, *self.also)


def declares(variable: str) -> Callable[[FunctionSpec], bool]:
    """A function needs the double when its template environment (Globals + its own) sets `variable`."""

    def needed_by(spec: FunctionSpec) -> bool:
        return variable in spec.environment

    return needed_by


def declares_any(*variables: str) -> Callable[[FunctionSpec], bool]:
    def needed_by(spec: FunctionSpec) -> bool:
        return any(variable in spec.environment for variable in variables)

    return needed_by


def _start_stripe(exit_stack: contextlib.ExitStack, options: DoubleOptions) -> RunningDouble:
    from local.stripe_double import StripeDouble  # noqa: PLC0415 - only when a Stripe function runs

    double = exit_stack.enter_context(StripeDouble(auto_create_customers=options.stripe_auto_create_customers))
    for customer_id in options.stripe_customers:
        double.add_customer(customer_id)
    return double


def _start_aws_metering(exit_stack: contextlib.ExitStack, options: DoubleOptions) -> RunningDouble:
    from local.aws_metering_double import AwsMeteringDouble  # noqa: PLC0415 - only when a metering function runs

    return exit_stack.enter_context(AwsMeteringDouble(auto_subscribe=options.marketplace_auto_subscribe))


def _start_azure(exit_stack: contextlib.ExitStack, options: DoubleOptions) -> RunningDouble:
    from local.azure_marketplace_double import AzureMarketplaceDouble  # noqa: PLC0415 - only when needed

    return exit_stack.enter_context(AzureMarketplaceDouble(auto_subscribe=options.marketplace_auto_subscribe))


def _start_webhook_receiver(exit_stack: contextlib.ExitStack, options: DoubleOptions) -> RunningDouble:
    from local.webhook_receiver import LocalWebhookReceiver  # noqa: PLC0415 - only when the sender runs

    return exit_stack.enter_context(LocalWebhookReceiver())


def _configure_webhook_receiver(double: RunningDouble, values: Mapping[str, str]) -> None:
    double.configure(values["WEBHOOK_SECRET"])  # type: ignore[attr-defined]  # RunningDouble only promises `url`


def _azure_provides(double: RunningDouble) -> dict[str, str]:
    """The started double is the authority too, and its certificate's CA is what clients trust."""
    bundle = str(getattr(double, "ca_bundle"))  # noqa: B009 - RunningDouble only promises `url`
    return {"AZURE_AUTHORITY_HOST": double.url, "REQUESTS_CA_BUNDLE": bundle, "SSL_CERT_FILE": bundle}


DOUBLES: tuple[ProviderDouble, ...] = (
    ProviderDouble(
        name="Stripe",
        variable="STRIPE_API_BASE",
        start=_start_stripe,
        needed_by=declares("STRIPE_API_BASE"),
        defaults={"STRIPE_API_KEY": LOCAL_STRIPE_KEY, "STRIPE_WEBHOOK_SECRET": LOCAL_STRIPE_WEBHOOK_SECRET},
        secrets={"StripeApiKeySecret": "STRIPE_API_KEY", "StripeWebhookSecret": "STRIPE_WEBHOOK_SECRET"},
        only_with={"STRIPE_WEBHOOK_SECRET": "STRIPE_WEBHOOK_SECRET_NAME"},
    ),
    ProviderDouble(
        name="AWS Marketplace Metering",
        variable="AWS_ENDPOINT_URL_MARKETPLACE_METERING",
        start=_start_aws_metering,
        needed_by=declares_any("AWS_MARKETPLACE_REGION", "AWS_ENDPOINT_URL_MARKETPLACE_METERING"),
    ),
    ProviderDouble(
        name="Azure Marketplace",
        variable="AZURE_METERING_BASE_URL",
        start=_start_azure,
        needed_by=declares_any("AZURE_METERING_BASE_URL", "AZURE_FULFILLMENT_BASE_URL"),
        also=("AZURE_FULFILLMENT_BASE_URL",),
        defaults={
            "AZURE_TENANT_ID": LOCAL_AZURE_TENANT_ID,
            "AZURE_CLIENT_ID": LOCAL_AZURE_CLIENT_ID,
            "AZURE_CLIENT_SECRET": LOCAL_AZURE_CLIENT_SECRET,
        },
        provides=("AZURE_AUTHORITY_HOST", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"),
        provide=_azure_provides,
    ),
    # Not a provider: the customer's endpoint for the alert webhooks, which verifies what it gets.
    ProviderDouble(
        name="Webhook receiver",
        variable="WEBHOOK_URL",
        start=_start_webhook_receiver,
        needed_by=declares("WEBHOOK_URL"),
        defaults={"WEBHOOK_SECRET": LOCAL_WEBHOOK_SECRET},
        secrets={"WebhookSecret": "WEBHOOK_SECRET"},
        only_with={"WEBHOOK_SECRET": "WEBHOOK_SECRET_NAME"},
        configure=_configure_webhook_receiver,
    ),
)


@dataclass
class Providers:
    """The doubles started for a run, and the provider variables the functions get from them."""

    # Each double's variable (the user's value, else the started double's URL; absent when neither)
    # and its defaults (the user's values, else the local ones).
    values: dict[str, str]
    running: dict[str, RunningDouble]  # by ProviderDouble.name
    doubles: tuple[ProviderDouble, ...] = DOUBLES

    def environment_for(self, spec: FunctionSpec) -> dict[str, str]:
        """The variables of every double `spec` needs: its URL variable and the defaults."""
        env: dict[str, str] = {}
        for double in self.doubles:
            if double.needed_by(spec):
                also = [name for name in double.also if name in spec.environment]
                names = (double.variable, *also, *double.defaults, *double.provides)
                wanted = [n for n in names if n not in double.only_with or double.only_with[n] in spec.environment]
                env |= {name: self.values[name] for name in wanted if name in self.values}
        return env

    def secret_values(self) -> dict[str, str]:
        """What each double's secret holds locally (the Stripe key secret holds STRIPE_API_KEY)."""
        return {
            secret: self.values[variable]
            for double in self.doubles
            for secret, variable in double.secrets.items()
            if variable in self.values
        }

    def parameter_overrides(self, specs: Iterable[FunctionSpec]) -> dict[str, str]:
        """A template parameter a function's double variable comes from (`STRIPE_API_BASE: !Ref
        StripeApiBase`) takes that variable's value, so every resolved reference agrees."""
        overrides: dict[str, str] = {}
        for spec in specs:
            for double in self.doubles:
                for variable in double.url_variables:
                    source = spec.environment.get(variable)
                    if isinstance(source, dict) and set(source) == {"Ref"} and variable in self.values:
                        overrides[str(source["Ref"])] = self.values[variable]
        return overrides


def start_doubles(
    specs: Iterable[FunctionSpec],
    environ: Mapping[str, str],
    exit_stack: contextlib.ExitStack,
    options: DoubleOptions | None = None,
    doubles: tuple[ProviderDouble, ...] = DOUBLES,
) -> Providers:
    """Start each double one of `specs` needs whose variable `environ` leaves unset."""
    specs = list(specs)
    options = options or DoubleOptions()
    values: dict[str, str] = {}
    running: dict[str, RunningDouble] = {}
    for double in doubles:
        for name, local_value in double.defaults.items():
            values[name] = environ.get(name) or local_value
        values |= {name: environ[name] for name in double.url_variables if environ.get(name)}
        unset_also = {name for name in double.also if not environ.get(name)}
        needed = [spec for spec in specs if double.needed_by(spec)]
        if needed and (
            double.variable not in values or any(name in spec.environment for spec in needed for name in unset_also)
        ):
            running[double.name] = double.start(exit_stack, options)
            values |= {name: running[double.name].url for name in double.url_variables if name not in values}
            if double.provide is not None:
                # What a started double provides is its own (its authority, the CA that trusts
                # it): a machine-wide REQUESTS_CA_BUNDLE would not trust the loopback double.
                values |= double.provide(running[double.name])
            if double.configure is not None:
                double.configure(running[double.name], values)
    return Providers(values, running, doubles)
