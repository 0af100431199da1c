"""Canary checks with three outcomes: Pass, Fail, Unknown. Unknown is never a pass.

Each check returns the value, the threshold, the number of samples, the query and a
one-line reason, so a person on call sees why without opening Prometheus.

- SLO burn checks (availability, latency): the canary's bad-event ratio over the analysis
  interval, as a burn rate of the SLO budget. It fails only when the burn is *confidently*
  above the limit (the lower end of a 1-alpha Wilson interval of the ratio is above
  limit x budget), so one unlucky error at low traffic does not roll a canary back.
- Canary vs stable (in the spirit of Kayenta): errors by a one-sided Fisher exact test
  (is the canary's error proportion higher?), latency by a one-sided Mann-Whitney test on
  the two bucketed latency distributions (is the canary slower?), and only when its mean
  latency is also above stable's by more than a tolerance (Kayenta's mean-ratio effect size).
  Each fails only when the difference is both significant and large enough to matter, so a
  canary is failed for being worse than stable, not for a fixed number that ignores traffic.
- Refused inputs (invalid-vs-stable): the share of requests each version refuses as invalid,
  by the same Fisher test, so a canary that answers 400 to inputs stable accepts (a changed
  input schema) fails, while one that refuses what stable refuses too does not. Skipped when
  neither version's server exports the refusal counter (a check that cannot apply to these
  servers), which counts as neither a pass nor Unknown.
- Prediction drift: canary predictions vs stable predictions with the DriftMonitor's
  statistics (chi-square homogeneity + a floor on the PSI less its sampling noise).
- Custom: a value from a PromQL template within a threshold range.
Fewer than `min_requests` per variant is Unknown for every check.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

import numpy as np
from scipy import special, stats

from modelops.analysis import drift_stats
from modelops.analysis.slo import Counts
from modelops.telemetry_contract import INVALID_REQUESTS


class Verdict(enum.StrEnum):
    PASS = "Pass"
    FAIL = "Fail"
    UNKNOWN = "Unknown"
    SKIPPED = "Skipped"  # the check cannot apply to these servers; counts as neither pass nor unknown


@dataclass(frozen=True)
class CheckResult:
    name: str
    verdict: Verdict
    value: float | None
    threshold: str
    samples: int | None
    query: str
    reason: str


@dataclass(frozen=True)
class Analysis:
    """One analysis: when (the end of its interval), the combined verdict, every check."""

    time: datetime
    verdict: Verdict
    checks: tuple[CheckResult, ...] = ()

    def failing(self) -> str:
        """The failed (else unknown) checks with their values, for events and history."""
        worst = [c for c in self.checks if c.verdict is Verdict.FAIL] or [
            c for c in self.checks if c.verdict is Verdict.UNKNOWN
        ]
        return "; ".join(f"{c.name}: {c.reason}" for c in worst)


def combine(results: Sequence[CheckResult]) -> Verdict:
    """Fail if any check failed, else Unknown if any was unknown (or none was judged), else Pass.

    Skipped checks are left out: they neither pass nor hold, and all skipped is Unknown."""
    verdicts = {r.verdict for r in results} - {Verdict.SKIPPED}
    if Verdict.FAIL in verdicts:
        return Verdict.FAIL
    if Verdict.UNKNOWN in verdicts or not verdicts:
        return Verdict.UNKNOWN
    return Verdict.PASS


def _unknown(name: str, threshold: str, query: str, reason: str, samples: float | None = None) -> CheckResult:
    return CheckResult(
        name, Verdict.UNKNOWN, None, threshold, None if samples is None else round(samples), query, reason
    )


def wilson_lower(bad: float, total: float, alpha: float) -> float:
    """Lower end of the one-sided 1-alpha Wilson score interval of a proportion."""
    if total <= 0:
        return 0.0
    z = float(special.ndtri(1 - alpha))
    p = bad / total
    centre = p + z * z / (2 * total)
    margin = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total))
    return max((centre - margin) / (1 + z * z / total), 0.0)


def slo_burn(
    name: str,
    counts: Counts | None,
    *,
    budget: Decimal,
    max_burn: float,
    min_requests: int,
    alpha: float,
    query: str,
    scope: str = "in the interval",
) -> CheckResult:
    """Fail when the canary's bad ratio is confidently above max_burn x budget; `scope` says over what window."""
    limit = float(budget) * max_burn
    threshold = f"burn <= {max_burn:g} (bad ratio <= {limit:.4g})"
    if counts is None or counts.total <= 0:
        return _unknown(name, threshold, query, f"no traffic to the canary {scope} (no data)")
    if counts.total < min_requests:
        why = f"{counts.total:.0f} requests {scope}, fewer than minRequests {min_requests}"
        return _unknown(name, threshold, query, why, counts.total)
    bad = min(max(counts.bad, 0.0), counts.total)
    ratio = bad / counts.total
    burn = ratio / float(budget)
    lower = wilson_lower(bad, counts.total, alpha)
    samples = round(counts.total)
    if lower > limit:
        reason = (
            f"{bad:.0f}/{counts.total:.0f} bad ({ratio:.2%}) {scope}: burn {burn:.3g}, confidently above {max_burn:g}"
        )
        return CheckResult(name, Verdict.FAIL, burn, threshold, samples, query, reason)
    reason = f"{bad:.0f}/{counts.total:.0f} bad ({ratio:.2%}) {scope}: burn {burn:.3g}"
    reason += "" if burn <= max_burn else f", above {max_burn:g} but not significantly at this traffic"
    return CheckResult(name, Verdict.PASS, burn, threshold, samples, query, reason)


