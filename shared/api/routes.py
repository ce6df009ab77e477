"""The API's routes: each parses its input (Powertools validates it first), calls one use case and
wraps the result as `{"data": …}` (lists add `next_page`). Mutating routes carry their audit
action as the operationId; `shared.api.app` records failed calls of those under that name."""

from __future__ import annotations

from typing import Annotated, cast
from urllib.parse import unquote

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from shared.api.schemas import (
    AuditEntryView,
    AuditPage,
    ContractData,
    ContractPage,
    ContractUpdateData,
    CustomerData,
    CustomerPage,
    CustomerView,
    SyncData,
    error_responses,
)
from shared.domain.audit import AuditQuery, Caller
from shared.domain.paging import DEFAULT_LIMIT, PageRequest
from shared.services import (
    api_audit,
    api_contract_end_date,
    api_contract_reads,
    api_customers,
    api_invoices,
)
from shared.services.api_dependencies import (
    CONFIGURATIONS_SET,
    CONTRACTS_UPDATE_END_DATE,
    CUSTOMERS_CREATE,
    ApiDependencies,
)
from shared.services.api_errors import NotFound
from shared.services.api_requests import (
    CreateCustomerRequest,
    DateFilter,
    GetContractRequest,
    Limit,
    ListContractsRequest,
    NextPage,
    ProviderConfigurationBody,
    UpdateEndDateRequest,
)

router = Router()  # type: ignore[no-untyped-call]
MAX_ID_LENGTH = 256  # shared.domain.types.Identifier
# A path id arrives percent-encoded (a character of four UTF-8 bytes takes 12: %F0%9F%98%80), and
# that is the text validated here; the document states the bound on the id itself, as OpenAPI means
# a path parameter's value (decoded), so clients and fuzzers build URLs of ids that can exist.
MAX_ENCODED_ID_LENGTH = MAX_ID_LENGTH * 12
PathId = Annotated[
    str, Path(min_length=1, max_length=MAX_ENCODED_ID_LENGTH, json_schema_extra={"maxLength": MAX_ID_LENGTH})
]
LimitQuery = Annotated[Limit, Query()]
NextPageQuery = Annotated[NextPage | None, Query()]
DateQuery = Annotated[DateFilter | None, Query()]


def _deps() -> ApiDependencies:
    return cast(ApiDependencies, router.context["deps"])


def _caller() -> Caller:
    return cast(Caller, router.context["caller"])


def known_id(raw: str) -> str | None:
    """A path id as the client meant it (HTTP API passes the raw, percent-encoded path), or None
    when it is longer than any id downbeat hands out (it would not even fit a table key)."""
    decoded = unquote(raw)
    return decoded if 0 < len(decoded) <= MAX_ID_LENGTH else None


def _id(raw: str) -> str:
    decoded = known_id(raw)
    if decoded is None:
        raise NotFound(f"no resource has the id {raw[:64]!r}…")
    return decoded


# For the route modules beside this one.
current_deps, current_caller, path_id = _deps, _caller, _id


# -- customers ------------------------------------------------------------------------------------
@router.post(
    "/v1/customers",
    operation_id=CUSTOMERS_CREATE.name,
    tags=["customers"],
    responses=error_responses(400, 401, 409, 413),
)
def create_customer(request: CreateCustomerRequest) -> CustomerData:
    customer = api_customers.create_customer(_deps(), _caller(), request)
    return CustomerData(data=CustomerView.of(customer))


@router.get("/v1/customers", operation_id="customers.list", tags=["customers"], responses=error_responses(400, 401))
def list_customers(limit: LimitQuery = DEFAULT_LIMIT, next_page: NextPageQuery = None) -> CustomerPage:
    page = api_customers.list_customers(_deps(), PageRequest(limit, next_page))
    return CustomerPage(data=[CustomerView.of(customer) for customer in page.items], next_page=page.next_page)


