"""Products: what invoice line items name by `product_id`; their custom fields show on those lines."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.types import CustomFields, Identifier, Timestamp


class Product(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    id: Identifier
    name: str
    custom_fields: CustomFields = Field(default_factory=dict)
    created_at: Timestamp
