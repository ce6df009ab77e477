"""The one place that owns Logger, Tracer and Metrics (Powertools), and the metric names."""

from __future__ import annotations

import os

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
