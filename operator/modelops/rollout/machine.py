"""The rollout state machine: (spec, status, target, observations, now) -> decision.

Pure and deterministic: the clock and everything observed are arguments, all state lives
in the returned status, so an operator killed at any moment and restarted reaches the
same outcome. The decision is declarative: which versions should run with how many
replicas, the canary weight and mirror share, the events to post, and when to look again.

Rules that matter on call:
- Unknown (no data, too few requests, Prometheus down) never advances a step; it counts
  toward maxUnknownChecks. Fail counts toward maxFailedChecks. Either limit, the progress
  deadline, or an abort rolls back: all traffic to stable, the candidate retires (below).
- A pass only counts once the canary has its replicas ready at the current weight and the
  analysis window lies entirely after the step began, so every weight is actually judged.
- Traffic only ever moves onto ready pods, and a version is removed only after traffic has
  left it: the previous version stays warm (full replicas, out of traffic) through the bake
  window, promotion waits for the candidate's full readiness, a revert waits for the
  previous version's, and every version traffic leaves is kept `scaleDownDelay` (in
  `status.retiring`, pods and all) before its Deployment goes. Nothing is scaled down in the
  pass that moves traffic. With a router whose Service selects every version during a
  canary (replicas), a new rollout waits until nothing is retiring.
- After promotion every SLO the spec declares (availability, latency) is judged on the new
  stable version; a page-level burn of any reverts to the previous version. A bake whose
  end comes while Prometheus cannot be read holds until it can (without any Prometheus
  configured there is nothing to wait for: the bake ends on time).
- The deploy freeze reads the same SLOs and fails closed: when it cannot see, it holds
  (unless spec.freeze.whenUnknown is Proceed).
- A version that was rolled back or reverted is not tried again until spec.rollout.retry
  changes (or the spec asks for another version).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from modelops.analysis.checks import Analysis, Verdict
from modelops.analysis.quality import QualityReading
from modelops.analysis.slo import PairStatus, SLOEvaluation, StableSLOs
from modelops.api.conditions import set_condition, summarize
from modelops.api.events import Event, EventType
from modelops.api.names import MODEL_LABEL, VERSION_LABEL
from modelops.api.v1alpha1.modeldeployment import (
    AnalysisResult,
    BakeStatus,
    CheckStatus,
    FetchFailureStatus,
    HistoryEntry,
    ModelDeploymentSpec,
    ModelDeploymentStatus,
    RetiringVariant,
    VariantStatus,
)
from modelops.rollout import quality
from modelops.rollout.fetch_failures import Fetched, FetchFailure, condition_reason, describe
from modelops.rollout.health import deployment_summary, rolled_back_reason
from modelops.routers import TrafficRouter, router_for
from modelops.routers.base import load_replicas

HistoryOutcome = Literal["Promoted", "RolledBack", "Aborted", "Reverted", "Superseded"]  # HistoryEntry.outcome
EndOutcome = Literal["RolledBack", "Aborted", "Superseded"]  # how a rollout ends without a promotion


@dataclass(frozen=True)
class Target:
    """The version the spec (or its RetrainPolicy) asks to serve."""

    version: str
    uri: str
    sha256: str | None = None
    retrain_run: str | None = None
    baseline: str | None = None  # ConfigMap with the version's training baseline (from its RetrainPolicy run)


@dataclass(frozen=True)
class RolloutObservations:
    """What the controller saw this tick."""

    ready: Mapping[str, int] = field(default_factory=dict)  # version -> ready replicas (model loaded, verified)
    analysis: Analysis | None = None  # run by the controller when `analysis_due` said so
    stable_slo: StableSLOs | None = None  # read when due during a bake, and whenever a freeze must decide
    # versions whose pods' fetch init container failed (read only for versions with no ready pod)
    fetch_failures: Mapping[str, FetchFailure] = field(default_factory=dict)
    fetched: Mapping[str, Fetched] = field(default_factory=dict)  # provenance a successful fetch reported
    quality: QualityReading | None = None  # the stable version's quality on labels, when reads.quality said so


@dataclass(frozen=True)
class Plan:
    """One version that should run."""

    version: str
    uri: str
    sha256: str | None
    replicas: int
    share: float  # traffic share, for HPA bounds
    variant: str  # how it entered production: stable | canary | shadow
    autoscaled: bool  # False for a retiring version: its replicas are fixed until it goes
    baseline: str | None = None  # its own baseline ConfigMap, else spec.model.baseline
    retrain_run: str | None = None  # provenance, exported by its servers (modelops_model_info)


@dataclass(frozen=True)
class RolloutDecision:
    status: ModelDeploymentStatus
    plans: tuple[Plan, ...]
    canary_weight: int
    mirror_percent: int
    events: tuple[Event, ...]
    requeue_after: float | None  # seconds until the next tick that needs the clock


def analysis_due(spec: ModelDeploymentSpec, status: ModelDeploymentStatus, now: datetime) -> bool:
    """Should the controller run an analysis (canary checks or the bake SLO) this tick?"""
    if status.canary is None and status.bake is None:
        return False
    # the first canary analysis comes one interval after the rollout began: before that its window
    # would hold no canary traffic, and an Unknown would be spent for nothing
    last = status.last_analysis.time if status.last_analysis else (status.rollout_started_at if status.canary else None)
    return last is None or now - last >= spec.rollout.interval.delta


@dataclass
class _Tick:
    """Mutable working state of one decision (never escapes `decide`)."""

    spec: ModelDeploymentSpec
    status: ModelDeploymentStatus
    target: Target
    obs: RolloutObservations
    now: datetime
    events: list[Event] = field(default_factory=list)
    frozen_reason: str | None = None  # BudgetBurn or CannotSee, for the Frozen condition
    waiting_for: str | None = None  # retiring versions a new rollout waits for (router.rollout_waits_for_retiring)

    @property
    def router(self) -> TrafficRouter:
        return router_for(self.spec)

    def event(self, type_: EventType, reason: str, message: str) -> None:
        self.events.append(Event(type_, reason, message))

    def ready(self, version: str | None) -> int:
        return self.obs.ready.get(version, 0) if version else 0


def decide(
    spec: ModelDeploymentSpec,
    status: ModelDeploymentStatus,
    target: Target,
    obs: RolloutObservations,
    now: datetime,
    *,
    generation: int | None = None,
) -> RolloutDecision:
    t = _Tick(spec, status.model_copy(deep=True), target, obs, now)
    s = t.status
    _retry(t)
    _forget_retired(t)
    if s.stable is None:
        s.stable = _variant(target, spec.replicas)
        s.phase = "Pending"
        t.event("Normal", "Deploying", f"first version {target.version}")
    quality.observe(s, obs.quality, declared=spec.analysis.slo.quality is not None, now=now, generation=generation)
    if s.bake is not None:
        _bake(t)
    if s.canary is not None:
        _progress(t)
    if s.canary is None and s.phase not in {"Promoting"} and not (s.bake and s.bake.reverting):
        _maybe_start(t)
    _readiness(t)
    _conditions(t, generation)
    weight, mirror = _traffic(t)
    return RolloutDecision(s, _plans(t, weight, mirror), weight, mirror, tuple(t.events), _requeue(t))


# ---- transitions ----------------------------------------------------------------------------


def _variant(target: Target, replicas: int) -> VariantStatus:
    return VariantStatus(
        version=target.version,
        uri=target.uri,
        sha256=target.sha256,
        baseline=target.baseline,
        retrain_run=target.retrain_run,
        replicas=replicas,
    )


def _retry(t: _Tick) -> None:
    s, nonce = t.status, t.spec.rollout.retry
    if nonce is not None and nonce != s.acknowledged.retry:
        s.acknowledged.retry = nonce
        if s.blocked_version is not None:
            t.event("Normal", "Retry", f"retrying {s.blocked_version} on request")
            s.blocked_version = None


def _maybe_start(t: _Tick) -> None:
    s, spec, target = t.status, t.spec, t.target
    assert s.stable is not None
    if target.version == s.stable.version:
        s.blocked_version = None  # the spec went back to what runs: nothing is blocked any more
        if s.phase in {"Frozen", "RolledBack"}:  # nor rolled back: what the spec asks for serves
            s.phase = "Available"
        return
    if target.version == s.blocked_version:
        if s.phase != "RolledBack":
            s.phase = "RolledBack"
        return
    if _frozen(t):
        return
    if s.phase == "Pending":  # nothing serves yet, so nothing to protect: replace the first version outright
        t.event("Normal", "Deploying", f"{target.version} replaces {s.stable.version}, which never became ready")
        s.stable = _variant(target, spec.replicas)
        return
    if s.bake is not None:  # a new version ends the bake: the previous one is no longer the way back
        why = f"{target.version} supersedes the bake of {s.stable.version}; {s.bake.previous.version} removed"
        t.event("Normal", "BakeEnded", why)
        _retire(t, s.bake.previous)
        s.bake = None
        s.phase = "Available"  # the bake is over; Progressing once the new rollout starts
    if t.router.rollout_waits_for_retiring and s.retiring:
        # e.g. the model's Service is about to select every version's pods: a retiring version must be gone first
        t.waiting_for = ", ".join(r.version for r in s.retiring)
        return
    s.canary = _variant(target, 0).model_copy(update={"variant": "canary"})
    s.shadowing = spec.rollout.strategy == "shadow"
    s.current_step = 0
    s.rollout_started_at = s.step_started_at = t.now
    s.failed_checks = s.unknown_checks = s.step_passes = 0
    s.canary_weight = 0
    s.last_analysis = None
    s.phase = "Progressing"
    how = "shadow, then canary" if s.shadowing else "canary"
    t.event("Normal", "RolloutStarted", f"rolling out {target.version} over {s.stable.version} ({how})")


def _frozen(t: _Tick) -> bool:
    """Hold a new rollout while any stable SLO burns over the freeze rate, or while the SLOs cannot be seen."""
    s, freeze, target = t.status, t.spec.freeze, t.target
    assert s.stable is not None
    if freeze is None or freeze.override:
        return False
    slos = t.obs.stable_slo or StableSLOs(
        blind="no Prometheus to read them from (spec.analysis.prometheus.url or the operator's --prometheus-url)"
    )
    burning = [
        (name, burn)
        for name, ev in slos.evaluations.items()
        if (burn := _burn_1h(ev)) is not None and burn > freeze.burn_rate_above
    ]
    if burning:
        name, burn = max(burning, key=lambda nb: nb[1])
        why = (
            f"rollout of {target.version} waits: stable {s.stable.version} burns its {name} budget at "
            f"{burn:.3g}x (freeze above {freeze.burn_rate_above:g})"
        )
        reason = "BudgetBurn"
    elif slos.blind is not None and freeze.when_unknown == "Hold":
        why = (
            f"rollout of {target.version} waits: cannot see stable {s.stable.version}'s SLOs ({slos.blind}); "
            "the freeze holds until it can (spec.freeze.whenUnknown: Proceed rolls out anyway)"
        )
        reason = "CannotSee"
    else:
        return False
    shown = next((c.reason for c in s.conditions if c.type == "Frozen" and c.status == "True"), None)
    if s.phase != "Frozen" or shown != reason:
        t.event("Warning", "Frozen", why)
    s.phase, s.message, t.frozen_reason = "Frozen", why, reason
    return True


def _burn_1h(evaluation: SLOEvaluation) -> float | None:
    """Burn over the fastest pair's long window (1h for a 30-day SLO)."""
    fastest = min(evaluation.pairs, key=lambda r: r.pair.long, default=None)
    return None if fastest is None or fastest.long_burn is None else float(fastest.long_burn)


