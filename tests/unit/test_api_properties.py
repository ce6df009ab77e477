"""Property tests of the API: every field of every request — bodies, query and path parameters,
as the API's own OpenAPI document (`GET /openapi.json`) declares them — broken in every way
tests/hostile.py knows, sent through the Lambda handler as payload-2.0 events. Each answer is a
JSON error below 500 naming the field with nothing stored, or a success whose result reads back."""

from __future__ import annotations

import copy
import itertools
import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from functions.api.handler import lambda_handler
from local.http_server import http_api_event
from local.lambda_context import LocalLambdaContext
from shared.adapters.dynamodb.commit_items import commit_item, manual_entry_item
from shared.adapters.dynamodb.keys import contract_from_item, contract_item, customer_from_item, customer_item
from shared.api.app import openapi_json
from shared.domain.alerts import Alert
from shared.domain.azure_operations import AzureOperation
from shared.domain.commits import Commit, Segment
from shared.domain.invoice import InvoiceEvent
from shared.domain.ledger import LedgerEntry
from shared.domain.products import Product
from shared.domain.registrations import AwsIdentifiers, Registration
from shared.services.api_dependencies import ApiDependencies, MarketplaceListing
from tests.builders import AWS, AZURE, STRIPE, configuration, contract, customer, dashboard_links, invoice_event
from tests.fakes.azure_fulfillment import FakeAzureFulfillment, FakeSubscription, FakeWebhookTokens
from tests.fakes.memory_store import InMemoryStore
from tests.hostile import (
    COVERED,
    MISSING,
    Bounds,
    Deep,
    Field,
    Mutation,
    apply,
    catalog,
    fields,
    mutations,
    names_field,
    to_json,
)

TOKEN = "property-token"
NOW = datetime(2025, 3, 1, tzinfo=UTC)
MODEL = "API requests"
DOCUMENT: dict[str, Any] = json.loads(openapi_json())

_STRIPE = {**STRIPE, "default": True, "configuration": {
    "stripe_customer_id": "cus_N1", "stripe_collection_method": "send_invoice", "invoice_date": "finalization",
    "invoice_date_timezone": "Europe/Paris", "leave_as_draft": False, "days_until_due": 14, "automatic_tax": False,
    "skip_below_minimum": False}}  # fmt: skip
_AWS = {**AWS, "configuration": {
    "aws_customer_id": "c-123", "aws_product_code": "prod-x", "aws_region": "eu-west-1",
    "aws_customer_account_id": "123456789012", "aws_license_arn": "arn:aws:license-manager::123456789012:license:l-1",
    "aws_is_subscription_product": False}}  # fmt: skip
_COMMIT = {"name": "2025 commit", "priority": 1, "currency": "USD", "uniqueness_key": "po-4471", "invoice_id": None,
           "access_schedule": [{"amount": "1000.00", "starting_at": "2025-01-01T00:00:00Z",
                                "ending_before": "2026-01-01T00:00:00Z"}],
           "applicable_product_ids": ["prod_api"], "custom_fields": {"team": "ml"}}  # fmt: skip
_LIST = {"customer_id": "cust_1", "contract_id": "con_1", "include_balance": True, "include_ledgers": True,
         "limit": 10, "next_page": None}  # fmt: skip


def _commit(**fields: Any) -> dict[str, Any]:
    """A commit body of its own (a mutation of one must not reach another through shared parts)."""
    return {**copy.deepcopy(_COMMIT), **fields}


_CONTRACT = {"customer_id": "cust_1", "name": "2025", "starting_at": "2025-01-01T00:00:00Z",
             "ending_before": "2026-01-01T00:00:00+01:00", "custom_fields": {"po": "4471"},
             "billing_provider_configuration": {"billing_provider": "stripe",
                                                "delivery_method": "direct_to_billing_provider"},
             "commits": [], "credits": [], "recurring_commits": [], "recurring_credits": []}  # fmt: skip
