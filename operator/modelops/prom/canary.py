"""Judge a canary from Prometheus: gather what the checks need, run them, combine the verdicts.

Queries are all evaluated at one explicit time over one interval, for the canary and the
stable variant alike, so the comparison is fair and the decision can be replayed. If
Prometheus cannot be reached, every check is Unknown with the reason; nothing is guessed.

Once a rollout is two intervals old, the SLO checks are also run over the whole rollout so far
(`availability-since-start`, `latency-since-start`): one interval at a canary's share of
low traffic holds a few dozen requests, too few to fail a 10%-error canary with confidence
every time, so a broken canary could pass one lucky interval per step. The evidence of every
interval adds up in the rollout-long window until it is conclusive.

The checks' instant queries go to Prometheus as one request (`prom.batch.QueryBatch`); only the
user's own PromQL (`spec.analysis.metrics`) is sent as written, on its own.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from modelops.analysis import checks
from modelops.analysis.checks import Analysis, CheckResult, Verdict
from modelops.analysis.slo import error_budget
from modelops.api.durations import format_duration
from modelops.api.v1alpha1.modeldeployment import AnalysisSpec
from modelops.prom import quality
from modelops.prom.batch import QueryBatch
from modelops.prom.client import PrometheusClient, PrometheusError
from modelops.prom.sli import MissingBucket, counts, find_bucket
from modelops.promql import expr, sli
from modelops.telemetry_contract import LE, PREDICTION_SCORE, REASON, REQUEST_DURATION, model_labels


@dataclass(frozen=True)
class Variant:
    """Which series belong to one side of the comparison: selected by version, never by the
    `variant` label (pods keep the label they were created with when their version is promoted)."""

    namespace: str
    model: str
    version: str

    @property
    def labels(self) -> dict[str, str]:
        return model_labels(self.namespace, self.model, self.version)


SINCE_START_LIMIT = timedelta(days=1)  # the rollout-long window looks back at most this far


async def buckets(
    client: PrometheusClient | QueryBatch, query: str, *, at: datetime
) -> list[tuple[float, float]] | None:
    """Cumulative (le, count) pairs in `le` order; None when there are no series."""
    samples = [s for s in await client.query(query, time=at) if LE in s.labels and not math.isnan(s.value)]
    if not samples:
        return None
    return sorted((float(s.labels[LE]), s.value) for s in samples)


@dataclass(frozen=True)
class _Context:
    client: QueryBatch  # our queries, joined per request
    raw: PrometheusClient  # the user's PromQL, sent as written
    spec: AnalysisSpec
    canary: Variant
    stable: Variant
    interval: timedelta
    min_requests: int
    at: datetime
    since_start: timedelta | None  # the rollout so far, when it is at least two intervals long

    async def compared(self, metric: str) -> tuple[str, checks.CommonBuckets]:
        """Canary's and stable's histograms of `metric` over the interval, on their shared edges."""
        query = sli.buckets_by_le(metric, self.canary.labels, self.interval)
        canary, stable = await asyncio.gather(
            buckets(self.client, query, at=self.at),
            buckets(self.client, sli.buckets_by_le(metric, self.stable.labels, self.interval), at=self.at),
        )
        return query, checks.common_buckets(canary, stable)

    async def mean(self, variant: Variant) -> float | None:
        """One version's mean request latency over the interval, in seconds; None without requests."""
        samples = await self.client.query(sli.mean(REQUEST_DURATION, variant.labels, self.interval), time=self.at)
        values = [s.value for s in samples if math.isfinite(s.value)]
        return values[0] if values else None


