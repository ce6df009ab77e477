"""schemathesis against the running local API (`downbeat local`, a real socket).

The OpenAPI document is fetched from the server (`GET /openapi.json`), then every operation gets
generated requests, valid and invalid: no 5xx, every status declared, every body matching its
declared schema, JSON everywhere. Examples per operation are limited to keep this under a minute.
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis import checks as schemathesis_checks

from tests.integration.api_harness import TOKEN, LocalApi

EXAMPLES = int(os.environ.get("DOWNBEAT_SCHEMATHESIS_EXAMPLES", "25"))
CHECKS = [
    schemathesis_checks.not_a_server_error,
    schemathesis_checks.status_code_conformance,
    schemathesis_checks.content_type_conformance,
    schemathesis_checks.response_schema_conformance,
]


def run_operation(operation: Any, mode: GenerationMode, base_url: str, customer_id: str) -> None:
    strategy = operation.as_strategy(generation_mode=mode)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure is reported as found
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def exercise(case: Any) -> None:
        generated = (case.path_parameters or {}).get("customer_id")
        if mode is GenerationMode.POSITIVE and generated is not None and len(generated) % 2:
            case.path_parameters["customer_id"] = customer_id  # about half the time, a customer that exists
        case.call_and_validate(base_url=base_url, headers={"Authorization": f"Bearer {TOKEN}"}, checks=CHECKS)

    exercise()


def test_schemathesis_finds_no_server_error_and_no_undeclared_response(local_api: LocalApi) -> None:
    schema = schemathesis.openapi.from_url(f"{local_api.url}/openapi.json")
    customer_id = local_api.client.post("/v1/customers", {"name": "schemathesis"}).data["id"]
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 10
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            run_operation(operation, mode, local_api.url, customer_id)  # a failure names its operation