# A valid request per operation (bodies; query parameters as text): what each mutation starts from.
BODIES: dict[str, list[dict[str, Any]]] = {
    "customers.create": [{"name": "Acme", "custom_fields": {"tier": "gold"},
                          "billing_provider_configurations": [_STRIPE, _AWS, AZURE]}],
    "billingProviderConfigurations.set": [_STRIPE, _AWS, {**AZURE, "default": False}],
    "contracts.create": [copy.deepcopy(_CONTRACT),
                         {**copy.deepcopy(_CONTRACT), "commits": [_commit(type="POSTPAID")],
                          "credits": [_commit(uniqueness_key="k2")]}],
    "contracts.get": [{"customer_id": "cust_1", "contract_id": "con_1"}],
    "dashboards.getEmbeddableUrl": [{"customer_id": "cust_1", "dashboard": "usage", "ttl_seconds": 600}],
    "contracts.list": [{"customer_id": "cust_1", "limit": 10, "next_page": None}],
    "contracts.updateEndDate": [{"customer_id": "cust_1", "contract_id": "con_1",
                                 "ending_before": "2026-06-01T00:00:00Z",
                                 "allow_ending_before_finalized_invoice": False}],
    "products.create": [{"id": "prod_new", "name": "API calls", "custom_fields": {"sku": "API-1"}}],
    "customerCommits.create": [_commit(customer_id="cust_1", contract_id="con_1", type="PREPAID")],
    "customerCredits.create": [_commit(customer_id="cust_1", contract_id=None)],
    "customerCommits.list": [copy.deepcopy(_LIST)],
    "customerCredits.list": [copy.deepcopy(_LIST)],
    "customerBalances.list": [copy.deepcopy(_LIST)],
    "addManualBalanceLedgerEntry": [{"customer_id": "cust_1", "id": "commit_1", "segment_id": "seg_1",
                                     "amount": "-12.50", "reason": "goodwill", "timestamp": "2025-06-01T00:00:00Z"}],
    "alerts.create": [{"alert_type": "spend_threshold_reached", "name": "Gold spend 10k", "threshold": "10000.00",
                       "currency": "USD", "customer_id": "cust_1",
                       "custom_field_filters": [{"entity": "Contract", "key": "tier", "value": "gold"}],
                       "uniqueness_key": "gold-10k"}],
    "alerts.archive": [{"id": "alert_1"}],
    "customerAlerts.list": [{"customer_id": "cust_1", "limit": 10, "next_page": None}],
}  # fmt: skip
# With `customer` (an object the fuzzer reaches into); `customer_id` instead is a mutation of it.
BODIES["marketplaceRegistrations.complete"] = [
    {"registration_id": "reg_1", "customer": {"name": "Buyer Inc", "custom_fields": {"crm": "7"}}},
]
# The Azure webhook's body as Microsoft sends it (the fake token check takes the API token here).
BODIES["marketplaces.azure.webhook"] = [{"id": "op_1", "subscriptionId": "sub_1", "action": "Suspend"}]
QUERIES: dict[str, dict[str, str]] = {
    "marketplaces.azure.landing": {"token": "tok_1"},
    "customers.list": {"limit": "10"},
    "marketplaceRegistrations.list": {"status": "pending", "limit": "10"},
    "invoices.list": {"status": "FINALIZED", "starting_on": "2025-01-01", "ending_before": "2026-01-01T00:00:00Z",
                      "limit": "10"},
    "invoices.breakdowns": {"starting_on": "2025-01-01", "ending_before": "2026-01-01T00:00:00Z", "window_size": "DAY",
                           "status": "FINALIZED", "currency": "USD", "limit": "10"},
    "auditLogs.list": {"resource_type": "customer", "resource_id": "cust_1", "starting_on": "2025-01-01",
                       "ending_before": "2026-01-01T00:00:00Z", "limit": "10"},
}  # fmt: skip
PATH_IDS = {"customer_id": "cust_1", "invoice_id": "inv_1", "product_id": "prod_1"}

# The request models' rules across fields: breaking the first may be reported on the second.
RELATED = [
    (r"starting_at", r"ending_before"),
    (r"starting_on", r"ending_before"),  # breakdowns: a start at or after the end empties the range
    (r"(billing_provider_configurations\.\d+\.)?billing_provider", r"(billing_provider_configurations\.\d+\.)?.*"),
    (r"billing_provider_configurations\.\d+\.default", r"billing_provider_configurations\.\d+\.default"),
    (r"(.*\.)?configuration\.aws_customer_account_id", r"(.*\.)?configuration\.aws_(license_arn|customer_id)"),
    (r"(.*\.)?configuration\.aws_customer_id", r"(.*\.)?configuration\.aws_customer_id"),
    (r"(.*\.)?access_schedule\.\d+\.starting_at", r"(.*\.)?access_schedule\.\d+\.ending_before"),
    (r"(.*\.)?currency", r"(.*\.)?access_schedule\.\d+\.amount"),
    (r"timestamp", r"segment_id"),  # no segment active at the new timestamp (when none is named)
    (r"currency", r"threshold"),  # an alert's threshold has at most its currency's decimals
    (r"customer(\..*)?", r"customer_id"),  # a completion names an existing customer or a new one
]


