"""Contracts (DESIGN §4): create, get and list; the provider override must name a provider the
customer has a configuration for (§3), checked here because it needs the stored customer."""

from __future__ import annotations

from shared.domain.audit import Caller
from shared.domain.commits import Commit
from shared.domain.customers import Contract, Customer
from shared.domain.paging import Page, PageRequest
from shared.domain.validation import FieldError
from shared.ports.store import AlreadyExists, UniquenessKeyTaken
from shared.services.api_commit_requests import ContractCommitBody, ContractCreditBody, CreateContractWithCommitsRequest
from shared.services.api_commits import check_keys_unrepeated, new_commit, taken
from shared.services.api_dependencies import CONTRACTS_CREATE, ApiDependencies, audit_entry
from shared.services.api_errors import Conflict, NotFound


def _customer(deps: ApiDependencies, customer_id: str) -> Customer:
    customer = deps.store.get_customer(customer_id)
    if customer is None:
        raise NotFound(f"customer {customer_id!r} not found", field="customer_id")
    return customer


def create_contract(
    deps: ApiDependencies, caller: Caller, request: CreateContractWithCommitsRequest
) -> tuple[Contract, list[Commit]]:
    """The contract, with its commits and credits created in the same transaction."""
    customer = _customer(deps, request.customer_id)
    override = request.billing_provider_configuration
    if override is not None and customer.configuration_for(override.billing_provider) is None:
        raise FieldError(
            "billing_provider_configuration.billing_provider",
            f"customer {customer.id!r} has no {override.billing_provider} configuration; add one with"
            f" POST /v1/customers/{customer.id}/billingProviderConfigurations first",
        )
    contract = Contract(
        id=request.id if request.id is not None else deps.new_id("con"),
        customer_id=customer.id,
        name=request.name,
        starting_at=request.starting_at,
        ending_before=request.ending_before,
        custom_fields=dict(request.custom_fields),
        billing_provider_configuration=override,
        created_at=deps.clock().replace(microsecond=0),
    )
    bodies: list[tuple[str, ContractCommitBody | ContractCreditBody]] = [
        *((f"commits.{index}.uniqueness_key", body) for index, body in enumerate(request.commits)),
        *((f"credits.{index}.uniqueness_key", body) for index, body in enumerate(request.credits)),
    ]
    check_keys_unrepeated(bodies)
    audit = audit_entry(deps, caller, CONTRACTS_CREATE, contract.id, 200)
    if not bodies:
        try:
            deps.store.create_contract_audited(contract, audit)
        except AlreadyExists:
            raise _id_taken(contract) from None
        return contract, []
    commits = [
        new_commit(
            deps,
            body,
            "commit" if isinstance(body, ContractCommitBody) else "credit",
            customer.id,
            contract.id,
            contract.created_at,
        )
        for _, body in bodies
    ]
    try:
        deps.store.create_commits_audited(commits, audit, contract=contract)
    except UniquenessKeyTaken as error:
        field = next(field for field, body in bodies if body.uniqueness_key == error.key)
        raise taken(error, field) from None
    except AlreadyExists:  # the commits' ids are fresh: the contract's is taken
        raise _id_taken(contract) from None
    return contract, commits


def _id_taken(contract: Contract) -> Conflict:
    return Conflict(f"customer {contract.customer_id!r} already has a contract with id {contract.id!r}", field="id")


def get_contract(deps: ApiDependencies, customer_id: str, contract_id: str) -> Contract:
    _customer(deps, customer_id)
    contract = deps.store.get_contract(customer_id, contract_id)
    if contract is None:
        raise NotFound(f"contract {contract_id!r} not found for customer {customer_id!r}", field="contract_id")
    return contract


def list_contracts(deps: ApiDependencies, customer_id: str, page: PageRequest) -> Page[Contract]:
    _customer(deps, customer_id)
    return deps.store.list_contracts(customer_id, page)
