"""What a RetrainPolicy does next: (spec, status, signals, now) -> (new status, runs to have Jobs, events).

Pure and level-based. Everything the next pass needs is in the returned status: which
manual nonce, drift episode and burn episode were acted on, when the schedule fires next,
how many runs were started (run names are `<policy>-<count>`, so a restarted operator
re-creates the same Job name and never a second Job for one run), and every run or
skipped trigger with its reason.

Order of a pass: finished Jobs become Validated / Rejected / Failed; then the triggers that
fired are collected (manual nonce, schedule, a new drift episode, a rising burn rate); each
one either starts a run or is recorded as Skipped with the guard that stopped it (suspend,
maxConcurrent, cooldown, doubled after each failed run, maxRunsPerDay). Triggers are never
queued: a skipped one is recorded and gone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from modelops.api.events import Event
from modelops.api.v1alpha1.retrainpolicy import (
    RetrainPolicySpec,
    RetrainPolicyStatus,
    RetrainRun,
    Trigger,
    ValidatedModel,
)
from modelops.retrain.conditions import set_conditions
from modelops.retrain.jobs import JobState
from modelops.retrain.performance import PerformanceReading, seconds_until_due, step
from modelops.retrain.result import ResultError, check, parse
from modelops.retrain.schedule import ScheduleError, next_fire

DAY = timedelta(days=1)
MAX_NAME = 63  # Job names become pod labels (job-name=...): 63 characters at most
MAX_BACKOFF_DOUBLINGS = 6
RUNNING_POLL_SECONDS = 60.0  # Job events wake the loop; this is a safety net
IDLE_SECONDS = 600.0


@dataclass(frozen=True)
class DriftSignal:
    drifted: bool | None
    since: datetime | None  # lastTransitionTime of the monitor's Drifted condition
    summary: str


@dataclass(frozen=True)
class BurnSignal:
    rate: float | None  # None: no data (changes nothing)
    summary: str


@dataclass(frozen=True)
class BaselineRead:
    """The baseline document beside a finished run's artifact, or why it could not be read."""

    document: str | None = None
    error: str = ""


@dataclass(frozen=True)
class Signals:
    now: datetime
    model: str
    stable_version: str | None
    jobs: Mapping[str, JobState] = field(default_factory=dict)  # by Job name; absent: not created yet
    drift: DriftSignal | None = None
    burn: BurnSignal | None = None
    performance: PerformanceReading | None = None  # None: not due this pass (or not configured)
    baselines: Mapping[str, BaselineRead] = field(default_factory=dict)  # by Job name; absent: not looked at
    problems: Sequence[str] = ()  # why a configured trigger cannot fire (no such DriftMonitor, no Prometheus...)


@dataclass(frozen=True)
class BaselinePublication:
    """A validated run's baseline document, to become ConfigMap `config_map` (before the status naming it)."""

    run: str
    version: str | None
    config_map: str
    document: str


@dataclass
class RetrainDecision:
    status: RetrainPolicyStatus
    running: list[RetrainRun]  # runs whose Job must exist (the controller creates missing ones)
    events: list[Event]
    finished: list[RetrainRun]  # runs that ended in this pass (metrics)
    skipped: list[RetrainRun]
    problems: list[str]  # for the Ready condition (e.g. a schedule that never fires)
    requeue_after: float
    publish: list[BaselinePublication] = field(default_factory=list)


def output_uri(template: str, *, model: str, version: str, run: str, namespace: str) -> str:
    """Only the four documented placeholders are replaced; other braces stay as written."""
    for key, value in (("model", model), ("version", version), ("run", run), ("namespace", namespace)):
        template = template.replace("{" + key + "}", value)
    return template


def run_name(policy: str, count: int) -> str:
    """`<policy>-<count>`; a name too long is cut and given a hash of the whole policy name, so two
    long names that share a prefix never share Job names."""
    suffix = f"-{count}"
    if len(policy) + len(suffix) <= MAX_NAME:
        return policy + suffix
    digest = hashlib.sha256(policy.encode()).hexdigest()[:6]
    return policy[: MAX_NAME - len(suffix) - 7].rstrip("-.") + f"-{digest}{suffix}"


def _stable_metrics(status: RetrainPolicyStatus, stable: str | None) -> dict[str, float] | None:
    if stable is None:
        return None
    if status.latest_validated is not None and status.latest_validated.version == stable:
        return dict(status.latest_validated.metrics)
    run = next((r for r in status.runs if r.version == stable and r.outcome == "Validated"), None)
    return dict(run.metrics) if run is not None else None


