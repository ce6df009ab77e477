"""Products: create (an id of the caller's, or a generated one) and get; and the product custom
fields that invoice responses show on each line."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from shared.domain.audit import Caller
from shared.domain.invoice import Invoice
from shared.domain.products import Product
from shared.ports.store import AlreadyExists
from shared.services.api_dependencies import PRODUCTS_CREATE, ApiDependencies, audit_entry
from shared.services.api_errors import Conflict, NotFound
from shared.services.api_requests import CreateProductRequest

ProductFields = Mapping[str, Mapping[str, str]]  # product id → its custom fields


def create_product(deps: ApiDependencies, caller: Caller, request: CreateProductRequest) -> Product:
    product = Product(
        id=request.id if request.id is not None else deps.new_id("prod"),
        name=request.name,
        custom_fields=dict(request.custom_fields),
        created_at=deps.clock().replace(microsecond=0),
    )
    try:
        deps.store.create_product_audited(product, audit_entry(deps, caller, PRODUCTS_CREATE, product.id, 200))
    except AlreadyExists:
        raise Conflict(f"a product with id {product.id!r} already exists", field="id") from None
    return product


def get_product(deps: ApiDependencies, product_id: str) -> Product:
    product = deps.store.get_product(product_id)
    if product is None:
        raise NotFound(f"product {product_id!r} not found")
    return product


def product_fields(deps: ApiDependencies, invoices: Iterable[Invoice]) -> ProductFields:
    """The custom fields of every product the invoices' lines name, read in one batch for them all."""
    wanted = {line.product_id for invoice in invoices for line in invoice.line_items if line.product_id is not None}
    if not wanted:
        return {}
    return {product_id: product.custom_fields for product_id, product in deps.store.get_products(wanted).items()}
