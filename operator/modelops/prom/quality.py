"""Judge a model's quality on ground-truth labels from Prometheus: the canary checks `quality` and
`quality-vs-stable`, and the stable version's reading for the bake and status.quality.

The label counts come from the servers' feedback telemetry (docs/telemetry.md "labels"), the
queries from `promql.quality`, the statistics from `analysis.quality`. A canary is judged on the
labels that arrived since its rollout began (at most spec.analysis.slo.quality.window; one
interval before its start is known), the stable version over the same window for the comparison,
and over the whole window for status and bake. Labels accumulate over the rollout, since a
version's quality does not depend on its share of traffic: a window restarted at every step
would open each step with too few labels, an Unknown that counts toward maxUnknownChecks.
Fewer labels than minLabels is Unknown: never a pass without labels.

A shadow's answers never reach a caller, so no label comes back for its predictions: during the
shadow phase both checks are Skipped (neither a pass nor an Unknown) and judge it once it takes
live traffic.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from modelops.analysis import quality
from modelops.analysis.checks import CheckResult, Verdict
from modelops.api.durations import format_duration
from modelops.api.v1alpha1.modeldeployment import AnalysisSpec, QualityMetric, QualitySLO
from modelops.prom.batch import QueryBatch
from modelops.prom.client import PrometheusClient
from modelops.promql import quality as queries
from modelops.telemetry_contract import LABEL, LE, OUTCOME

QUALITY = "quality"
VS_STABLE = "quality-vs-stable"
MIN_WINDOW = timedelta(seconds=1)


def names(spec: AnalysisSpec) -> list[str]:
    """The quality checks `spec` enables, in the order `checks` returns them."""
    if spec.slo.quality is None:
        return []
    return [QUALITY] + ([VS_STABLE] if spec.compare_to_stable else [])


@dataclass(frozen=True)
class Labels:
    """What one version's labels over one window say, for the metric the SLO names."""

    confusion: quality.Confusion | None  # accuracy, precision, recall
    scores: quality.LabelledScores | None  # auc
    mismatch: str | None  # why the label-split buckets cannot be read
    query: str

    @property
    def count(self) -> int:
        """Labels counted in the window (all classes)."""
        if self.confusion is not None:
            return self.confusion.labelled
        if self.scores is not None:
            return round(self.scores.n_negative + self.scores.n_positive)
        return 0

    def value(self, metric: QualityMetric) -> float | None:
        """The metric's point value, whatever the number of labels; None when it has no denominator."""
        if metric == "auc":
            return quality.binned_auc(self.scores) if self.scores is not None else None
        return self.confusion.value(metric) if self.confusion is not None else None


async def read(
    client: PrometheusClient | QueryBatch,
    labels: Mapping[str, str],
    window: timedelta,
    *,
    at: datetime,
    metric: QualityMetric,
) -> Labels:
    """One version's labels in the window ending at `at`: confusion counts, or label-split score buckets for auc."""
    q = queries.queries(labels, window)
    if metric == "auc":
        by_label: dict[str, list[tuple[float, float]]] = {}
        for s in await client.query(q.labelled_scores, time=at):
            if LE in s.labels and LABEL in s.labels and not math.isnan(s.value):
                by_label.setdefault(s.labels[LABEL], []).append((float(s.labels[LE]), s.value))
        negatives, positives = (sorted(by_label[k]) if k in by_label else None for k in ("0", "1"))
        scores, why = quality.labelled_scores(negatives, positives)
        no_data = negatives is None and positives is None
        return Labels(None, scores, None if no_data else why, q.labelled_scores)
    outcomes = {
        s.labels[OUTCOME]: s.value
        for s in await client.query(q.outcomes, time=at)
        if OUTCOME in s.labels and not math.isnan(s.value)
    }
    confusion = quality.Confusion.from_outcomes(outcomes) if outcomes else None
    return Labels(confusion, None, None, q.outcomes)


