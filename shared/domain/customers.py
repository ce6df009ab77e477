"""Customers and contracts as downbeat stores them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.providers import ContractProviderOverride, ProviderConfiguration, Resolution, resolve_provider
from shared.domain.types import CustomFields, DecimalString, Identifier, Timestamp


class Customer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    id: Identifier
    name: str
    custom_fields: CustomFields = Field(default_factory=dict)
    billing_provider_configurations: list[ProviderConfiguration] = Field(default_factory=list)
    # Σ of FINALIZED invoice totals per currency; maintained by the store with each invoice write.
    lifetime_billings: dict[str, DecimalString] = Field(default_factory=dict)
    # Live (not archived) alerts for this customer alone, those for every customer not counted;
    # maintained by the store with each alert create and archive. The router reads it with the
    # customer, so an invoice of a customer no alert watches asks for no evaluation.
    alert_count: int = Field(default=0, ge=0)
    created_at: Timestamp

    def configuration_for(self, provider: str) -> ProviderConfiguration | None:
        for configuration in self.billing_provider_configurations:
            if configuration.billing_provider == provider:
                return configuration
        return None

    def provider_for(self, contract: Contract | None) -> Resolution:
        """Where an invoice of this customer under `contract` goes: the contract's override, else
        the customer's default (DESIGN §3). Raises UnresolvableProvider for a broken override."""
        override = contract.billing_provider_configuration if contract is not None else None
        return resolve_provider(self.billing_provider_configurations, override)

    def lifetime_total(self, currency: str) -> Decimal:
        return self.lifetime_billings.get(currency, Decimal(0))


class Contract(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    id: Identifier
    customer_id: Identifier
    name: str
    starting_at: Timestamp
    ending_before: Timestamp | None = None
    custom_fields: CustomFields = Field(default_factory=dict)
    billing_provider_configuration: ContractProviderOverride | None = None
    created_at: Timestamp

    def is_active_at(self, moment: datetime) -> bool:
        return self.starting_at <= moment and (self.ending_before is None or moment < self.ending_before)