def compare_errors(
    canary: Counts | None,
    stable: Counts | None,
    *,
    alpha: float,
    min_requests: int,
    min_difference: float,
    query: str,
) -> CheckResult:
    """One-sided Fisher exact test: is the canary's error proportion higher than stable's?"""
    name = "errors-vs-stable"
    threshold = f"p >= {alpha:g} or difference < {min_difference:.3g}"
    for label, c in (("canary", canary), ("stable", stable)):
        if c is None or c.total <= 0:
            return _unknown(name, threshold, query, f"no {label} traffic in the interval (no data)")
        if c.total < min_requests:
            why = f"{label} has {c.total:.0f} requests, fewer than {min_requests}"
            return _unknown(name, threshold, query, why, c.total)
    assert canary is not None and stable is not None
    (cb, ct), (sb, st) = _whole(canary.bad, canary.total), _whole(stable.bad, stable.total)
    p = fisher_greater(cb, ct, sb, st)
    difference = cb / ct - sb / st
    worse = p < alpha and difference >= min_difference
    reason = f"canary {cb}/{ct} ({cb / ct:.2%}) vs stable {sb}/{st} ({sb / st:.2%}) errors, one-sided p={p:.3g}"
    return CheckResult(name, Verdict.FAIL if worse else Verdict.PASS, difference, threshold, ct, query, reason)


def _whole(bad: float, total: float) -> tuple[int, int]:
    """(bad, total) as whole counts, bad within [0, total] (increase() extrapolates both)."""
    return round(min(max(bad, 0.0), total)), round(total)


def fisher_greater(bad_a: int, total_a: int, bad_b: int, total_b: int) -> float:
    """One-sided Fisher exact p-value: is a's proportion of bad higher than b's?"""
    table = [[bad_a, total_a - bad_a], [bad_b, total_b - bad_b]]
    return float(stats.fisher_exact(table, alternative="greater").pvalue)


@dataclass(frozen=True)
class Refusals:
    """What one version received (answered or refused) and how many of those it refused as invalid.

    `refused` is None when its server exports no refusal counter at all (no series, as opposed to
    series at zero); `reasons` breaks `refused` down by the counter's `reason` label.
    """

    received: float
    refused: float | None
    reasons: Mapping[str, float] = field(default_factory=dict)


