"""Read a model's feature and prediction distributions from Prometheus for a DriftMonitor.

Runs the queries of `modelops.promql.drift` (one instant query per metric family, whatever the
number of features); the answers become `analysis.drift.Observations` aligned with the
reference's edges.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from modelops.analysis.drift import PREDICTION, Observations, from_prometheus
from modelops.api.v1alpha1.baseline import Baseline
from modelops.prom.client import PrometheusClient
from modelops.promql.drift import DriftQueries
from modelops.telemetry_contract import CATEGORY, CLASS, FEATURE, LE


@dataclass(frozen=True)
class Live:
    """What Prometheus returned: the observations, and how many series answered (0: nothing is scraped)."""

    observations: Observations
    series: int


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
        feature, le = sample.labels.get(FEATURE), sample.labels.get(LE)
        if feature is not None and le is not None and not math.isnan(sample.value):
            buckets.setdefault(feature, []).append((le, sample.value))
            series += 1
    categories: dict[str, dict[str, float]] = {}
    for sample in await client.query(q.categorical, time=at):
        feature, category = sample.labels.get(FEATURE), sample.labels.get(CATEGORY)
        if feature is not None and category is not None and not math.isnan(sample.value):
            categories.setdefault(feature, {})[category] = sample.value
            series += 1
    scores: list[tuple[str, float]] | dict[str, float] | None = None
    if predictions:
        kind = ref.kind(PREDICTION) if ref is not None else None
        if kind != "categorical":  # a score histogram, or (no reference to say) try it first
            pairs = [
                (s.labels[LE], s.value)
                for s in await client.query(q.predictions, time=at)
                if LE in s.labels and not math.isnan(s.value)
            ]
            scores = pairs or None
            series += len(pairs)
        if kind == "categorical" or (ref is None and scores is None):  # a classifier exports class counts
            classes = {
                s.labels[CLASS]: s.value
                for s in await client.query(q.classes, time=at)
                if CLASS in s.labels and not math.isnan(s.value)
            }
            scores = classes or None
            series += len(classes)
    return Live(from_prometheus(buckets, categories, scores, reference=ref), series)
