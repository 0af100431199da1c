"""Run the SLI queries (built in `modelops.promql.sli`, shared with the recording rules) against Prometheus.

The latency threshold must be a bucket edge of the duration histogram; `find_bucket`
compares `le` numerically (the exposition may write 0.25 as "0.25" or "2.5e-01"), and remembers
an edge it found for ten minutes: a series lookup over the window is the heaviest request a pass
makes, and a histogram's edges do not move while its server runs. Instant queries that do not
depend on each other are asked together, so a `QueryBatch` sends them as one request.
"""

from __future__ import annotations

import asyncio
import math
import time
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
from modelops.prom.batch import QueryBatch
from modelops.prom.client import PrometheusClient, PrometheusError, Sample
from modelops.promql.expr import selector
from modelops.promql.sli import SLIQueries, availability, latency
from modelops.telemetry_contract import LE, REQUEST_DURATION, bucket


class MissingBucket(ModelopsError, LookupError):
    """The latency threshold is not a bucket edge of the duration histogram."""


EDGE_TTL_SECONDS = 600.0
_EDGES: dict[tuple[str, str, float], tuple[float, str]] = {}  # (prometheus, selector, threshold) -> (expiry, le)
_EDGES_MAX = 20_000


def _remembers(client: PrometheusClient | QueryBatch) -> bool:
    """Only answers of a real Prometheus are remembered (a test's fake may change its mind)."""
    return isinstance(client, PrometheusClient) or (isinstance(client, QueryBatch) and client.batching)


def forget_edges() -> None:
    """Drop every remembered bucket edge (tests)."""
    _EDGES.clear()


async def find_bucket(
    client: PrometheusClient | QueryBatch,
    labels: Mapping[str, str],
    threshold: float,
    *,
    start: datetime,
    end: datetime,
) -> str:
    """The exposed `le` value equal to `threshold`, compared as numbers."""
    match = selector(bucket(REQUEST_DURATION), labels)
    key = (getattr(client, "url", ""), match, threshold)
    now = time.monotonic()
    remembered = _EDGES.get(key) if _remembers(client) else None
    if remembered is not None and remembered[0] > now:
        return remembered[1]
    found = await client.series(match, start=start, end=end)
    edges = sorted({s[LE] for s in found if LE in s}, key=float)
    for le in edges:
        if math.isclose(float(le), threshold, rel_tol=1e-12, abs_tol=0.0):
            if _remembers(client):
                if len(_EDGES) >= _EDGES_MAX:
                    for stale in [k for k, (expiry, _) in _EDGES.items() if expiry <= now] or list(_EDGES):
                        del _EDGES[stale]
                _EDGES[key] = (now + EDGE_TTL_SECONDS, le)
            return le
    shown = ", ".join(edges) or "none (no series)"
    raise MissingBucket(f"latency threshold {threshold}s is not a bucket edge of {REQUEST_DURATION}; edges: {shown}")


def _one(samples: list[Sample]) -> float | None:
    """A sum() answers one sample, or nothing when no series matched: nothing is no data."""
    if not samples or math.isnan(samples[0].value):
        return None
    return samples[0].value


async def counts(client: PrometheusClient | QueryBatch, queries: SLIQueries, *, at: datetime) -> Counts | None:
    """Bad and total events at `at`; None when there were no series or no traffic.

    Both are asked at once (one request through a QueryBatch); a bad count is only read when
    there was traffic."""
    total_samples, bad_samples = await asyncio.gather(
        client.query(queries.total, time=at), client.query(queries.bad, time=at)
    )
    total = _one(total_samples)
    if total is None or total <= 0:
        return None
    bad = _one(bad_samples) or 0.0
    return Counts(bad=max(bad, 0.0), total=total)


async def evaluate_slo(
    client: PrometheusClient | QueryBatch,
    queries: Callable[[timedelta], SLIQueries],
    pairs: Sequence[WindowPair],
    budget: Decimal,
    *,
    at: datetime,
) -> SLOEvaluation:
    """Multi-window burn rates of one SLI (`queries` builds its bad/total pair per window; two queries per
    distinct window), e.g. `lambda w: availability(labels, w)`."""
    distinct = list(windows(pairs))
    found = await asyncio.gather(*(counts(client, queries(w), at=at) for w in distinct))
    return evaluate(pairs, budget, dict(zip(distinct, found, strict=True)))


async def stable_slos(
    client: PrometheusClient, slo: SLOSpec, labels: dict[str, str], *, at: datetime, since: datetime | None = None
) -> StableSLOs:
    """Every SLO the spec declares, multi-window, for the stable version; what could not be read says why.

    Its instant queries go out as one request (a QueryBatch), the latency SLO's bucket lookup beside them.

    `since` caps every window at that time (a bake judges the rollout that led to it: requests of an
    earlier, rolled-back attempt of the same version are not this attempt's evidence).
    """
    evaluations: dict[str, SLOEvaluation] = {}
    blind: list[str] = []
    pairs = standard_pairs(slo.availability.window.delta)
    cap = max(at - since, timedelta(seconds=1)) if since is not None else None

    def capped(window: timedelta) -> timedelta:
        return window if cap is None else min(window, cap)

    batch = client if isinstance(client, QueryBatch) else QueryBatch(client)

    async def availability_slo() -> SLOEvaluation:
        budget = error_budget(slo.availability.objective)
        return await evaluate_slo(batch, lambda w: availability(labels, capped(w)), pairs, budget, at=at)

    async def latency_slo() -> SLOEvaluation | None:
        if slo.latency is None:
            return None
        start = at - capped(max(windows(pairs)))
        le = await find_bucket(batch, labels, slo.latency.threshold_seconds, start=start, end=at)
        budget = error_budget(slo.latency.objective)
        return await evaluate_slo(batch, lambda w: latency(labels, capped(w), le), pairs, budget, at=at)

    outcomes = await asyncio.gather(availability_slo(), latency_slo(), return_exceptions=True)
    for name, outcome in zip(("availability", "latency"), outcomes, strict=True):
        if isinstance(outcome, PrometheusError):
            reason = f"Prometheus {outcome.headline}: {outcome.reason} ({outcome.url})"
            if reason not in blind:
                blind.append(reason)
        elif isinstance(outcome, MissingBucket):
            blind.append(f"latency SLO cannot be judged: {outcome}")
        elif isinstance(outcome, BaseException):
            raise outcome
        elif outcome is not None:
            evaluations[name] = outcome
    return StableSLOs(evaluations, "; ".join(blind) or None)
