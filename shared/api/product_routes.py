"""The products routes (`shared.api.routes` has the others and the helpers these share)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from shared.api.routes import PathId
from shared.api.routes import current_caller as _caller
from shared.api.routes import current_deps as _deps
from shared.api.routes import path_id as _id
from shared.api.schemas import ProductData, ProductView, error_responses
from shared.services import api_products
from shared.services.api_dependencies import PRODUCTS_CREATE
from shared.services.api_requests import CreateProductRequest

router = Router()  # type: ignore[no-untyped-call]


@router.post(
    "/v1/products/create",
    operation_id=PRODUCTS_CREATE.name,
    tags=["products"],
    summary="Create a product",
    description="`id` is optional (generated when absent); one already taken is a 409 naming `id`.",
    responses=error_responses(400, 401, 409, 413),
)
def create_product(request: CreateProductRequest) -> ProductData:
    return ProductData(data=ProductView.of(api_products.create_product(_deps(), _caller(), request)))


@router.get(
    "/v1/products/<product_id>",
    operation_id="products.get",
    tags=["products"],
    responses=error_responses(400, 401, 404),
)
def get_product(product_id: PathId) -> ProductData:
    return ProductData(data=ProductView.of(api_products.get_product(_deps(), _id(product_id))))