@router.get(
    "/v1/customers/<customer_id>",
    operation_id="customers.get",
    tags=["customers"],
    responses=error_responses(400, 401, 404),
)
def get_customer(customer_id: PathId) -> CustomerData:
    return CustomerData(data=CustomerView.of(api_customers.get_customer(_deps(), _id(customer_id))))


@router.post(
    "/v1/customers/<customer_id>/billingProviderConfigurations",
    operation_id=CONFIGURATIONS_SET.name,
    tags=["customers"],
    summary="Add a billing provider configuration, or replace the one for the same provider",
    responses=error_responses(400, 401, 404, 409, 413),
)
def set_billing_provider_configuration(
    customer_id: PathId, configuration: Annotated[ProviderConfigurationBody, Body()]
) -> CustomerData:
    customer = api_customers.set_provider_configuration(_deps(), _caller(), _id(customer_id), configuration)
    return CustomerData(data=CustomerView.of(customer))


# -- contracts (contracts/create is in shared.api.ledger_routes) -------------------------------
@router.post(
    "/v1/contracts/updateEndDate",
    operation_id=CONTRACTS_UPDATE_END_DATE.name,
    tags=["contracts"],
    summary="Move a contract's end date",
    description=(
        "`ending_before` null makes the contract open-ended. An end before the end of a finalized usage invoice"
        " of the contract is refused (400 naming `ending_before` and the invoice) when"
        " `allow_ending_before_finalized_invoice` is false; when it is true (the default) the end moves and"
        " `warnings` says that the finalized invoices stay unchanged."
    ),
    responses=error_responses(400, 401, 404, 413),
)
def update_contract_end_date(request: UpdateEndDateRequest) -> ContractUpdateData:
    contract, warnings = api_contract_end_date.update_end_date(_deps(), _caller(), request)
    return ContractUpdateData(data=contract, warnings=warnings)


@router.post(
    "/v1/contracts/get", operation_id="contracts.get", tags=["contracts"], responses=error_responses(400, 401, 404, 413)
)
def get_contract(request: GetContractRequest) -> ContractData:
    return ContractData(data=api_contract_reads.get_contract(_deps(), request.customer_id, request.contract_id))


@router.post(
    "/v1/contracts/list",
    operation_id="contracts.list",
    tags=["contracts"],
    responses=error_responses(400, 401, 404, 413),
)
def list_contracts(request: ListContractsRequest) -> ContractPage:
    page = api_contract_reads.list_contracts(
        _deps(), request.customer_id, PageRequest(request.limit, request.next_page)
    )
    return ContractPage(data=list(page.items), next_page=page.next_page)


# -- invoices (their list, one invoice and breakdowns are the family in shared/api/invoice_routes.py)
@router.get(
    "/v1/invoices/<invoice_id>/sync",
    operation_id="invoices.sync",
    tags=["invoices"],
    summary="The invoice's sync status with its billing provider",
    description=(
        "Where the invoice stands with its provider. A failure is never hidden: an invoice whose event or"
        " message was dead-lettered shows `status: failed`, the reason, and the queue holding it"
        " (`dead_letter_queue`). 404 only for an id no event ever named usably."
    ),
    responses=error_responses(400, 401, 404),
)
def get_sync_status(invoice_id: PathId) -> SyncData:
    return SyncData(data=api_invoices.get_sync_status(_deps(), _id(invoice_id)))


# -- audit log ------------------------------------------------------------------------------------
@router.get("/v1/auditLogs", operation_id="auditLogs.list", tags=["audit"], responses=error_responses(400, 401))
def list_audit_logs(
    resource_type: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    resource_id: Annotated[str | None, Query(min_length=1, max_length=768)] = None,
    starting_on: DateQuery = None,
    ending_before: DateQuery = None,
    limit: LimitQuery = DEFAULT_LIMIT,
    next_page: NextPageQuery = None,
) -> AuditPage:
    query = AuditQuery(resource_type, resource_id, starting_on, ending_before)
    page = api_audit.list_audit_log(_deps(), query, PageRequest(limit, next_page))
    return AuditPage(data=[AuditEntryView.of(entry) for entry in page.items], next_page=page.next_page)