def _record(t: _Tick, analysis: Analysis) -> None:
    t.status.last_analysis = AnalysisResult(
        time=analysis.time,
        verdict=str(analysis.verdict),
        checks=[
            CheckStatus(
                name=c.name,
                verdict=str(c.verdict),
                value=c.value,
                threshold=c.threshold,
                samples=c.samples,
                query=c.query,
                reason=c.reason,
            )
            for c in analysis.checks
        ],
    )


def _progress(t: _Tick) -> None:
    s, rollout = t.status, t.spec.rollout
    canary = s.canary
    assert canary is not None and s.stable is not None
    if t.target.version != canary.version:
        _end_rollout(t, "Superseded", f"superseded by {t.target.version}", block=False)
        return
    if rollout.abort is not None and rollout.abort != s.acknowledged.abort:
        s.acknowledged.abort = rollout.abort
        _end_rollout(t, "Aborted", "aborted on request")
        return
    broken = t.obs.fetch_failures.get(canary.version)
    if broken is not None and broken.permanent and t.ready(canary.version) == 0:
        # retrying fetches the same bytes and signature: never promote, roll back now
        t.event("Warning", broken.condition_reason, broken.describe(canary.version))
        _end_rollout(t, "RolledBack", broken.describe(canary.version), failure=broken.condition_reason)
        return
    if rollout.promote is not None and rollout.promote != s.acknowledged.promote:
        s.acknowledged.promote = rollout.promote
        t.event("Normal", "PromoteRequested", f"promoting {canary.version} on request, skipping remaining steps")
        _promote(t)
        return
    if s.phase == "Promoting":
        _promote(t)
        return
    started = s.rollout_started_at or t.now
    if t.now - started > rollout.progress_deadline.delta:
        _end_rollout(t, "RolledBack", f"progress deadline {rollout.progress_deadline} exceeded")
        return
    analysis = t.obs.analysis
    if analysis is not None:
        _record(t, analysis)
        if analysis.verdict is Verdict.FAIL:
            s.failed_checks += 1
            s.step_passes = 0
            failed = f"{s.failed_checks}/{rollout.max_failed_checks} failed"
            t.event("Warning", "AnalysisFailed", f"{failed}: {analysis.failing()}")
            if s.failed_checks >= rollout.max_failed_checks:
                _end_rollout(t, "RolledBack", f"{s.failed_checks} failed analyses; last: {analysis.failing()}")
                return
        elif analysis.verdict is Verdict.UNKNOWN:
            s.unknown_checks += 1
            unknown = f"{s.unknown_checks}/{rollout.max_unknown_checks} without a verdict"
            if _worth_an_event(s.unknown_checks, rollout.max_unknown_checks):
                t.event("Warning", "AnalysisUnknown", f"{unknown}, holding: {analysis.failing()}")
            if s.unknown_checks >= rollout.max_unknown_checks:
                last = analysis.failing()
                _end_rollout(t, "RolledBack", f"{s.unknown_checks} analyses without a verdict; last: {last}")
                return
        elif _counts(t, analysis):
            s.step_passes += 1
    if rollout.paused:
        if s.phase != "Paused":
            t.event("Normal", "Paused", f"paused at step {s.current_step}")
        s.phase = "Paused"
        return
    if s.phase == "Paused":
        t.event("Normal", "Resumed", f"resumed at step {s.current_step}")
    s.phase = "Progressing"
    _advance(t)


