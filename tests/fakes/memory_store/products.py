"""Products in memory (the fake of `shared/adapters/dynamodb/products.py`)."""

from __future__ import annotations

from collections.abc import Collection

from shared.domain.audit import AuditEntry
from shared.domain.products import Product
from shared.ports.store import AlreadyExists
from tests.fakes.memory_store.state import MemoryTables


class MemoryProducts(MemoryTables):
    def create_product_audited(self, product: Product, audit: AuditEntry) -> None:
        with self._lock:
            if product.id in self.products:
                raise AlreadyExists(product.id)
            self.products[product.id] = product
            self.audit_entries.append(audit)

    def get_product(self, product_id: str) -> Product | None:
        return self.products.get(product_id)

    def get_products(self, product_ids: Collection[str]) -> dict[str, Product]:
        with self._lock:
            self.product_batch_reads += 1
            return {
                product_id: self.products[product_id] for product_id in set(product_ids) if product_id in self.products
            }
