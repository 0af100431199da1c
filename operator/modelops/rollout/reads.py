"""What a ModelDeployment pass must read from Prometheus before the machine decides (pure).

Queries cost: the canary is analysed only when an analysis is due, and the stable version's
SLOs are read only to judge a bake or to decide a deploy freeze.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from modelops.analysis.checks import Analysis, CheckResult, Verdict
from modelops.api.v1alpha1 import ModelDeploymentSpec, ModelDeploymentStatus
from modelops.rollout.machine import Target, analysis_due

NO_PROMETHEUS = "no Prometheus configured (spec.analysis.prometheus.url or the operator's --prometheus-url)"


@dataclass(frozen=True)
class Reads:
    canary_analysis: bool  # canary vs stable checks of the last interval
    stable_slo: bool  # multi-window burn of the stable version's SLOs
    slo_since: datetime | None  # a bake judges only this attempt: from its rollout's start
    quality: bool = False  # the stable version's quality on labels: with the bake's SLOs, else once an interval


def reads(spec: ModelDeploymentSpec, status: ModelDeploymentStatus, target: Target, now: datetime) -> Reads:
    due = analysis_due(spec, status, now)
    stable = status.stable
    freeze_pending = (
        spec.freeze is not None
        and status.canary is None
        and stable is not None
        and target.version != stable.version
        and status.phase != "Pending"
    )
    bake_due = due and status.bake is not None
    last = status.quality
    stale = (
        last is None
        or stable is None
        or last.version != stable.version
        or now - last.evaluated_at >= spec.rollout.interval.delta
    )
    return Reads(
        canary_analysis=due and status.canary is not None and stable is not None,
        stable_slo=stable is not None and (bake_due or freeze_pending),
        slo_since=status.rollout_started_at if status.bake is not None else None,
        quality=spec.analysis.slo.quality is not None and stable is not None and (bake_due or stale),
    )


def no_prometheus(at: datetime) -> Analysis:
    """A due analysis without a Prometheus to ask: Unknown, never a pass."""
    return Analysis(
        at, Verdict.UNKNOWN, (CheckResult("prometheus", Verdict.UNKNOWN, None, "", None, "", NO_PROMETHEUS),)
    )
