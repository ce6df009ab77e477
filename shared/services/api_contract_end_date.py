"""`POST /v1/contracts/updateEndDate`: move a contract's end, guarded by its finalized invoices."""

from __future__ import annotations

from shared.domain.audit import Caller
from shared.domain.contract_end_date import end_date_change
from shared.domain.customers import Contract
from shared.services.api_customers import customer_of
from shared.services.api_dependencies import CONTRACTS_UPDATE_END_DATE, ApiDependencies, audit_entry
from shared.services.api_errors import NotFound
from shared.services.api_requests import UpdateEndDateRequest


def update_end_date(deps: ApiDependencies, caller: Caller, request: UpdateEndDateRequest) -> tuple[Contract, list[str]]:
    """The updated contract and the warnings for the caller (see `shared.domain.contract_end_date`)."""
    customer_id, contract_id = request.customer_id, request.contract_id
    customer_of(deps, customer_id)
    latest = deps.store.latest_finalized_usage_invoice(customer_id, contract_id)
    warnings: list[str] = []

    def change(current: Contract) -> Contract:
        updated, found = end_date_change(
            current,
            request.ending_before,
            latest,
            allow_ending_before_finalized_invoice=request.allow_ending_before_finalized_invoice,
        )
        warnings[:] = found
        return updated

    updated = deps.store.update_contract(
        customer_id, contract_id, change, audit_entry(deps, caller, CONTRACTS_UPDATE_END_DATE, contract_id, 200)
    )
    if updated is None:
        raise NotFound(f"contract {contract_id!r} not found for customer {customer_id!r}", field="contract_id")
    return updated, warnings
