"""Contracts (DESIGN §4): create, get and list; the provider override must name a provider the
customer has a configuration for (§3), checked here because it needs the stored customer."""

from __future__ import annotations

from shared.domain.audit import Caller
from shared.domain.commits import Commit
from shared.domain.customers import Contract
from shared.domain.id_keys import digest
from shared.domain.validation import FieldError
from shared.ports.store import AlreadyExists, UniquenessKeyTaken
from shared.services.api_commit_requests import ContractCommitBody, ContractCreditBody, CreateContractWithCommitsRequest
from shared.services.api_commits import check_keys_unrepeated, new_commit, taken
from shared.services.api_customers import customer_of
from shared.services.api_dependencies import (
    CONTRACTS_CREATE,
    ApiDependencies,
    ask_for_alert_evaluation,
    audit_entry,
)
from shared.services.api_errors import Conflict
from shared.services.api_recurring import (
    CreatedRecurringItem,
    PlannedRecurringItem,
    period_commits,
    plan_recurring,
    recurring_item_id,
)


def create_contract(
    deps: ApiDependencies, caller: Caller, request: CreateContractWithCommitsRequest
) -> tuple[Contract, list[Commit], list[CreatedRecurringItem]]:
    """The contract, with its commits and credits created in the same transaction (and the periods of
    its recurring items with it, or right after it when they do not all fit: docs/recurring.md)."""
    planned = plan_recurring(
        request.starting_at, request.ending_before, request.recurring_commits, request.recurring_credits
    )
    customer = customer_of(deps, request.customer_id)
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
    if not bodies and not planned:
        try:
            deps.store.create_contract_audited(contract, audit)
        except AlreadyExists:
            raise _id_taken(contract) from None
        return contract, [], []
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
    # The request itself, digested: a retry landing on this contract completes its periods only
    # when it asks for exactly what the first attempt did.
    plan = digest(request.model_dump_json()) if planned else None
    try:
        deps.store.create_commits_audited(
            commits, audit, contract=contract, recurring=period_commits(contract, planned), plan=plan
        )
    except UniquenessKeyTaken as error:
        _complete_stopped_create(deps, contract, planned, plan)
        field = next(field for field, body in bodies if body.uniqueness_key == error.key)
        raise taken(error, field) from None
    except AlreadyExists:
        _complete_stopped_create(deps, contract, planned, plan)
        raise _id_taken(contract) from None
    ask_for_alert_evaluation(deps, contract.customer_id, contract.id)
    return contract, commits, [CreatedRecurringItem(recurring_item_id(contract, entry), entry) for entry in planned]


def _complete_stopped_create(
    deps: ApiDependencies, contract: Contract, planned: list[PlannedRecurringItem], plan: str | None
) -> None:
    """The first create wins; but when it was this same request and stopped before all its periods
    were written (a timeout, a crash), the retry writes the missing ones before it answers."""
    if plan is None:
        return
    stored = deps.store.get_contract(contract.customer_id, contract.id)
    if stored is not None:
        deps.store.complete_recurring_commits(stored, plan, period_commits(stored, planned))


def _id_taken(contract: Contract) -> Conflict:
    return Conflict(f"customer {contract.customer_id!r} already has a contract with id {contract.id!r}", field="id")
