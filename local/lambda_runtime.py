"""Calling a function's handler in-process, the way the Lambda runtime would.

The handler is the module the template names (`functions.<name>.handler.lambda_handler`),
imported as is: the local stack has no special path into the domain.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from typing import Any

from local.lambda_context import LocalLambdaContext
from local.resources import LOCAL_STACK_NAME, FunctionSpec

Handler = Callable[[Any, Any], Any]


class HandlerMissing(LookupError):
    """The function's handler module is not in this build (yet)."""


def handler_exists(spec: FunctionSpec) -> bool:
    """Whether the handler module can be found, without importing (or failing inside) it."""
    try:
        return importlib.util.find_spec(spec.module) is not None
    except ModuleNotFoundError:
        return False


def load_handler(spec: FunctionSpec) -> Handler:
    """Import the handler; a missing module is HandlerMissing, any other import error propagates."""
    if not handler_exists(spec):
        raise HandlerMissing(f"{spec.logical_id}: handler module {spec.module} is not in this build")
    module = importlib.import_module(spec.module)
    function_name = spec.handler.rsplit(".", 1)[1]
    handler: Handler = getattr(module, function_name)
    return handler


def context_for(spec: FunctionSpec, region: str, stack_name: str = LOCAL_STACK_NAME) -> LocalLambdaContext:
    return LocalLambdaContext(
        function_name=spec.physical_name(stack_name),
        memory_limit_in_mb=spec.memory_mb,
        timeout_seconds=spec.timeout_seconds,
        region=region,
    )
