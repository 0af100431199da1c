"""The RetrainPolicy controller: triggers in, retraining Jobs out, results validated.

Each pass parses the spec, observes (the followed ModelDeployment's model and stable
version, the DriftMonitor's Drifted condition, the stable version's burn rate and, when due, its
label-based quality, every running
run's Job and pods, the baseline beside each finished run's artifact), lets the pure
`retrain.policy.decide` make the whole decision, applies the baseline ConfigMaps it names,
writes the status, then makes sure every running run has its Job. Job names are the run
names recorded in status, so a restarted operator finds or re-creates the same Job and never
starts a second one for a run. A change of any of its Jobs wakes the loop.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

import kopf
from pydantic import ValidationError

from modelops.api.conditions import stalled
from modelops.api.v1alpha1 import (
    DRIFT_MONITOR,
    GROUP,
    MODEL_DEPLOYMENT,
    RETRAIN_POLICY,
    VERSION,
    ModelDeploymentSpec,
    RetrainPolicySpec,
    RetrainPolicyStatus,
)
from modelops.api.v1alpha1.views import DeploymentView, MonitorView, PolicyView
from modelops.controllers import metrics
from modelops.controllers.baselines import ArtifactBaselines, BaselineReader, read_baseline
from modelops.controllers.events import post_events
from modelops.controllers.passes import API_VERSION, Pass
from modelops.controllers.prometheus import client_for_deployment
from modelops.controllers.supervisor import Supervisor
from modelops.controllers.watch import WAKERS as MODEL_DEPLOYMENT_WAKERS
from modelops.kube import Kube
from modelops.prom.client import PrometheusError
from modelops.prom.performance import read as read_performance
from modelops.prom.sli import counts
from modelops.promql.sli import availability
from modelops.render.retrain_job import POLICY_LABEL, RunPlan, baseline_config_map, job
from modelops.retrain.jobs import JobState, JobView, PodView, job_state
from modelops.retrain.performance import PerformanceReading, due
from modelops.retrain.policy import BaselineRead, BurnSignal, DriftSignal, RetrainDecision, Signals, decide
from modelops.retrain.signals import burn_signal, drift_signal

log = logging.getLogger("modelops.retrain")
RESYNC_SECONDS = 600.0
BLOCKED_RETRY_SECONDS = 30.0
BURN_POLL_SECONDS = 60.0


async def _drift(kube: Kube, namespace: str, spec: RetrainPolicySpec, problems: list[str]) -> DriftSignal | None:
    if spec.triggers.drift is None:
        return None
    name = spec.triggers.drift.monitor_ref.name
    monitor = await kube.get(API_VERSION, DRIFT_MONITOR.kind, namespace, name)
    if monitor is None:
        problems.append(f"DriftMonitor {name!r} does not exist: the drift trigger cannot fire")
        return None
    return drift_signal(name, MonitorView.model_validate(monitor))


async def _burn(
    memo: kopf.Memo,
    spec: RetrainPolicySpec,
    target: DeploymentView,
    *,
    namespace: str,
    now: datetime,
    problems: list[str],
) -> BurnSignal | None:
    trigger = spec.triggers.burn_rate
    stable = target.variant("stable").version
    if trigger is None or stable is None:
        return None
    try:
        analysis = ModelDeploymentSpec.model_validate(target.raw_spec).analysis
    except ValidationError:
        problems.append("the ModelDeployment's spec is invalid: the burnRate trigger cannot read its SLO")
        return None
    client = await client_for_deployment(memo, memo["kube"], namespace, analysis.prometheus)
    if client is None:
        problems.append("no Prometheus configured: the burnRate trigger cannot fire")
        return None
    labels = {"namespace": namespace, "model": target.model, "version": stable}
    try:
        found = await counts(client, availability(labels, trigger.window.delta), at=now)
    except PrometheusError as error:
        problems.append(f"burn rate unavailable: {error}")
        return None
    objective = analysis.slo.availability.objective
    return burn_signal(found, objective=objective, window=trigger.window, stable_version=stable)


async def _performance(
    memo: kopf.Memo,
    spec: RetrainPolicySpec,
    status: RetrainPolicyStatus,
    target: DeploymentView,
    *,
    namespace: str,
    now: datetime,
    problems: list[str],
) -> PerformanceReading | None:
    """The stable version's label telemetry over the trigger's window, when an evaluation is due."""
    trigger = spec.triggers.performance
    stable = target.variant("stable").version
    if trigger is None or stable is None or not due(trigger, status.performance, stable, now):
        return None
    try:
        analysis = ModelDeploymentSpec.model_validate(target.raw_spec).analysis
    except ValidationError:
        problems.append("the ModelDeployment's spec is invalid: the performance trigger cannot find its Prometheus")
        return None
    client = await client_for_deployment(memo, memo["kube"], namespace, analysis.prometheus)
    if client is None:
        problems.append("no Prometheus configured: the performance trigger cannot fire")
        return None
    labels = {"namespace": namespace, "model": target.model, "version": stable}
    try:
        return await read_performance(client, trigger.metric, labels, trigger.window.delta, version=stable, at=now)
    except PrometheusError as error:
        problems.append(f"label telemetry unavailable: {error}")
        return None


async def _job_state(kube: Kube, namespace: str, name: str) -> JobState | None:
    """None: no such Job (not created yet). Pods are listed only once the Job has finished."""
    body = await kube.get("batch/v1", "Job", namespace, name)
    if body is None:
        return None
    view = JobView.model_validate(body)
    pods = await kube.list("v1", "Pod", namespace, f"job-name={name}") if view.finished else []
    return job_state(view, [PodView.model_validate(p) for p in pods])


async def _baselines(reader: BaselineReader, jobs: dict[str, JobState]) -> dict[str, BaselineRead]:
    """The baseline beside each succeeded run's artifact (decide uses those of validated runs)."""
    return {name: await read_baseline(reader, state) for name, state in jobs.items() if state.phase == "succeeded"}