def _worth_an_event(unknown: int, limit: int) -> bool:
    """An AnalysisUnknown Warning at the 1st, 2nd, 4th, 8th... analysis without a verdict and at the last
    before the limit: a canary waiting for its first traffic says so without an event every interval (at
    100 such canaries those events were a third of the API server's writes). status.lastAnalysis always
    has the latest reason, and the rollback at the limit has its own event."""
    return unknown & (unknown - 1) == 0 or unknown == limit - 1


def _counts(t: _Tick, analysis: Analysis) -> bool:
    """A pass counts when its whole window came after the step began and the canary was ready."""
    s = t.status
    window_start = analysis.time - t.spec.rollout.interval.delta
    began = s.step_started_at or t.now
    return window_start >= began and _canary_ready(t)


def _canary_ready(t: _Tick) -> bool:
    canary = t.status.canary
    return canary is not None and t.ready(canary.version) >= max(1, _canary_replicas(t))


def _advance(t: _Tick) -> None:
    """Complete as many steps as the observations allow (pauses and analyses wait)."""
    s, rollout = t.status, t.spec.rollout
    if s.shadowing:
        if s.step_passes >= rollout.shadow.intervals:
            s.shadowing = False
            s.current_step = 0
            _step_begins(t, "shadow phase passed; continuing as a canary")
        return
    while s.current_step is not None and s.current_step < len(rollout.steps):
        step = rollout.steps[s.current_step]
        if step.set_weight is not None:
            if s.canary_weight != step.set_weight:
                s.canary_weight = step.set_weight
                s.step_started_at = t.now
                s.step_passes = 0
                t.event("Normal", "WeightSet", f"canary {s.canary.version if s.canary else ''} at {step.set_weight}%")
                return
            if not _canary_ready(t):
                s.step_started_at = t.now  # judged only from when it can take its share
                return
            if s.step_passes < 1:
                return
        elif step.pause is not None:
            if step.pause.duration is None:
                nonce = rollout.resume
                if nonce is None or nonce == s.acknowledged.resume:
                    s.phase = "Paused"
                    return
                s.acknowledged.resume = nonce
            elif t.now - (s.step_started_at or t.now) < step.pause.duration.delta:
                return
        elif step.analysis is not None and s.step_passes < step.analysis.intervals:
            return
        s.current_step += 1
        _step_begins(t, f"step {s.current_step - 1} complete")
    if s.current_step is not None and s.current_step >= len(rollout.steps):
        _promote(t)