async def analyze(
    client: PrometheusClient,
    spec: AnalysisSpec,
    *,
    canary: Variant,
    stable: Variant,
    interval: timedelta,
    min_requests: int,
    at: datetime,
    started: datetime | None = None,
    shadowing: bool = False,
) -> Analysis:
    """Run every enabled check for one analysis interval ending at `at`; with `started` (when the
    rollout began), the SLO checks over the rollout so far too, and with a quality SLO the label
    checks over the labels since then (prom.quality)."""
    since_start = None
    if started is not None:
        seconds = int(min(at - started, SINCE_START_LIMIT).total_seconds())
        if seconds >= 2 * interval.total_seconds():
            since_start = timedelta(seconds=seconds)
    ctx = _Context(QueryBatch(client), client, spec, canary, stable, interval, min_requests, at, since_start)
    labelled = quality.checks(
        ctx.client,
        spec,
        canary=canary.labels,
        stable=stable.labels,
        at=at,
        since=started,
        interval=interval,
        shadowing=shadowing,
    )
    try:
        done = await asyncio.gather(_checks(ctx), labelled, return_exceptions=True)
        for outcome in done:  # both have finished: the first failure decides
            if isinstance(outcome, BaseException):
                raise outcome
        results = [r for found in done if isinstance(found, list) for r in found]
    except PrometheusError as error:
        reason = f"Prometheus {error.headline}: {error.reason} ({error.url})"
        results = [
            CheckResult(name, Verdict.UNKNOWN, None, "", None, error.query, reason)
            for name in _names(spec, ctx.since_start is not None)
        ]
    return Analysis(at, checks.combine(results), tuple(results))


def _names(spec: AnalysisSpec, since_start: bool) -> list[str]:
    names = ["availability"] + (["availability-since-start"] if since_start else [])
    if spec.slo.latency is not None:
        names += ["latency"] + (["latency-since-start"] if since_start else [])
    if spec.compare_to_stable:
        names += ["errors-vs-stable", "latency-vs-stable"]
    if spec.invalid_requests.enabled:
        names.append("invalid-vs-stable")
    if spec.prediction_drift.enabled:
        names.append("prediction-drift")
    return names + [m.name for m in spec.metrics] + quality.names(spec)


async def _checks(ctx: _Context) -> list[CheckResult]:
    """Every enabled check, in a fixed order; the checks' queries run concurrently.

    One after another, a pass's ~20 queries held its reconcile slot for their summed round
    trips (2.5 s a pass with 100 canaries in analysis on a loaded 2-core machine, slots full and
    analyses late: bench/fleet_rollback.py); side by side it is about the longest chain (4)."""
    spec, alpha, n = ctx.spec, ctx.spec.alpha, ctx.min_requests
    budget = error_budget(spec.slo.availability.objective)
    canary_q = sli.availability(ctx.canary.labels, ctx.interval)
    canary_counts = asyncio.ensure_future(counts(ctx.client, canary_q, at=ctx.at))  # shared by two checks
    burn = partial(checks.slo_burn, budget=budget, max_burn=spec.max_burn_rate, min_requests=n, alpha=alpha)

    async def availability() -> CheckResult:
        return burn("availability", await canary_counts, query=canary_q.bad)

    async def availability_since_start(window: timedelta) -> CheckResult:
        q = sli.availability(ctx.canary.labels, window)
        found = await counts(ctx.client, q, at=ctx.at)
        return burn("availability-since-start", found, query=q.bad, scope=_since(window))

    async def errors_vs_stable() -> CheckResult:
        stable_counts = await counts(ctx.client, sli.availability(ctx.stable.labels, ctx.interval), at=ctx.at)
        return checks.compare_errors(
            await canary_counts,
            stable_counts,
            alpha=alpha,
            min_requests=n,
            min_difference=float(budget),
            query=canary_q.bad,
        )

    async def latency_vs_stable() -> CheckResult:
        (query, latency), canary_mean, stable_mean = await asyncio.gather(
            ctx.compared(REQUEST_DURATION), ctx.mean(ctx.canary), ctx.mean(ctx.stable)
        )
        tolerance = spec.latency_vs_stable
        return checks.compare_latency(
            latency.canary,
            latency.stable,
            alpha=alpha,
            min_requests=n,
            min_effect=0.05,
            means=checks.MeanLatency(canary_mean, stable_mean),
            max_increase=tolerance.max_increase,
            min_difference=tolerance.min_difference.delta.total_seconds(),
            query=query,
            mismatch=latency.mismatch,
        )

    async def prediction_drift() -> CheckResult:
        query, predictions = await ctx.compared(PREDICTION_SCORE)
        drift = spec.prediction_drift
        return checks.prediction_drift(
            predictions.canary,
            predictions.stable,
            max_psi=drift.max_psi,
            alpha=drift.alpha,
            min_requests=n,
            query=query,
            mismatch=predictions.mismatch,
        )

    wanted: list[Awaitable[CheckResult]] = [availability()]
    if ctx.since_start is not None:
        wanted.append(availability_since_start(ctx.since_start))
    if spec.slo.latency is not None:
        wanted.append(_latency(ctx, "latency", ctx.interval))
        if ctx.since_start is not None:
            wanted.append(_latency(ctx, "latency-since-start", ctx.since_start, _since(ctx.since_start)))
    if spec.compare_to_stable:
        wanted += [errors_vs_stable(), latency_vs_stable()]
    if spec.invalid_requests.enabled:
        wanted.append(_invalid(ctx))
    if spec.prediction_drift.enabled:
        wanted.append(prediction_drift())
    for metric in spec.metrics:
        wanted.append(_custom(ctx, metric.name, metric.query, metric.threshold_range.min, metric.threshold_range.max))
    done = await asyncio.gather(*wanted, canary_counts, return_exceptions=True)
    for outcome in done:  # every query has finished: the first failure decides, none is left unretrieved
        if isinstance(outcome, BaseException):
            raise outcome
    return [r for r in done[:-1] if isinstance(r, CheckResult)]