async def _ensure_jobs(
    kube: Kube,
    decision: RetrainDecision,
    spec: RetrainPolicySpec,
    meta: dict[str, Any],
    *,
    target: DeploymentView,
    jobs: dict[str, JobState],
    absent: set[str],
) -> None:
    """Every running run has its Job (created if missing: idempotent, the name is the run's).
    `jobs` were found this pass, `absent` were looked up and missing; others are new runs."""
    for run in decision.running:
        name = run.job or run.name
        if name in jobs:
            continue
        # a run started this pass has not been looked up: make sure the name is not someone else's Job
        existing = None if name in absent else await kube.get("batch/v1", "Job", meta["namespace"], name)
        if existing is not None:
            if not JobView.model_validate(existing).metadata.owned_by(meta["uid"]):
                log.warning("Job %s/%s exists and is not ours; leaving it alone", meta["namespace"], name)
            continue
        plan = RunPlan(
            policy=meta["name"],
            policy_uid=meta["uid"],
            namespace=meta["namespace"],
            run=run.name,
            model=target.model,
            current_version=target.variant("stable").version or "",
            next_version=run.version or run.name,
            output_uri=run.uri or "",
            trigger=run.trigger,
            data_window=spec.data_window,
        )
        await kube.apply(job(plan, spec.job_template))


async def _publish(
    kube: Kube, decision: RetrainDecision, meta: dict[str, Any], logger: logging.LoggerAdapter[logging.Logger]
) -> None:
    for baseline in decision.publish:
        config_map = baseline_config_map(
            policy=meta["name"],
            policy_uid=meta["uid"],
            namespace=meta["namespace"],
            run=baseline.run,
            name=baseline.config_map,
            document=baseline.document,
        )
        await kube.apply(config_map)
        logger.info("baseline of %s published as ConfigMap %s", baseline.version, baseline.config_map)


def _record(namespace: str, name: str, decision: RetrainDecision) -> None:
    metrics.count_policy_runs(namespace, name, [run.outcome for run in decision.finished])
    for run in [*decision.finished, *decision.skipped]:
        metrics.RETRAIN_RUNS.labels(run.trigger, run.outcome).inc()
    for run in decision.finished:
        if run.started is not None and run.finished is not None:
            metrics.RETRAIN_SECONDS.observe((run.finished - run.started).total_seconds())


