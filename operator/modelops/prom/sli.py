"""Run the SLI queries (built in `modelops.promql.sli`, shared with the recording rules) against Prometheus.

The latency threshold must be a bucket edge of the duration histogram; `find_bucket`
compares `le` numerically (the exposition may write 0.25 as "0.25" or "2.5e-01").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from modelops.analysis.slo import (
    Counts,
    SLOEvaluation,
    StableSLOs,
    WindowPair,
    error_budget,
    evaluate,
    standard_pairs,
    windows,
)
from modelops.api.v1alpha1.modeldeployment import SLOSpec
from modelops.errors import ModelopsError
from modelops.prom.client import PrometheusClient, PrometheusError, Sample
from modelops.promql.expr import selector
from modelops.promql.sli import SLIQueries, availability, latency
from modelops.telemetry_contract import LE, REQUEST_DURATION, bucket


class MissingBucket(ModelopsError, LookupError):
    """The latency threshold is not a bucket edge of the duration histogram."""


async def find_bucket(
    client: PrometheusClient, labels: Mapping[str, str], threshold: float, *, start: datetime, end: datetime
) -> str:
    """The exposed `le` value equal to `threshold`, compared as numbers."""
    found = await client.series(selector(bucket(REQUEST_DURATION), labels), start=start, end=end)
    edges = sorted({s[LE] for s in found if LE in s}, key=float)
    for le in edges:
        if math.isclose(float(le), threshold, rel_tol=1e-12, abs_tol=0.0):
            return le
    shown = ", ".join(edges) or "none (no series)"
    raise MissingBucket(f"latency threshold {threshold}s is not a bucket edge of {REQUEST_DURATION}; edges: {shown}")


def _one(samples: list[Sample]) -> float | None:
    """A sum() answers one sample, or nothing when no series matched: nothing is no data."""
    if not samples or math.isnan(samples[0].value):
        return None
    return samples[0].value


async def counts(client: PrometheusClient, queries: SLIQueries, *, at: datetime) -> Counts | None:
    """Bad and total events at `at`; None when there were no series or no traffic."""
    total = _one(await client.query(queries.total, time=at))
    if total is None or total <= 0:
        return None
    bad = _one(await client.query(queries.bad, time=at)) or 0.0
    return Counts(bad=max(bad, 0.0), total=total)


async def evaluate_slo(
    client: PrometheusClient,
    queries: Callable[[timedelta], SLIQueries],
    pairs: Sequence[WindowPair],
    budget: Decimal,
    *,
    at: datetime,
) -> SLOEvaluation:
    """Multi-window burn rates of one SLI (`queries` builds its bad/total pair per window; two queries per
    distinct window), e.g. `lambda w: availability(labels, w)`."""
    window_counts = {w: await counts(client, queries(w), at=at) for w in windows(pairs)}
    return evaluate(pairs, budget, window_counts)


async def stable_slos(
    client: PrometheusClient, slo: SLOSpec, labels: dict[str, str], *, at: datetime, since: datetime | None = None
) -> StableSLOs:
    """Every SLO the spec declares, multi-window, for the stable version; what could not be read says why.

    `since` caps every window at that time (a bake judges the rollout that led to it: requests of an
    earlier, rolled-back attempt of the same version are not this attempt's evidence).
    """
    evaluations: dict[str, SLOEvaluation] = {}
    blind: list[str] = []
    pairs = standard_pairs(slo.availability.window.delta)
    cap = max(at - since, timedelta(seconds=1)) if since is not None else None

    def capped(window: timedelta) -> timedelta:
        return window if cap is None else min(window, cap)

    try:
        evaluations["availability"] = await evaluate_slo(
            client, lambda w: availability(labels, capped(w)), pairs, error_budget(slo.availability.objective), at=at
        )
        if slo.latency is not None:
            start = at - capped(max(windows(pairs)))
            le = await find_bucket(client, labels, slo.latency.threshold_seconds, start=start, end=at)
            evaluations["latency"] = await evaluate_slo(
                client, lambda w: latency(labels, capped(w), le), pairs, error_budget(slo.latency.objective), at=at
            )
    except PrometheusError as error:
        blind.append(f"Prometheus {error.headline}: {error.reason} ({error.url})")
    except MissingBucket as error:
        blind.append(f"latency SLO cannot be judged: {error}")
    return StableSLOs(evaluations, "; ".join(blind) or None)