BOUNDS = Bounds(
    ids=r"customer_id|contract_id|invoice_id|product_id|id|segment_id|((commits|credits)\.\d+\.)?applicable_product_ids\.\d+",
    names=r"name|reason|(commits|credits)\.\d+\.name",
    shapes={
        r"(.*\.)?configuration\.stripe_customer_id": frozenset({"cus_x"}),
        r"(.*\.)?configuration\.aws_customer_account_id": frozenset(),
        r"(.*\.)?configuration\.aws_region": frozenset(),
    },
)


@dataclass(frozen=True)
class Case:
    operation: str
    method: str
    route: str  # /v1/customers/{customer_id}
    where: str  # body, query or path
    field: Field
    body: dict[str, Any] | None

    @property
    def name(self) -> str:
        return f"{self.operation}:{self.where}.{self.field.dotted}"


def _cases() -> list[Case]:
    cases: list[Case] = []
    for route, operations in DOCUMENT["paths"].items():
        for method, operation in operations.items():
            name = operation["operationId"]
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            for parameter in operation.get("parameters", []):
                where, key = parameter["in"], parameter["name"]
                base = PATH_IDS[key] if where == "path" else QUERIES[name].get(key, MISSING)
                sample = BODIES[name][0] if body else None
                for field in fields(DOCUMENT, parameter["schema"], base, (key,)):
                    cases.append(Case(name, method.upper(), route, where, field, sample))
            for sample in BODIES[name] if body else []:
                cases += [Case(name, method.upper(), route, "body", f, sample) for f in fields(DOCUMENT, body, sample)]
    return cases


CASES = _cases()


def _deps() -> tuple[ApiDependencies, InMemoryStore]:
    store = InMemoryStore()
    store.create_customer(customer("cust_1", configuration(STRIPE, default=True)))
    store.create_contract(contract("con_1", "cust_1"))
    store.save_invoice(InvoiceEvent.model_validate(invoice_event(customer_id="cust_1")).detail, NOW)
    store.products["prod_1"] = Product(id="prod_1", name="API calls", created_at=NOW)
    store.commits[("cust_1", "commit_1")] = Commit(
        id="commit_1", kind="commit", customer_id="cust_1", type="PREPAID", name="c", currency="USD",
        segments=[Segment(id="seg_1", amount=Decimal(100), starting_at=datetime(2025, 1, 1, tzinfo=UTC),
                          ending_before=datetime(2026, 1, 1, tzinfo=UTC))],
        created_at=NOW,
    )  # fmt: skip
    store.alerts["alert_1"] = Alert(
        id="alert_1", alert_type="low_remaining_contract_credit_and_commit_balance_reached", name="low",
        threshold=Decimal(10), currency="USD", created_at=NOW,
    )  # fmt: skip
    identifiers = AwsIdentifiers(aws_product_code="prod-x", aws_customer_id="c-1")
    store.registrations["reg_1"] = Registration(
        id="reg_1", provider="aws_marketplace", created_at=NOW, identifiers=identifiers
    )
    counter = itertools.count(1)
    deps = ApiDependencies(store, lambda: NOW, lambda prefix: f"{prefix}_new{next(counter)}", lambda: TOKEN)
    azure = FakeAzureFulfillment(
        tokens={"tok_1": FakeSubscription("sub_1")},
        operations={("sub_1", "op_1"): AzureOperation("op_1", "sub_1", "Suspend", "Succeeded")},
    )
    listing = MarketplaceListing(azure=azure, azure_webhook_tokens=FakeWebhookTokens(TOKEN))
    return replace(deps, dashboards=dashboard_links(), marketplace=listing), store


def _text(value: Any) -> str:
    return value if isinstance(value, str) else to_json(value).decode("utf-8", "surrogatepass")


def _request(case: Case, mutation: Mutation) -> tuple[str, bytes]:
    """The request target and body of `case` with `mutation` made where it belongs."""
    path_ids, query, body = dict(PATH_IDS), dict(QUERIES.get(case.operation, {})), case.body
    if case.where == "body":
        body = apply(case.body, mutation)
    else:
        changed = path_ids if case.where == "path" else query
        if mutation.value is MISSING or mutation.value is None:
            changed.pop(mutation.path[0], None)
        else:
            value = Deep(mutation.value.depth).build() if isinstance(mutation.value, Deep) else mutation.value
            changed[mutation.path[0]] = _text(value)
    route = case.route
    for key, value in path_ids.items():
        # a removed path id leaves an empty segment, as a client that forgot it would send
        route = route.replace("{" + key + "}", quote(value.encode("utf-8", "surrogatepass"), safe=""))
    pairs = "&".join(f"{key}={quote(value.encode('utf-8', 'surrogatepass'), safe='')}" for key, value in query.items())
    return route + (f"?{pairs}" if pairs else ""), (b"" if body is None else to_json(body))