def _step_begins(t: _Tick, why: str) -> None:
    t.status.step_started_at = t.now
    t.status.step_passes = 0
    t.event("Normal", "StepComplete", why)


def _promote(t: _Tick) -> None:
    """Scale the candidate to full size; once it is ready, it becomes stable and the bake begins."""
    s, spec = t.status, t.spec
    canary, stable = s.canary, s.stable
    assert canary is not None and stable is not None
    if s.phase != "Promoting":
        s.phase = "Promoting"
        s.shadowing = False
        t.event("Normal", "Promoting", f"scaling {canary.version} to {_full(t)} replicas before the switch")
    if t.ready(canary.version) < _full(t):
        return
    previous = stable.model_copy(update={"replicas": spec.replicas})  # warm: the way back is a traffic switch
    s.stable = canary.model_copy(update={"replicas": spec.replicas})
    s.canary = None
    s.canary_weight = 0
    s.current_step = None
    on_the_way = (
        f" ({s.failed_checks} failed, {s.unknown_checks} unknown analyses on the way)" if s.failed_checks else ""
    )
    _history(t, canary.version, "Promoted", f"all steps passed{on_the_way}")
    bake = spec.rollout.bake_time.delta
    if bake > timedelta(0):
        s.bake = BakeStatus(until=t.now + bake, previous=previous)
        s.phase = "Baking"
        s.last_analysis = None
        baking = f"baking for {spec.rollout.bake_time}, {previous.version} kept to revert to"
        t.event("Normal", "Promoted", f"{canary.version} is stable; {baking}")
    else:
        _retire(t, previous)
        s.phase = "Available"
        t.event("Normal", "Promoted", f"{canary.version} is stable")