def compare_invalid(
    canary: Refusals | None,
    stable: Refusals | None,
    *,
    alpha: float,
    min_requests: int,
    max_increase: float,
    query: str,
) -> CheckResult:
    """Fail when the canary refuses a larger share of its requests than stable: one-sided Fisher
    p < alpha and the increase of the refused share above `max_increase`.

    Too little traffic on either side is Unknown. No refusal series on either side (servers without
    the counter) is Skipped: the check cannot apply, and Unknown would hold and then roll back every
    rollout of such a server. Series on one side only is Unknown: that version's refusals cannot be seen.
    """
    name = "invalid-vs-stable"
    threshold = f"p >= {alpha:g} or increase <= {max_increase:.3g}"
    for label, side in (("canary", canary), ("stable", stable)):
        if side is None or side.received <= 0:
            return _unknown(name, threshold, query, f"no {label} traffic in the interval (no data)")
        if side.received < min_requests:
            why = f"{label} received {side.received:.0f} requests, fewer than {min_requests}"
            return _unknown(name, threshold, query, why, side.received)
    assert canary is not None and stable is not None
    if canary.refused is None and stable.refused is None:
        reason = (
            f"neither version exports {INVALID_REQUESTS} (a server without the refusal counter): refused inputs "
            f"cannot be compared, not judged"
        )
        return CheckResult(name, Verdict.SKIPPED, None, threshold, round(canary.received), query, reason)
    if canary.refused is None or stable.refused is None:
        blind, seen = ("canary", "stable") if canary.refused is None else ("stable", "canary")
        reason = (
            f"the {blind} exports no {INVALID_REQUESTS} while the {seen} does: its refusals cannot be seen "
            f"(analysis.invalidRequests.enabled: false judges a server without it)"
        )
        return _unknown(name, threshold, query, reason, canary.received)
    (cb, ct), (sb, st) = _whole(canary.refused, canary.received), _whole(stable.refused, stable.received)
    p = fisher_greater(cb, ct, sb, st)
    increase = cb / ct - sb / st
    worse = p < alpha and increase > max_increase
    reason = f"canary refused {cb}/{ct} ({cb / ct:.2%}) vs stable {sb}/{st} ({sb / st:.2%}), one-sided p={p:.3g}"
    top = sorted(((n, r) for r, n in canary.reasons.items() if round(n) > 0), reverse=True)[:3]
    if top:
        reason += "; canary reasons: " + ", ".join(f"{r} {n:.0f}" for n, r in top)
    return CheckResult(name, Verdict.FAIL if worse else Verdict.PASS, increase, threshold, ct, query, reason)


def _too_few(
    name: str,
    threshold: str,
    query: str,
    *,
    canary: Sequence[float] | None,
    stable: Sequence[float] | None,
    min_requests: int,
    what: str,
) -> CheckResult | None:
    """Unknown when either side has no observations or fewer than min_requests; else None."""
    for label, counts in (("canary", canary), ("stable", stable)):
        total = float(sum(counts)) if counts is not None else 0.0
        if total <= 0:
            return _unknown(name, threshold, query, f"no {label} {what} in the interval (no data)")
        if total < min_requests:
            return _unknown(name, threshold, query, f"{label} has {total:.0f} {what}, fewer than {min_requests}", total)
    return None


EDGE_RTOL = 1e-9  # `le` labels are floats written by different clients


class CommonBuckets(NamedTuple):
    """Two histograms as per-bucket counts on the edges both have; `mismatch` says why not."""

    canary: list[float] | None
    stable: list[float] | None
    mismatch: str | None = None


