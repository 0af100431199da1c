"""Read a model's feature and prediction distributions from Prometheus for a DriftMonitor.

One instant query per metric family (numeric features, categorical features, predictions),
whatever the number of features: each is `sum by (feature, le)` (or `category`, or just `le`)
of `increase()` over the window, summed across replicas. A past reference window is the
same queries with `offset`. The answers become `analysis.drift.Observations` aligned with
the reference's edges.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from modelops.analysis.drift import (
    FEATURE_BUCKETS,
    FEATURE_CATEGORIES,
    PREDICTION,
    PREDICTION_BUCKETS,
    Observations,
    from_prometheus,
)
from modelops.api.v1alpha1.baseline import Baseline
from modelops.prom import promql
from modelops.prom.client import PrometheusClient

PREDICTION_CLASSES = "modelops_prediction_class_total"


@dataclass(frozen=True)
class Live:
    """What Prometheus returned: the observations, and how many series answered (0: nothing is scraped)."""

    observations: Observations
    series: int


@dataclass(frozen=True)
class DriftQueries:
    """The PromQL of one side of a comparison (current window, or the past reference)."""

    numeric: str
    categorical: str
    predictions: str
    classes: str


def queries(labels: Mapping[str, str], window: timedelta, offset: timedelta | None = None) -> DriftQueries:
    """PromQL per family; label values are escaped, so a model name cannot change the query."""
    span = f"[{promql.duration(window)}]" + (f" offset {promql.duration(offset)}" if offset else "")

    def increase(metric: str, by: str) -> str:
        return f"sum by ({by}) (increase({promql.selector(metric, labels)}{span}))"

    return DriftQueries(
        numeric=increase(FEATURE_BUCKETS, "feature, le"),
        categorical=increase(FEATURE_CATEGORIES, "feature, category"),
        predictions=increase(PREDICTION_BUCKETS, "le"),
        classes=increase(PREDICTION_CLASSES, "class"),
    )


async def observe(
    client: PrometheusClient,
    q: DriftQueries,
    *,
    at: datetime,
    reference: Baseline | Observations | None,
    predictions: bool = True,
) -> Live:
    """Run the queries at `at` and align the answers with `reference` (its edges, its prediction type).

    Raises PrometheusError when Prometheus cannot answer: the caller must not read that as "no drift".
    """
    ref = Observations.from_baseline(reference) if isinstance(reference, Baseline) else reference
    buckets: dict[str, list[tuple[str, float]]] = {}
    series = 0  # usable samples: a NaN or unlabelled answer is no data
    for sample in await client.query(q.numeric, time=at):
        feature, le = sample.labels.get("feature"), sample.labels.get("le")
        if feature is not None and le is not None and not math.isnan(sample.value):
            buckets.setdefault(feature, []).append((le, sample.value))
            series += 1
    categories: dict[str, dict[str, float]] = {}
    for sample in await client.query(q.categorical, time=at):
        feature, category = sample.labels.get("feature"), sample.labels.get("category")
        if feature is not None and category is not None and not math.isnan(sample.value):
            categories.setdefault(feature, {})[category] = sample.value
            series += 1
    scores: list[tuple[str, float]] | dict[str, float] | None = None
    if predictions:
        kind = ref.kind(PREDICTION) if ref is not None else None
        if kind != "categorical":  # a score histogram, or (no reference to say) try it first
            pairs = [
                (s.labels["le"], s.value)
                for s in await client.query(q.predictions, time=at)
                if "le" in s.labels and not math.isnan(s.value)
            ]
            scores = pairs or None
            series += len(pairs)
        if kind == "categorical" or (ref is None and scores is None):  # a classifier exports class counts
            classes = {
                s.labels["class"]: s.value
                for s in await client.query(q.classes, time=at)
                if "class" in s.labels and not math.isnan(s.value)
            }
            scores = classes or None
            series += len(classes)
    return Live(from_prometheus(buckets, categories, scores, reference=ref), series)