def _full(t: _Tick) -> int:
    """Replicas a version needs before it takes all traffic."""
    scaling = t.spec.autoscaling
    return scaling.min_replicas if scaling is not None else t.spec.replicas


def _bake(t: _Tick) -> None:
    s = t.status
    bake, stable = s.bake, s.stable
    assert bake is not None and stable is not None
    slos = t.obs.stable_slo
    if slos is not None:
        s.last_analysis = _bake_analysis(t, slos)
    if bake.reverting is None and slos is not None:
        paging = [
            (name, ev.firing)
            for name, ev in slos.evaluations.items()
            if ev.severity == "page" and ev.firing is not None
        ]
        reasons = [f"page-level {name} burn during bake: {pair.reason}" for name, pair in paging]
        below = quality.bake_failure(t.obs.quality, stable.version)
        if below is not None:
            reasons.append(below)
        if reasons:
            bake.reverting = "; ".join(reasons)
            s.blocked_version = stable.version
            t.event("Warning", "Reverting", f"reverting {stable.version} to {bake.previous.version}: {bake.reverting}")
    if bake.reverting is not None:
        _revert(t, bake, bake.reverting)
        return
    if t.now < bake.until:
        return
    if s.last_analysis is not None and s.last_analysis.verdict == "Unknown":
        if s.phase != "Baking" or "holding" not in s.message:
            held = f"holding {bake.previous.version} warm until they can"
            t.event(
                "Warning", "BakeHeld", f"{stable.version}'s bake window is over but its SLOs cannot be read; {held}"
            )
        return
    baked = f"{stable.version} baked until {bake.until.isoformat()}"
    t.event("Normal", "BakeComplete", f"{baked}; {bake.previous.version} removed")
    _retire(t, bake.previous)
    s.bake = None
    s.phase = "Available"


def _bake_analysis(t: _Tick, slos: StableSLOs) -> AnalysisResult:
    """The bake's checks: every pair of every SLO, plus why something could not be read."""
    checks = [
        CheckStatus(
            name=f"{name}-burn-{r.pair.name}",
            verdict=_pair_verdict(r.status),
            threshold=f"<= {r.pair.factor}",
            value=None if r.long_burn is None else float(r.long_burn),
            samples=int(r.long_total),
            reason=r.reason,
        )
        for name, ev in slos.evaluations.items()
        for r in ev.pairs
    ]
    if slos.blind is not None:
        checks.append(CheckStatus(name="stable-slo", verdict="Unknown", reason=slos.blind))
    reading = t.obs.quality
    if reading is not None and t.status.stable is not None and reading.version == t.status.stable.version:
        checks.append(quality.bake_check(reading))
    paging = any(ev.severity == "page" for ev in slos.evaluations.values())
    paging = paging or quality.bake_failure(reading, t.status.stable.version if t.status.stable else "") is not None
    verdict = "Fail" if paging else "Unknown" if slos.blind is not None else "Pass"
    return AnalysisResult(time=t.now, verdict=verdict, checks=checks)


