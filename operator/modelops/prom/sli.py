"""Run the SLI queries (built in `promql`, shared with the recording rules) against Prometheus.

The latency threshold must be a bucket edge of the duration histogram; `find_bucket`
compares `le` numerically (the exposition may write 0.25 as "0.25" or "2.5e-01").
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal

from modelops.analysis.slo import Counts, SLOEvaluation, WindowPair, evaluate, windows
from modelops.prom.client import PrometheusClient, Sample
from modelops.prom.promql import DURATION, SLIQueries, availability, selector


class MissingBucket(LookupError):
    """The latency threshold is not a bucket edge of the duration histogram."""


async def find_bucket(
    client: PrometheusClient, labels: Mapping[str, str], threshold: float, *, start: datetime, end: datetime
) -> str:
    """The exposed `le` value equal to `threshold`, compared as numbers."""
    found = await client.series(selector(f"{DURATION}_bucket", labels), start=start, end=end)
    edges = sorted({s["le"] for s in found if "le" in s}, key=float)
    for le in edges:
        if math.isclose(float(le), threshold, rel_tol=1e-12, abs_tol=0.0):
            return le
    shown = ", ".join(edges) or "none (no series)"
    raise MissingBucket(f"latency threshold {threshold}s is not a bucket edge of {DURATION}; edges: {shown}")


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
    client: PrometheusClient, labels: Mapping[str, str], pairs: Sequence[WindowPair], budget: Decimal, *, at: datetime
) -> SLOEvaluation:
    """Multi-window burn rates of one version's availability (two queries per distinct window)."""
    window_counts = {w: await counts(client, availability(labels, w), at=at) for w in windows(pairs)}
    return evaluate(pairs, budget, window_counts)
