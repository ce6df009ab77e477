"""The one place that owns Logger, Tracer and Metrics (Powertools), and the metric names."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "downbeat")

logger = Logger()
tracer = Tracer()
metrics = Metrics(namespace=NAMESPACE)


def count(name: str, *, dimension: tuple[str, str] | None = None, value: int = 1) -> None:
    """Add a count metric; with `dimension`, emit it as its own EMF blob so the dimension is its own."""
    if dimension is None:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
        return
    with single_metric(
        name=name,
        unit=MetricUnit.Count,
        value=value,
        namespace=NAMESPACE,
        default_dimensions=metrics.default_dimensions,
    ) as metric:
        metric.add_dimension(name=dimension[0], value=dimension[1])


def report_unreadable_item(key: Mapping[str, Any], reason: str) -> None:
    """A stored item that a list could not read and left out: logged with its key, and counted
    (`UnreadableStoredItems`) so an alarm can tell someone to repair it."""
    count("UnreadableStoredItems")
    logger.error(
        "a stored item could not be read and was left out of a list", extra={"key": dict(key), "reason": reason}
    )