def _revert(t: _Tick, bake: BakeStatus, reason: str) -> None:
    """Switch traffic back to the warm previous version once it is fully ready; the bad one retires."""
    s = t.status
    assert s.stable is not None
    previous = bake.previous
    if t.ready(previous.version) < _full(t):
        s.phase = "Baking"
        return  # the bad version keeps serving until the way back is ready: no switch onto missing pods
    bad = s.stable
    _history(t, bad.version, "Reverted", reason)
    t.event("Warning", "Reverted", f"reverted {bad.version} to {previous.version}: {reason}")
    _retire(t, bad)
    s.stable = previous.model_copy(update={"replicas": t.spec.replicas})
    s.bake = None
    s.phase = "RolledBack"


def _retire(t: _Tick, variant: VariantStatus) -> None:
    """Traffic has left `variant`: keep it for spec.rollout.scaleDownDelay, then it goes."""
    until = t.now + t.spec.rollout.scale_down_delay.delta
    kept = [r for r in t.status.retiring if r.version != variant.version]
    t.status.retiring = [*kept, RetiringVariant(**variant.model_dump(), until=until)]


def _forget_retired(t: _Tick) -> None:
    s = t.status
    s.retiring = [r for r in s.retiring if r.until > t.now]


def _pair_verdict(status: PairStatus) -> Literal["Pass", "Fail", "Unknown"]:
    return {PairStatus.FIRING: "Fail", PairStatus.OK: "Pass"}.get(status, "Unknown")  # type: ignore[return-value]


def _end_rollout(t: _Tick, outcome: EndOutcome, reason: str, block: bool = True, failure: str | None = None) -> None:
    s = t.status
    canary = s.canary
    assert canary is not None
    _history(t, canary.version, outcome, reason, failure=failure)
    _retire(t, canary)
    s.canary = None
    s.canary_weight = 0
    s.current_step = None
    s.shadowing = False
    s.step_passes = 0
    if block:
        s.blocked_version = canary.version
        s.phase = "RolledBack"
        t.event(
            "Warning",
            outcome,
            f"{canary.version}: {reason}; all traffic back to {s.stable.version if s.stable else ''}",
        )
    else:
        s.phase = "Available"
        t.event("Normal", outcome, f"{canary.version}: {reason}")


def _history(t: _Tick, version: str, outcome: HistoryOutcome, reason: str, failure: str | None = None) -> None:
    s = t.status
    variant = next((v for v in (s.canary, s.stable) if v is not None and v.version == version), None)
    run = t.target.retrain_run if version == t.target.version else None
    run = run or (variant.retrain_run if variant is not None else None)
    entry = HistoryEntry(
        version=version,
        outcome=outcome,
        reason=reason[:1000],
        at=t.now,
        retrain_run=run,
        digest=variant.digest if variant is not None else None,
        signer=variant.signer if variant is not None else None,
        failure_reason=failure,
    )
    t.status.history = [entry, *t.status.history][: t.spec.history_limit]


# ---- what runs ------------------------------------------------------------------------------


def _fetch_state(t: _Tick, variant: VariantStatus) -> None:
    """The variant's fetch failure while none of its pods is ready (an event when it first shows or changes),
    and the provenance its pods' fetch reported."""
    found = t.obs.fetch_failures.get(variant.version) if variant.ready_replicas == 0 else None
    old = variant.fetch_failure
    if found is None:
        variant.fetch_failure = None
    elif old is None or (old.reason, old.message) != (found.reason, found.message):
        variant.fetch_failure = FetchFailureStatus(reason=found.reason, message=found.message, pod=found.pod)
        t.event("Warning", found.condition_reason, found.describe(variant.version))
    report = t.obs.fetched.get(variant.version)
    if report is not None:
        variant.digest, variant.signer = report.sha256, report.signer


