"""Products: an audited create, a read by id, and a batch read of a page's products.

PK `PRODUCT#<id>` / SK `#PRODUCT`. Invoice responses show each line's product's custom fields:
the distinct product ids of a page are read with BatchGetItem, 100 keys a request.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from shared.adapters.aws_errors import ConditionFailed
from shared.adapters.dynamodb.audit import AuditTable
from shared.adapters.dynamodb.keys import product_from_item, product_item, product_key
from shared.adapters.dynamodb.table import from_attributes, to_attributes, unreadable_reason
from shared.domain.audit import AuditEntry
from shared.domain.products import Product
from shared.ports.errors import RetryableError
from shared.ports.store import AlreadyExists

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import KeysAndAttributesTypeDef

BATCH_GET_MAX_KEYS = 100  # DynamoDB's limit per BatchGetItem request
# Unprocessed keys (throttling, 16 MB per answer) are asked for again right away this many times;
# a table that still holds them back is throttling, which the caller may retry.
BATCH_GET_ROUNDS = 8


class ProductTable(AuditTable):
    def create_product_audited(self, product: Product, audit: AuditEntry) -> None:
        item = product_item(product)
        try:
            self._client.transact_write_items(TransactItems=[self._put_if_absent(item), self._audit_put(audit)])
        except ConditionFailed:
            raise AlreadyExists(f"product {product.id}") from None

    def get_product(self, product_id: str) -> Product | None:
        item = self._get(product_key(product_id))
        return None if item is None else product_from_item(item)

    def get_products(self, product_ids: Collection[str]) -> dict[str, Product]:
        wanted = sorted(set(product_ids))
        found: dict[str, Product] = {}
        for start in range(0, len(wanted), BATCH_GET_MAX_KEYS):
            keys = [to_attributes(product_key(product_id)) for product_id in wanted[start : start + BATCH_GET_MAX_KEYS]]
            request: dict[str, KeysAndAttributesTypeDef] = {self._table: {"Keys": keys, "ConsistentRead": True}}
            for _ in range(BATCH_GET_ROUNDS):
                response = self._client.batch_get_item(RequestItems=request)
                for raw in response.get("Responses", {}).get(self._table, []):
                    item = from_attributes(raw)
                    try:
                        product = product_from_item(item)
                    except Exception as error:  # one bad item leaves its product out, not the page
                        self._on_unreadable({"PK": item.get("PK"), "SK": item.get("SK")}, unreadable_reason(error))
                        continue
                    found[product.id] = product
                held_back = (response.get("UnprocessedKeys") or {}).get(self._table)
                if held_back is None or not held_back.get("Keys"):
                    break
                request = {self._table: {"Keys": list(held_back["Keys"]), "ConsistentRead": True}}
            else:
                raise RetryableError(
                    f"products: DynamoDB held back keys of a batch read {BATCH_GET_ROUNDS} times in a row; retry",
                    code="throttled",
                )
        return found