def _finish(
    spec: RetrainPolicySpec, status: RetrainPolicyStatus, run: RetrainRun, job: JobState, signals: Signals
) -> tuple[RetrainRun, Event]:
    now = signals.now
    if job.phase == "failed":
        status.consecutive_failures += 1
        reason = job.reason or "the Job failed"
        done = run.model_copy(update={"outcome": "Failed", "reason": reason, "finished": now})
        return done, Event("Warning", "RunFailed", f"{run.name}: {reason}")
    try:
        result = parse(job.message)
    except ResultError as error:
        status.consecutive_failures += 1
        done = run.model_copy(update={"outcome": "Failed", "reason": f"no usable result: {error}", "finished": now})
        return done, Event("Warning", "RunFailed", f"{run.name}: {done.reason}")
    status.consecutive_failures = 0  # the Job did its work; whether the model is good is another matter
    reasons = []
    if result.version != run.version:
        reasons.append(f"the result is version {result.version!r}, the run asked for {run.version!r}")
    stable = signals.stable_version or ""
    reasons += check(spec.validation, result.metrics, _stable_metrics(status, signals.stable_version), stable)
    update = {"uri": result.uri, "sha256": result.sha256, "metrics": dict(result.metrics), "finished": now}
    if reasons:
        done = run.model_copy(update={**update, "outcome": "Rejected", "reason": "; ".join(reasons)})
        return done, Event("Warning", "RunRejected", f"{run.name} ({run.version}): {done.reason}")
    summary = ", ".join(f"{k} {v:.4g}" for k, v in sorted(result.metrics.items())) or "no metrics"
    done = run.model_copy(update={**update, "outcome": "Validated", "reason": f"passed {len(spec.validation)} gate(s)"})
    status.latest_validated = ValidatedModel(
        version=result.version, uri=result.uri, sha256=result.sha256, run=run.name, metrics=dict(result.metrics)
    )
    return done, Event("Normal", "RunValidated", f"{run.name}: version {result.version} validated ({summary})")


def _triggers(
    spec: RetrainPolicySpec, status: RetrainPolicyStatus, signals: Signals, problems: list[str]
) -> list[tuple[Trigger, str]]:
    now, triggers = signals.now, spec.triggers
    fired: list[tuple[Trigger, str]] = []
    if triggers.manual and triggers.manual != status.acknowledged_manual:
        fired.append(("manual", f"requested with nonce {triggers.manual}"))
        status.acknowledged_manual = triggers.manual
    if triggers.schedule:
        try:
            if status.next_scheduled is None or status.schedule != triggers.schedule:
                status.next_scheduled, status.schedule = next_fire(triggers.schedule, now), triggers.schedule
            elif now >= status.next_scheduled:
                fired.append(("schedule", f"scheduled for {status.next_scheduled:%Y-%m-%dT%H:%M}Z"))
                status.next_scheduled = next_fire(triggers.schedule, now)
        except ScheduleError as error:
            problems.append(str(error))
            status.next_scheduled = None
    else:
        status.next_scheduled, status.schedule = None, None
    drift = signals.drift
    new_episode = (
        drift is not None
        and drift.drifted
        and drift.since is not None
        and (status.acknowledged_drift is None or drift.since > status.acknowledged_drift)
    )
    if triggers.drift is not None and drift is not None and new_episode:
        fired.append(("drift", drift.summary))
        status.acknowledged_drift = drift.since
    burn = signals.burn
    if triggers.burn_rate is not None and burn is not None and burn.rate is not None:
        firing = burn.rate >= triggers.burn_rate.above
        if firing and not status.burn_firing:
            fired.append(("burnRate", burn.summary))
        status.burn_firing = firing
    if triggers.performance is None:
        status.performance = None
    elif signals.performance is not None:
        status.performance, evidence = step(triggers.performance, status.performance, signals.performance, now)
        if evidence is not None:
            fired.append(("performance", evidence))
    return fired


def _guard(spec: RetrainPolicySpec, status: RetrainPolicyStatus, now: datetime) -> str | None:
    """Why no run may start now, or None."""
    if spec.suspend:
        return "suspended (spec.suspend)"
    active = [r.name for r in status.runs if r.outcome == "Running"]
    if len(active) >= spec.max_concurrent:
        return f"maxConcurrent {spec.max_concurrent} reached: {', '.join(active)} still running"
    # start times are kept apart from the run history (which trimming shortens): the last run's,
    # and every start of the last 24 hours
    last = status.last_run.started if status.last_run is not None else None
    starts = [*status.recent_starts, *([last] if last is not None else [])]
    if starts:
        doublings = min(status.consecutive_failures, MAX_BACKOFF_DOUBLINGS)
        wait = spec.cooldown.delta * (2**doublings)
        until = max(starts) + wait
        if now < until:
            why = f"backoff after {status.consecutive_failures} failed run(s)" if doublings else "cooldown"
            return f"{why} until {until:%Y-%m-%dT%H:%M:%S}Z"
    today = sorted(t for t in status.recent_starts if now - t < DAY)
    if len(today) >= spec.max_runs_per_day:
        return f"maxRunsPerDay {spec.max_runs_per_day} reached; the next slot opens at {today[0] + DAY:%Y-%m-%dT%H:%M}Z"
    return None