def _readiness(t: _Tick) -> None:
    s = t.status
    assert s.stable is not None
    s.stable.ready_replicas = t.ready(s.stable.version)
    _fetch_state(t, s.stable)
    if s.canary is not None:
        s.canary.replicas = _canary_replicas(t)
        s.canary.ready_replicas = t.ready(s.canary.version)
        _fetch_state(t, s.canary)
    if s.phase == "Pending" and s.stable.ready_replicas >= 1:
        s.phase = "Available"
        t.event("Normal", "Available", f"{s.stable.version} is serving")
    elif s.phase == "Available" and s.stable.ready_replicas == 0:
        s.phase = "Degraded"
        t.event("Warning", "Degraded", f"no ready replica of {s.stable.version}")
    elif s.phase == "Degraded" and s.stable.ready_replicas >= 1:
        s.phase = "Available"
        t.event("Normal", "Available", f"{s.stable.version} is serving again")
    s.message = _message(t)


def _canary_replicas(t: _Tick) -> int:
    s, spec = t.status, t.spec
    if s.canary is None:
        return 0
    if s.phase == "Promoting":
        return _full(t)
    if s.shadowing:  # a mirrored copy, sized for the load it receives
        return load_replicas(spec.replicas, spec.rollout.shadow.mirror_percent / 100)
    return t.router.canary_replicas(spec.replicas, s.canary_weight / 100)


def _traffic(t: _Tick) -> tuple[int, int]:
    """(weight, mirror) the route gets: nothing goes to a canary before one of its pods is ready."""
    s = t.status
    if s.canary is None or t.ready(s.canary.version) == 0:
        return 0, 0
    if s.shadowing:
        return 0, t.spec.rollout.shadow.mirror_percent
    return s.canary_weight, 0


def _plans(t: _Tick, weight: int, mirror: int) -> tuple[Plan, ...]:
    s, spec = t.status, t.spec
    assert s.stable is not None
    scaled = spec.autoscaling is not None
    st = s.stable
    share = (100 - weight) / 100
    plans = [Plan(st.version, st.uri, st.sha256, spec.replicas, share, st.variant, scaled, st.baseline, st.retrain_run)]
    if s.canary is not None:
        c = s.canary
        share = 1.0 if s.phase == "Promoting" else max(weight, mirror) / 100
        replicas = _canary_replicas(t)
        plans.append(Plan(c.version, c.uri, c.sha256, replicas, share, c.variant, scaled, c.baseline, c.retrain_run))
    if s.bake is not None:  # warm and out of traffic; its HPA keeps the full-traffic bounds
        p = s.bake.previous
        plans.append(Plan(p.version, p.uri, p.sha256, spec.replicas, 1.0, p.variant, scaled, p.baseline, p.retrain_run))
    live = {plan.version for plan in plans}
    for r in s.retiring:  # out of every route and Service, pods kept: nothing is scaled down in a switch's pass
        if r.version not in live:
            plans.append(Plan(r.version, r.uri, r.sha256, r.replicas, 0.0, r.variant, False, r.baseline, r.retrain_run))
    return tuple(plans)


def _requeue(t: _Tick) -> float | None:
    s = t.status
    interval = t.spec.rollout.interval.delta.total_seconds()
    waits: list[float] = []
    if s.canary is not None or s.bake is not None or s.phase == "Frozen":
        waits.append(_analysis_wait(t) or max(1.0, interval / 4))
    if s.phase == "Pending":
        waits.append(2.0)
    if s.retiring:
        waits.append(max(1.0, min((r.until - t.now).total_seconds() for r in s.retiring)))
    return min(waits, default=None)


def _analysis_wait(t: _Tick) -> float | None:
    """Seconds until the next analysis is due, for a canary whose decision only an analysis (or the
    progress deadline) can change: at a weight step, or at a pause that waits for a person.

    Other states poll every quarter interval (None). Polling such a canary too made 100 canaries in
    analysis cost 40 passes a second instead of 10 (bench/fleet_rollback.py), and ran each analysis
    up to a quarter interval late. Readiness and spec changes wake the object anyway."""
    s, rollout = t.status, t.spec.rollout
    if s.canary is None or s.bake is not None or s.shadowing or s.phase not in ("Progressing", "Paused"):
        return None
    if s.current_step is None or s.current_step >= len(rollout.steps):
        return None
    step = rollout.steps[s.current_step]
    if step.set_weight is None and (step.pause is None or step.pause.duration is not None):
        return None
    last = s.last_analysis.time if s.last_analysis else s.rollout_started_at
    if last is None:
        return None
    due = last + rollout.interval.delta
    deadline = (s.rollout_started_at or t.now) + rollout.progress_deadline.delta + timedelta(seconds=1)
    return max(1.0, (min(due, deadline) - t.now).total_seconds())