def _state(store: InMemoryStore) -> tuple[Any, ...]:
    return copy.deepcopy(
        (store.customers, store.contracts, store.invoices, store.syncs, store.products, store.commits,
         store.manual_entries, store.alerts, store.alert_keys, store.registrations)
    )  # fmt: skip


def check(case: Case, mutation: Mutation) -> str | None:
    """None when the API answered the broken request as the contract says, else what went wrong."""
    deps, store = _deps()
    before = _state(store)
    target, body = _request(case, mutation)
    headers = {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"}
    event = http_api_event(method=case.method, target=target, headers=headers.items(), body=body, source_ip="192.0.2.9")
    try:
        response = lambda_handler(event, LocalLambdaContext("ApiFunction"), deps=deps)
        reply = json.loads(response["body"])
    except Exception as error:  # the property: nothing escapes the handler, and every answer is JSON
        return f"raised {type(error).__name__}: {str(error)[:200]}"
    status = response["statusCode"]
    if status == 200:
        if BOUNDS.refuses(case.field, mutation, as_text=case.where != "body"):
            return "answered 200 although out of bounds"
        return _readable(case, store, reply["data"])
    if status >= 500 or set(reply) != {"message", "field"} or "Traceback" in reply["message"]:
        return f"answered {status} {reply}"
    if _state(store) != before:
        return f"answered {status} but changed what is stored"
    field = reply["field"]
    if status == 404 and (case.where == "path" or names_field(field, mutation)):
        return None
    if status == 400 and field is None and mutation.deep and case.where == "body":
        return None  # a body nested too deep is refused before any field is looked at
    if status == 400 and names_field(field, mutation, RELATED):
        return None
    return f"answered {status} naming {field!r}: {reply['message']}"


def _readable(case: Case, store: InMemoryStore, data: Any) -> str | None:
    """A success must leave what the table can store and read back, and what the API reads back."""
    for stored in store.customers.values():
        if customer_from_item(customer_item(stored)) != stored:
            return f"customer {stored.id!r} does not read back from its item"
    for stored_contract in store.contracts.values():
        if contract_from_item(contract_item(stored_contract)) != stored_contract:
            return f"contract {stored_contract.id!r} does not read back from its item"
    for stored_commit in store.commits.values():
        if Commit.model_validate_json(commit_item(stored_commit)["data"]) != stored_commit:
            return f"commit {stored_commit.id!r} does not read back from its item"
    for (owner, _), entries in store.manual_entries.items():
        for entry in entries:
            if LedgerEntry.model_validate_json(manual_entry_item(owner, entry)["data"]) != entry:
                return f"ledger entry {entry.id!r} does not read back from its item"
    if case.operation == "customers.create":
        return None if data["id"] in store.customers else "the created customer is not stored"
    if case.operation == "products.create":
        return None if store.products.get(data["id"]) is not None else "the created product is not stored"
    if case.operation in {"customerCommits.create", "customerCredits.create"}:
        return None if ("cust_1", data["id"]) in store.commits else "the created commit is not stored"
    return None


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_every_field_of_every_request_against_the_catalog(case: Case) -> None:
    COVERED.setdefault(MODEL, set()).add(case.name)
    problems = [f"{mutation.dotted} = {mutation.value!r:.80}: {problem}" for mutation in catalog(case.field)
                if (problem := check(case, mutation))]  # fmt: skip
    assert not problems, "\n".join(problems)


@settings(max_examples=200)
@given(data=st.data())
def test_generated_hostile_requests(data: st.DataObject) -> None:
    case = data.draw(st.sampled_from(CASES), label="case")
    mutation = data.draw(mutations(case.field), label="mutation")
    COVERED.setdefault(MODEL, set()).add(case.name)
    problem = check(case, mutation)
    assert problem is None, problem


def test_every_operation_of_the_document_has_a_base_request() -> None:
    operations = {case.operation for case in CASES}
    assert operations >= {*BODIES, *QUERIES}
    assert {"customers.create:body.billing_provider_configurations.1.configuration.aws_region",
            "contracts.create:body.starting_at", "invoices.list:query.starting_on",
            "customers.get:path.customer_id", "contracts.list:body.limit"} <= {case.name for case in CASES}  # fmt: skip
    for case in CASES:  # each base request, each field set to what it already is, succeeds
        if case.field.present:
            assert check(case, Mutation(case.field.path, _current(case))) is None, case.name


def _current(case: Case) -> Any:
    if case.where != "body":
        return (PATH_IDS if case.where == "path" else QUERIES[case.operation])[case.field.path[0]]
    node: Any = case.body
    for part in case.field.path:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node