def _since(window: timedelta) -> str:
    return f"since the rollout began {format_duration(window)} ago"


async def _latency(ctx: _Context, name: str, window: timedelta, scope: str = "in the interval") -> CheckResult:
    latency = ctx.spec.slo.latency
    assert latency is not None
    threshold = f"burn <= {ctx.spec.max_burn_rate:g}"
    try:
        le = await find_bucket(
            ctx.client, ctx.canary.labels, latency.threshold_seconds, start=ctx.at - window, end=ctx.at
        )
    except MissingBucket as error:
        return CheckResult(name, Verdict.UNKNOWN, None, threshold, None, "", str(error))
    q = sli.latency(ctx.canary.labels, window, le)
    return checks.slo_burn(
        name,
        await counts(ctx.client, q, at=ctx.at),
        budget=error_budget(latency.objective),
        max_burn=ctx.spec.max_burn_rate,
        min_requests=ctx.min_requests,
        alpha=ctx.spec.alpha,
        query=q.bad,
        scope=scope,
    )


async def _refusals(ctx: _Context, variant: Variant) -> tuple[str, checks.Refusals | None]:
    """One version's refusals by reason and requests received over the interval; None without traffic."""
    q = sli.invalid_requests(variant.labels, ctx.interval)
    total, bad = await asyncio.gather(ctx.client.query(q.total, time=ctx.at), ctx.client.query(q.bad, time=ctx.at))
    if not total or math.isnan(total[0].value) or total[0].value <= 0:
        return q.bad, None
    reasons = {s.labels.get(REASON, ""): s.value for s in bad if not math.isnan(s.value)}
    refused = sum(max(v, 0.0) for v in reasons.values()) if reasons else None
    return q.bad, checks.Refusals(received=total[0].value, refused=refused, reasons=reasons)


async def _invalid(ctx: _Context) -> CheckResult:
    (query, canary), (_, stable) = await asyncio.gather(_refusals(ctx, ctx.canary), _refusals(ctx, ctx.stable))
    return checks.compare_invalid(
        canary,
        stable,
        alpha=ctx.spec.alpha,
        min_requests=ctx.min_requests,
        max_increase=ctx.spec.invalid_requests.max_increase,
        query=query,
    )


async def _custom(ctx: _Context, name: str, template: str, low: float | None, high: float | None) -> CheckResult:
    values = {**ctx.canary.labels, "interval": expr.duration(ctx.interval)}
    try:
        query = expr.render_template(template, values)
    except expr.TemplateError as error:
        return CheckResult(name, Verdict.UNKNOWN, None, "", None, template, f"bad query template: {error}")
    samples = await ctx.raw.query(query, time=ctx.at)
    if len(samples) > 1:
        return CheckResult(
            name, Verdict.UNKNOWN, None, "", None, query, f"query returned {len(samples)} series, not one"
        )
    return checks.custom(name, samples[0].value if samples else None, low, high, query)