def common_buckets(
    canary: Sequence[tuple[float, float]] | None, stable: Sequence[tuple[float, float]] | None
) -> CommonBuckets:
    """Per-bucket counts of two cumulative histograms ((le, count) sorted by le) on their shared edges.

    Versions may export different bucket edges (a prediction histogram's edges come from each
    version's training baseline): comparing bucket i with bucket i would compare different
    ranges. Cumulative counts at an edge both have are exact, so the buckets are merged down
    to the shared edges; with no shared finite edge there is nothing to compare.
    """
    if canary is None or stable is None:
        return CommonBuckets(_per_bucket(canary), _per_bucket(stable))
    c_le = np.asarray([le for le, _ in canary], dtype=float)
    s_le = np.asarray([le for le, _ in stable], dtype=float)
    keep_c = np.isclose(c_le[:, None], s_le[None, :], rtol=EDGE_RTOL, atol=0).any(axis=1)
    keep_s = np.isclose(s_le[:, None], c_le[None, :], rtol=EDGE_RTOL, atol=0).any(axis=1)
    finite = int(np.isfinite(c_le[keep_c]).sum())
    if finite == 0 or not keep_c[-1] or not np.isinf(c_le[-1]):
        edges = f"canary le {_edges(c_le)}; stable le {_edges(s_le)}"
        why = f"canary and stable share no bucket edge ({edges}): give both versions the same edges"
        return CommonBuckets(None, None, why)
    return CommonBuckets(
        _per_bucket([pair for pair, keep in zip(canary, keep_c, strict=True) if keep]),
        _per_bucket([pair for pair, keep in zip(stable, keep_s, strict=True) if keep]),
    )


def _per_bucket(cumulative: Sequence[tuple[float, float]] | None) -> list[float] | None:
    if cumulative is None:
        return None
    values = [c for _, c in cumulative]
    return [max(b - a, 0.0) for a, b in zip([0.0, *values[:-1]], values, strict=True)]


def _edges(le: np.ndarray, shown: int = 4) -> str:
    text = ", ".join(f"{v:g}" for v in le[:shown])
    return text + (f", ... ({len(le)} edges)" if len(le) > shown else "")


def mann_whitney_buckets(canary: np.ndarray, stable: np.ndarray) -> tuple[float, float]:
    """(P(canary slower than stable) + ties/2, one-sided p) from two bucket-count vectors.

    Observations in the same bucket are ties; ranks are mid-ranks and the normal
    approximation uses the tie-corrected variance.
    """
    c = np.maximum(np.rint(canary), 0)
    s = np.maximum(np.rint(stable), 0)
    n1, n2 = c.sum(), s.sum()
    t = c + s
    below = np.concatenate([[0.0], np.cumsum(t)[:-1]])
    midrank = below + (t + 1) / 2
    u = float((c * midrank).sum() - n1 * (n1 + 1) / 2)
    n = n1 + n2
    variance = n1 * n2 / 12 * ((n + 1) - float((t**3 - t).sum()) / (n * (n - 1)))
    if variance <= 0:
        return 0.5, 1.0
    z = (u - n1 * n2 / 2) / math.sqrt(variance)
    return float(u / (n1 * n2)), float(special.ndtr(-z))


@dataclass(frozen=True)
class MeanLatency:
    """Each version's mean latency over the interval in seconds (histogram sum / count); None without data."""

    canary: float | None
    stable: float | None


