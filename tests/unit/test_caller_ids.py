"""Customers and contracts take the upstream platform's own id on create; reuse is a 409 naming `id`."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from shared.domain.audit import Caller
from shared.services import api_contracts, api_customers
from shared.services.api_commit_requests import CreateContractWithCommitsRequest
from shared.services.api_dependencies import ApiDependencies
from shared.services.api_errors import Conflict
from shared.services.api_requests import CreateCustomerRequest
from tests.builders import STRIPE
from tests.fakes.memory_store import InMemoryStore

NOW = datetime(2025, 3, 1, 12, tzinfo=UTC)
CALLER = Caller("tok_0123456789ab", "203.0.113.7", "pytest")
COMMIT = {
    "type": "PREPAID",
    "name": "2025 commit",
    "priority": 1,
    "currency": "USD",
    "access_schedule": [
        {"amount": "100.00", "starting_at": "2025-01-01T00:00:00Z", "ending_before": "2026-01-01T00:00:00Z"}
    ],
}


@pytest.fixture
def deps() -> ApiDependencies:
    counter = itertools.count(1)
    return ApiDependencies(
        store=InMemoryStore(),
        clock=lambda: NOW,
        new_id=lambda prefix: f"{prefix}_{next(counter)}",
        api_token=lambda: "t",
    )


def customer(deps: ApiDependencies, **body: Any) -> str:
    request = CreateCustomerRequest.model_validate(
        {"name": "Acme", "billing_provider_configurations": [STRIPE], **body}
    )
    return api_customers.create_customer(deps, CALLER, request).id


def contract(deps: ApiDependencies, customer_id: str, **body: Any) -> str:
    request = CreateContractWithCommitsRequest.model_validate(
        {"customer_id": customer_id, "name": "2025", "starting_at": "2025-01-01T00:00:00Z", **body}
    )
    return api_contracts.create_contract(deps, CALLER, request)[0].id


def test_the_callers_id_is_kept_and_without_one_an_id_is_generated(deps: ApiDependencies) -> None:
    assert customer(deps, id="acct-4471 (Ünïcode ok)") == "acct-4471 (Ünïcode ok)"
    assert customer(deps).startswith("cust_")
    assert contract(deps, "acct-4471 (Ünïcode ok)", id="sub_991") == "sub_991"
    assert contract(deps, "acct-4471 (Ünïcode ok)").startswith("con_")


def test_a_reused_customer_id_is_409_naming_id_and_leaves_the_first(deps: ApiDependencies) -> None:
    customer(deps, id="acct_1", name="First")
    with pytest.raises(Conflict) as taken:
        customer(deps, id="acct_1", name="Second")
    assert taken.value.field == "id"
    stored = deps.store.get_customer("acct_1")
    assert stored is not None
    assert stored.name == "First"


@pytest.mark.parametrize("with_commits", [False, True])
def test_a_reused_contract_id_is_409_naming_id(deps: ApiDependencies, with_commits: bool) -> None:
    owner = customer(deps, id="acct_1")
    contract(deps, owner, id="sub_1")
    extra = {"commits": [COMMIT]} if with_commits else {}
    with pytest.raises(Conflict) as taken:
        contract(deps, owner, id="sub_1", **extra)
    assert taken.value.field == "id"
    other = customer(deps, id="acct_2")
    assert contract(deps, other, id="sub_1") == "sub_1"  # contract ids are the customer's own


@pytest.mark.parametrize("bad", ["", "x" * 257, "tab\there", "line\nbreak"])
def test_ids_are_bounded_like_every_other_id(bad: str) -> None:
    for model, body in (
        (CreateCustomerRequest, {"name": "Acme"}),
        (CreateContractWithCommitsRequest, {"customer_id": "c", "name": "n", "starting_at": "2025-01-01T00:00:00Z"}),
    ):
        with pytest.raises(ValidationError) as refused:
            model.model_validate({**body, "id": bad})
        assert refused.value.errors()[0]["loc"] == ("id",)