async def reconcile(
    body: dict[str, Any], memo: kopf.Memo, indexes: dict[str, Any], logger: logging.LoggerAdapter[logging.Logger]
) -> float:
    """One level-based pass; returns seconds until the next one is needed."""
    started = time.monotonic()
    kube: Kube = memo["kube"]
    reader: BaselineReader = memo.get("baselines") or ArtifactBaselines()
    meta = body["metadata"]
    p = Pass.start(body, kube, RETRAIN_POLICY.kind, RetrainPolicyStatus)
    namespace, name, generation, status, now = p.namespace, p.name, p.generation, p.status, p.now
    spec = await p.admit(RetrainPolicySpec)
    if spec is None:
        return RESYNC_SECONDS
    status.observed_generation = generation
    md_name = spec.model_deployment_ref.name
    md = await kube.get(API_VERSION, MODEL_DEPLOYMENT.kind, namespace, md_name)
    if md is None:
        message = f"ModelDeployment {md_name!r} does not exist in namespace {namespace!r}: no run can start"
        p.summarize(stalled("ModelDeploymentNotFound", message))
        await p.write(status)
        return BLOCKED_RETRY_SECONDS
    target = DeploymentView.model_validate(md)
    problems: list[str] = []
    jobs: dict[str, JobState] = {}
    absent: set[str] = set()
    for run in status.runs:
        if run.outcome == "Running":
            state = await _job_state(kube, namespace, run.job or run.name)
            if state is None:
                absent.add(run.job or run.name)
            else:
                jobs[run.job or run.name] = state
    drift = await _drift(kube, namespace, spec, problems)
    burn = await _burn(memo, spec, target, namespace=namespace, now=now, problems=problems)
    performance = await _performance(memo, spec, status, target, namespace=namespace, now=now, problems=problems)
    signals = Signals(
        now=now,
        model=target.model,
        stable_version=target.variant("stable").version,
        jobs=jobs,
        drift=drift,
        burn=burn,
        performance=performance,
        baselines=await _baselines(reader, jobs),
        problems=tuple(problems),
    )
    decision = decide(name, namespace, spec, status, signals, generation=generation)
    await _publish(kube, decision, meta, logger)  # before the status that names them
    new = decision.status
    await p.write(new)  # state first: the Jobs follow from it
    if new.latest_validated != status.latest_validated:  # a ModelDeployment may take it (modelFrom): look now
        MODEL_DEPLOYMENT_WAKERS.wake((namespace, md_name))
    await _ensure_jobs(kube, decision, spec, meta, target=target, jobs=jobs, absent=absent)
    post_events(kube, body, decision.events, logger)
    _record(namespace, name, decision)
    finished: dict[str, float] = {}
    for run in new.runs:  # newest first; Skipped and Running runs have not ended
        if run.finished is not None and run.outcome in ("Validated", "Rejected", "Failed"):
            finished.setdefault(run.outcome, run.finished.timestamp())
    metrics.set_retrain_finished(namespace, name, md_name, finished)
    metrics.RECONCILES.labels(RETRAIN_POLICY.kind, "ok").inc()
    metrics.RECONCILE_SECONDS.labels(RETRAIN_POLICY.kind).observe(time.monotonic() - started)
    if spec.triggers.burn_rate is not None:  # nothing wakes us when a burn starts: look every minute
        return min(decision.requeue_after, BURN_POLL_SECONDS)
    return decision.requeue_after


SUPERVISOR = Supervisor(RETRAIN_POLICY.kind, reconcile, log, on_stop=lambda key: metrics.forget_policy(*key))


@kopf.on.event(GROUP, VERSION, RETRAIN_POLICY.plural, id="retrain")
async def on_event(type: str | None, body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
    SUPERVISOR.observe(type, body, memo, kwargs)


@kopf.on.event("batch", "v1", "jobs", labels={POLICY_LABEL: kopf.PRESENT}, id="retrain_jobs")
async def job_changed(namespace: str | None, labels: kopf.Labels, **_: Any) -> None:
    """A run's Job changed (started, finished, deleted): look at its policy now."""
    SUPERVISOR.wakers.wake((namespace or "", labels[POLICY_LABEL]))


@kopf.on.event(GROUP, VERSION, DRIFT_MONITOR.plural, id="retrain_monitors")
async def monitor_changed(namespace: str | None, name: str | None, **_: Any) -> None:
    """A DriftMonitor changed: the policies whose drift trigger follows it look now, not at their resync."""
    for (ns, policy), body in list(SUPERVISOR.bodies.items()):
        if ns == namespace and PolicyView.model_validate(body).drift_monitor == name:
            SUPERVISOR.wakers.wake((ns, policy))


@kopf.on.cleanup()
async def stop_loops(**_: Any) -> None:
    await SUPERVISOR.stop_all()