def compare_latency(
    canary: Sequence[float] | None,
    stable: Sequence[float] | None,
    *,
    alpha: float,
    min_requests: int,
    min_effect: float,
    means: MeanLatency,
    max_increase: float,
    min_difference: float,
    query: str,
    mismatch: str | None = None,
) -> CheckResult:
    """Fail a canary that is slower than stable both significantly and materially.

    Significantly: Mann-Whitney on the bucket counts at `alpha`, with P(canary slower) >= 0.5 +
    min_effect. Materially: its mean latency is above stable's by more than `max_increase` (a
    fraction) and by more than `min_difference` seconds. The rank test alone fails healthy
    versions: nearly every observation of a fast model falls in one bucket, so a 0.1 ms shift
    moved across an edge by a busy node is "significant" (observations in a burst are not
    independent). `mismatch` (from common_buckets) makes it Unknown, and so do missing means when
    the rank test says slower: unknown is never a pass.
    """
    name = "latency-vs-stable"
    threshold = (
        f"p >= {alpha:g} or P(slower) < {0.5 + min_effect:.2f} or mean <= stable "
        f"+{max_increase:.0%} or +{_ms(min_difference)}"
    )
    if mismatch is not None:
        return _unknown(name, threshold, query, mismatch)
    missing = _too_few(
        name, threshold, query, canary=canary, stable=stable, min_requests=min_requests, what="latency observations"
    )
    if missing is not None:
        return missing
    assert canary is not None and stable is not None
    samples = round(sum(canary))
    effect, p = mann_whitney_buckets(np.asarray(canary, dtype=float), np.asarray(stable, dtype=float))
    ranks = f"P(canary slower than stable) = {effect:.3f}, one-sided p={p:.3g}"
    slower = p < alpha and effect >= 0.5 + min_effect
    if means.canary is None or means.stable is None:
        if not slower:
            return CheckResult(name, Verdict.PASS, effect, threshold, samples, query, ranks)
        reason = f"{ranks}, but the mean latencies are unknown (no _sum/_count series): cannot tell if it matters"
        return _unknown(name, threshold, query, reason, samples)
    increase = means.canary - means.stable
    relative = increase / means.stable if means.stable > 0 else math.inf if increase > 0 else 0.0
    material = increase > min_difference and relative > max_increase
    reason = f"mean {_ms(means.canary)} vs stable {_ms(means.stable)} ({relative:+.0%}); {ranks}"
    verdict = Verdict.FAIL if slower and material else Verdict.PASS
    return CheckResult(name, verdict, effect, threshold, samples, query, reason)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.3g}ms"


def prediction_drift(
    canary: Sequence[float] | None,
    stable: Sequence[float] | None,
    *,
    max_psi: float,
    alpha: float,
    min_requests: int,
    query: str,
    mismatch: str | None = None,
) -> CheckResult:
    """Canary predictions vs stable predictions: Fail when homogeneity is rejected AND the PSI, less
    its sampling noise, is above max (DriftMonitor's rule: see drift_stats.psi_noise).

    `mismatch` (from common_buckets) makes it Unknown: buckets that differ cannot be compared.
    """
    name = "prediction-drift"
    threshold = f"PSI less its noise <= {max_psi:g} or p >= {alpha:g}"
    if mismatch is not None:
        return _unknown(name, threshold, query, mismatch)
    missing = _too_few(
        name, threshold, query, canary=canary, stable=stable, min_requests=min_requests, what="predictions"
    )
    if missing is not None:
        return missing
    assert canary is not None and stable is not None
    result = drift_stats.compare(np.asarray([stable], dtype=float), np.asarray([canary], dtype=float))
    psi, effect, p = float(result.psi[0]), float(result.psi_debiased[0]), float(result.p_value[0])
    drifted = p < alpha and effect > max_psi
    reason = f"PSI {psi:.3f} ({effect:.3f} less its sampling noise), chi-square p={p:.3g} over {result.dof[0]:.0f} dof"
    samples = round(float(result.n_current[0]))
    return CheckResult(name, Verdict.FAIL if drifted else Verdict.PASS, psi, threshold, samples, query, reason)


def custom(name: str, value: float | None, low: float | None, high: float | None, query: str) -> CheckResult:
    bounds = " and ".join(
        b for b in (f">= {low:g}" if low is not None else "", f"<= {high:g}" if high is not None else "") if b
    )
    if value is None or math.isnan(value):
        return _unknown(name, bounds, query, "the query returned no data")
    inside = (low is None or value >= low) and (high is None or value <= high)
    verdict = Verdict.PASS if inside else Verdict.FAIL
    return CheckResult(
        name, verdict, value, bounds, None, query, f"value {value:.4g} {'within' if inside else 'outside'} {bounds}"
    )