def _message(t: _Tick) -> str:
    s = t.status
    assert s.stable is not None
    if s.canary is not None:
        if s.phase == "Promoting":
            return f"promoting {s.canary.version}: {s.canary.ready_replicas}/{t.spec.replicas} ready"
        where = "shadow" if s.shadowing else f"step {s.current_step}/{len(t.spec.rollout.steps)} at {s.canary_weight}%"
        counts = f"{s.step_passes} passed, {s.failed_checks} failed, {s.unknown_checks} unknown"
        failed = s.canary.fetch_failure
        if failed is not None:  # a store that may come back: held without traffic, the deadlines still apply
            if not s.shadowing:  # the step's weight is what it gets once a pod is ready, not what it gets now
                where = f"held at 0% (step {s.current_step}/{len(t.spec.rollout.steps)}: {s.canary_weight}% once ready)"
            return f"{s.canary.version} {where}: {counts}; " + describe(
                s.canary.version, failed.reason, failed.message, failed.pod
            )
        return f"{s.canary.version} {where}: {counts}"
    if s.bake is not None:
        previous = s.bake.previous.version
        if s.bake.reverting is not None:
            return (
                f"reverting {s.stable.version} to {previous}: waiting for {t.ready(previous)}/{_full(t)} ready "
                f"{previous}; {s.bake.reverting}"
            )
        if t.now >= s.bake.until:
            return f"{s.stable.version} bake over, holding {previous} warm until its SLOs can be read"
        return f"{s.stable.version} baking until {s.bake.until.isoformat()}; {previous} kept warm"
    if t.waiting_for:
        return f"rollout of {t.target.version} starts once {t.waiting_for} has left (rollout.scaleDownDelay)"
    if s.phase == "RolledBack" and s.blocked_version:
        ended = next((h for h in s.history if h.version == s.blocked_version), None)
        why = f" ({ended.reason})" if ended is not None and ended.failure_reason else ""  # the pods' own words
        return (
            f"{s.blocked_version} was rolled back{why}; serving {s.stable.version}. Set spec.rollout.retry to try again"
        )
    if s.phase == "Frozen" and s.message:
        return s.message  # written by _frozen with the reason
    ready = f"{s.stable.version}: {s.stable.ready_replicas}/{s.stable.replicas} ready"
    failed = s.stable.fetch_failure
    if failed is not None:
        return f"{ready}; " + describe(s.stable.version, failed.reason, failed.message, failed.pod)
    if s.phase == "Pending" and s.stable.ready_replicas == 0 and s.stable.uri.startswith("pvc://"):
        # the pods' fetch init container waits for the file (a training Job may still be writing it)
        return (
            f"{ready}; its pods wait until {s.stable.uri} exists "
            f"(kubectl logs -l {MODEL_LABEL}={t.spec.model.name},{VERSION_LABEL}={s.stable.version} -c fetch)"
        )
    return ready


def _degraded_reason(s: ModelDeploymentStatus) -> str:
    """The stable version's fetch failure, a canary rolled back for its fetch failure (the same reason as
    Stalled and Ready, as the runbooks say), else the phase."""
    failed = s.stable.fetch_failure if s.stable is not None else None
    if failed is not None:
        return condition_reason(failed.reason)
    return rolled_back_reason(s) or s.phase


def _conditions(t: _Tick, generation: int | None) -> None:
    s = t.status
    assert s.stable is not None
    progressing = s.canary is not None or s.phase == "Promoting"
    degraded = s.phase in {"Degraded", "RolledBack"} or s.stable.fetch_failure is not None
    frozen = s.phase == "Frozen"
    table: list[tuple[str, bool, str, str]] = [
        ("Progressing", progressing, s.phase, s.message if progressing else "no rollout in progress"),
        ("Degraded", degraded, _degraded_reason(s) if degraded else "Healthy", s.message if degraded else ""),
        ("Frozen", frozen, t.frozen_reason or "BudgetBurn" if frozen else "NotFrozen", s.message if frozen else ""),
    ]
    conditions = s.conditions
    for type_, true, reason, message in table:
        conditions = set_condition(
            conditions, type_, "True" if true else "False", reason, message, now=t.now, generation=generation
        )
    # Ready, Reconciling, Stalled (kstatus); the controller sets them again once children are synced
    s.conditions = summarize(conditions, deployment_summary(s, t.target.version), now=t.now, generation=generation)
