"""Read a version's label telemetry for the RetrainPolicy performance trigger (queries from promql.quality)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta

from modelops.analysis.quality import Confusion, labelled_scores
from modelops.api.v1alpha1.retrainpolicy import PerformanceMetric
from modelops.prom.client import PrometheusClient
from modelops.promql.quality import queries
from modelops.retrain.performance import PerformanceReading
from modelops.telemetry_contract import LABEL, LE, OUTCOME


async def read(
    client: PrometheusClient,
    metric: PerformanceMetric,
    labels: Mapping[str, str],
    window: timedelta,
    *,
    version: str,
    at: datetime,
) -> PerformanceReading:
    """Confusion counts (accuracy, precision, recall) or label-split score buckets (auc) over `window`."""
    q = queries(labels, window)
    if metric != "auc":
        samples = await client.query(q.outcomes, time=at)
        found = {s.labels[OUTCOME]: s.value for s in samples if OUTCOME in s.labels and not math.isnan(s.value)}
        confusion = Confusion.from_outcomes(found) if found else None
        return PerformanceReading(version, q.outcomes, confusion=confusion)
    by_label: dict[str, list[tuple[float, float]]] = {}
    for s in await client.query(q.labelled_scores, time=at):
        if LE in s.labels and LABEL in s.labels and not math.isnan(s.value):
            by_label.setdefault(s.labels[LABEL], []).append((float(s.labels[LE]), s.value))
    negatives, positives = (sorted(by_label[k]) if k in by_label else None for k in ("0", "1"))
    scores, problem = labelled_scores(negatives, positives)
    if negatives is None and positives is None:
        problem = None  # no data is InsufficientLabels, not a problem
    return PerformanceReading(version, q.labelled_scores, scores=scores, problem=problem)
