"""contracts/get and contracts/list (contracts/create, with its commits, is shared.services.api_contracts)."""

from __future__ import annotations

from shared.domain.customers import Contract
from shared.domain.paging import Page, PageRequest
from shared.services.api_customers import customer_of
from shared.services.api_dependencies import ApiDependencies
from shared.services.api_errors import NotFound


def get_contract(deps: ApiDependencies, customer_id: str, contract_id: str) -> Contract:
    customer_of(deps, customer_id)
    contract = deps.store.get_contract(customer_id, contract_id)
    if contract is None:
        raise NotFound(f"contract {contract_id!r} not found for customer {customer_id!r}", field="contract_id")
    return contract


def list_contracts(deps: ApiDependencies, customer_id: str, page: PageRequest) -> Page[Contract]:
    customer_of(deps, customer_id)
    return deps.store.list_contracts(customer_id, page)