def baseline_config_map(run: str) -> str:
    return f"{run}-baseline"


def _baselines(
    new: RetrainPolicyStatus, finished: list[RetrainRun], signals: Signals, events: list[Event]
) -> list[BaselinePublication]:
    """Each newly validated model's baseline becomes a ConfigMap the ModelDeployment mounts for that
    version's servers (and a DriftMonitor with `reference.served` compares with), named in
    latestValidated; an unreadable one is a warning, never a rejection."""
    publish: list[BaselinePublication] = []
    for run in finished:
        read = signals.baselines.get(run.job or run.name)
        if run.outcome != "Validated" or read is None:
            continue
        if read.document is None:
            message = f"{run.name}: no baseline ConfigMap for version {run.version}: {read.error}"
            events.append(Event("Warning", "BaselineUnavailable", message))
            continue
        config_map = baseline_config_map(run.name)
        publish.append(BaselinePublication(run.name, run.version, config_map, read.document))
        if new.latest_validated is not None and new.latest_validated.run == run.name:
            new.latest_validated.baseline_config_map = config_map
    return publish


def decide(
    name: str,
    namespace: str,
    spec: RetrainPolicySpec,
    status: RetrainPolicyStatus,
    signals: Signals,
    *,
    generation: int | None = None,
) -> RetrainDecision:
    """The whole pass's decision: the returned status (conditions included) is written as is."""
    now = signals.now
    new = status.model_copy(deep=True)
    events: list[Event] = []
    finished: list[RetrainRun] = []
    for i, run in enumerate(new.runs):
        state = signals.jobs.get(run.job or run.name)
        if run.outcome == "Running" and state is not None and state.phase != "active":
            done, event = _finish(spec, new, run, state, signals)
            new.runs[i] = done
            finished.append(done)
            events.append(event)
            if new.last_run is not None and new.last_run.name == done.name:
                new.last_run = done
    problems: list[str] = []
    skipped: list[RetrainRun] = []
    new.recent_starts = [t for t in new.recent_starts if now - t < DAY]
    for trigger, evidence in _triggers(spec, new, signals, problems):
        why = _guard(spec, new, now)
        if why is not None:
            label = f"skipped-{trigger}-{now:%Y%m%dT%H%M%S}-{new.skip_count + 1}"
            new.skip_count += 1
            record = RetrainRun(
                name=label, trigger=trigger, evidence=evidence, outcome="Skipped", reason=why, started=now
            )
            skipped.append(record)
            new.runs.insert(0, record)
            events.append(Event("Normal", "TriggerSkipped", f"{trigger} trigger skipped: {why} ({evidence})"))
            continue
        new.run_count += 1
        new.recent_starts = [t for t in new.recent_starts if now - t < DAY] + [now]
        job = run_name(name, new.run_count)
        uri = output_uri(spec.output.uri_template, model=signals.model, version=job, run=job, namespace=namespace)
        record = RetrainRun(
            name=job, trigger=trigger, evidence=evidence, outcome="Running", job=job, version=job, uri=uri, started=now
        )
        new.runs.insert(0, record)
        new.last_run = record
        events.append(Event("Normal", "RunStarted", f"{job} started by the {trigger} trigger: {evidence}"))
    publish = _baselines(new, finished, signals, events)
    running = [r for r in new.runs if r.outcome == "Running"]
    ended = [r for r in new.runs if r.outcome != "Running"]
    keep = max(spec.history_limit - len(running), 0)
    kept = {id(r) for r in running} | {id(r) for r in ended[:keep]}
    new.runs = [r for r in new.runs if id(r) in kept]
    set_conditions(spec, new, [*signals.problems, *problems], now, generation)
    waits = [RUNNING_POLL_SECONDS if running else IDLE_SECONDS]
    if new.next_scheduled is not None:
        waits.append(max((new.next_scheduled - now).total_seconds(), 1.0))
    if spec.triggers.performance is not None:
        waits.append(seconds_until_due(spec.triggers.performance, new.performance, now))
    return RetrainDecision(new, running, events, finished, skipped, problems, min(waits), publish)