def floor(found: Labels, slo: QualitySLO, *, alpha: float, scope: str) -> CheckResult:
    """The `quality` check: the metric confidently below the objective fails; too few labels is Unknown."""
    if slo.metric == "auc":
        result = quality.auc_floor(
            found.scores,
            minimum=slo.objective,
            min_labels=slo.min_labels,
            alpha=alpha,
            query=found.query,
            mismatch=found.mismatch,
        )
    else:
        result = quality.quality_floor(
            found.confusion,
            metric=slo.metric,
            minimum=slo.objective,
            min_labels=slo.min_labels,
            alpha=alpha,
            query=found.query,
        )
    return replace(result, name=QUALITY, reason=f"{result.reason} ({scope})")


def versus(canary: Labels, stable: Labels, slo: QualitySLO, *, alpha: float, scope: str) -> CheckResult:
    """The `quality-vs-stable` check: one-sided, fails when worse significantly and by more than maxDropVsStable."""
    if slo.metric == "auc":
        result = quality.compare_auc(
            canary.scores,
            stable.scores,
            alpha=alpha,
            min_labels=slo.min_labels,
            max_decrease=slo.max_drop_vs_stable,
            query=canary.query,
            mismatch=canary.mismatch or stable.mismatch,
        )
    else:
        result = quality.compare_metric(
            canary.confusion,
            stable.confusion,
            metric=slo.metric,
            alpha=alpha,
            min_labels=slo.min_labels,
            max_decrease=slo.max_drop_vs_stable,
            query=canary.query,
        )
    return replace(result, name=VS_STABLE, reason=f"{result.reason} ({scope})")


def canary_window(slo: QualitySLO, *, at: datetime, since: datetime | None, interval: timedelta) -> timedelta:
    """Labels since the rollout began (one interval without a start), at most the SLO's window."""
    window = at - since if since is not None else interval
    return max(min(window, slo.window.delta), MIN_WINDOW)


async def checks(
    client: PrometheusClient | QueryBatch,
    spec: AnalysisSpec,
    *,
    canary: Mapping[str, str],
    stable: Mapping[str, str],
    at: datetime,
    since: datetime | None,
    interval: timedelta,
    shadowing: bool = False,
) -> list[CheckResult]:
    """The enabled quality checks of one canary analysis (none without spec.slo.quality)."""
    slo = spec.slo.quality
    if slo is None:
        return []
    wanted = names(spec)
    if shadowing:
        why = "a shadow's predictions are never answered, so no labels come back for them; judged once it is live"
        return [CheckResult(n, Verdict.SKIPPED, None, "", None, "", why) for n in wanted]
    window = canary_window(slo, at=at, since=since, interval=interval)
    scope = f"labels over the last {format_duration(window)}"
    c, s = await asyncio.gather(
        read(client, canary, window, at=at, metric=slo.metric),
        read(client, stable, window, at=at, metric=slo.metric),
    )
    results = [floor(c, slo, alpha=spec.alpha, scope=scope)]
    if VS_STABLE in wanted:
        results.append(versus(c, s, slo, alpha=spec.alpha, scope=scope))
    return results


async def label_lag_p90(
    client: PrometheusClient | QueryBatch, labels: Mapping[str, str], window: timedelta, *, at: datetime
) -> float | None:
    """90th percentile of the time from prediction to label, of labels that arrived in the window; None without."""
    samples = await client.query(queries.label_delay_quantile(labels, window, 0.9), time=at)
    values = [s.value for s in samples if math.isfinite(s.value)]
    return values[0] if values else None


async def stable_reading(
    client: PrometheusClient | QueryBatch,
    slo: QualitySLO,
    labels: Mapping[str, str],
    *,
    version: str,
    at: datetime,
    alpha: float,
    since: datetime | None = None,
) -> quality.QualityReading:
    """One version's quality over the SLO window (from `since` when later: a bake judges only its own rollout)."""
    window = slo.window.delta if since is None else max(min(slo.window.delta, at - since), MIN_WINDOW)
    found, lag = await asyncio.gather(
        read(client, labels, window, at=at, metric=slo.metric), label_lag_p90(client, labels, window, at=at)
    )
    check = floor(found, slo, alpha=alpha, scope=f"{version}, labels over the last {format_duration(window)}")
    return quality.QualityReading(
        version=version,
        metric=slo.metric,
        objective=slo.objective,
        window=window,
        labels=found.count,
        value=found.value(slo.metric),
        label_lag_p90=lag,
        check=check,
    )
