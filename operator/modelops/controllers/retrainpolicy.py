"""The RetrainPolicy controller: triggers in, retraining Jobs out, results validated.

Each pass gathers the signals (the watched ModelDeployment's model and stable version, the
DriftMonitor's Drifted condition, the stable version's burn rate, the state of every
running run's Job and its trainer's termination message), lets the pure `retrain.policy`
decide, writes the status first and then makes sure every running run has its Job. Job
names are the run names recorded in status, so a restarted operator finds or re-creates the
same Job and never starts a second one for a run. A change of any of its Jobs wakes the loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
import urllib.parse
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import kopf
from pydantic import ValidationError

from modelops.analysis.slo import error_budget
from modelops.api.conditions import set_condition
from modelops.api.durations import parse_duration
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
from modelops.api.v1alpha1.baseline import Baseline
from modelops.api.v1alpha1.retrainpolicy import RetrainRun
from modelops.controllers import metrics
from modelops.controllers.passes import API_VERSION, Pass, as_body
from modelops.controllers.prometheus import client_for_deployment
from modelops.controllers.supervisor import Supervisor
from modelops.controllers.watch import WAKERS as MODEL_DEPLOYMENT_WAKERS
from modelops.kube import Kube
from modelops.prom.client import PrometheusError
from modelops.prom.sli import counts
from modelops.promql.sli import availability
from modelops.render.names import MANAGED_BY
from modelops.render.retrain_job import POLICY_LABEL, RUN_LABEL, RunPlan, job, policy_owner
from modelops.retrain.policy import BurnSignal, Decision, DriftSignal, Event, JobState, Signals, decide
from modelops.retrain.result import parse

log = logging.getLogger("modelops.retrain")
RESYNC_SECONDS = 600.0
BLOCKED_RETRY_SECONDS = 30.0
BURN_POLL_SECONDS = 60.0


def _condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == type_), {})


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


@dataclass
class _Gathered:
    model: str
    stable_version: str | None
    md_spec: dict[str, Any]
    problems: list[str]
    jobs: dict[str, JobState]  # Jobs of running runs, by name; looked up and absent ones are in `absent`
    absent: set[str]


async def _drift(kube: Kube, namespace: str, spec: RetrainPolicySpec, problems: list[str]) -> DriftSignal | None:
    if spec.triggers.drift is None:
        return None
    name = spec.triggers.drift.monitor_ref.name
    monitor = await kube.get(API_VERSION, DRIFT_MONITOR.kind, namespace, name)
    if monitor is None:
        problems.append(f"DriftMonitor {name!r} does not exist: the drift trigger cannot fire")
        return None
    drifted = (monitor.get("status") or {}).get("drifted")
    condition = _condition(monitor, "Drifted")
    summary = f"DriftMonitor {name}: {condition.get('message') or 'drifted'}"
    return DriftSignal(drifted, _time(condition.get("lastTransitionTime")) if drifted else None, summary[:1000])


async def _burn(
    memo: kopf.Memo, spec: RetrainPolicySpec, g: _Gathered, namespace: str, now: datetime
) -> BurnSignal | None:
    trigger = spec.triggers.burn_rate
    if trigger is None or g.stable_version is None:
        return None
    try:
        analysis = ModelDeploymentSpec.model_validate(g.md_spec).analysis
    except ValidationError:
        g.problems.append("the ModelDeployment's spec is invalid: the burnRate trigger cannot read its SLO")
        return None
    source = analysis.prometheus
    client = await client_for_deployment(memo, memo["kube"], namespace, source)
    if client is None:
        g.problems.append("no Prometheus configured: the burnRate trigger cannot fire")
        return None
    objective = analysis.slo.availability.objective
    budget = error_budget(objective)
    window = parse_duration(trigger.window)
    labels = {"namespace": namespace, "model": g.model, "version": g.stable_version}
    try:
        found = await counts(client, availability(labels, window), at=now)
    except PrometheusError as error:
        g.problems.append(f"burn rate unavailable: {error}")
        return None
    if found is None:
        return BurnSignal(None, "no traffic")
    rate = float(Decimal(str(found.bad / found.total)) / budget)
    summary = (f"stable {g.stable_version} burns its {objective}% availability budget at {rate:.2f}x over "
               f"{trigger.window} ({found.bad:.0f} of {found.total:.0f} requests failed)")  # fmt: skip
    return BurnSignal(rate, summary)


async def _job_state(kube: Kube, namespace: str, name: str) -> JobState | None:
    """None: no such Job (not created yet). Finished Jobs carry their trainer's termination message."""
    body = await kube.get("batch/v1", "Job", namespace, name)
    if body is None:
        return None
    status = body.get("status") or {}
    conditions = {c.get("type"): c for c in status.get("conditions") or [] if c.get("status") == "True"}
    if "Complete" not in conditions and "Failed" not in conditions:
        return JobState("active")
    pods = await kube.list("v1", "Pod", namespace, f"job-name={name}")
    pods.sort(key=lambda p: (p.get("metadata") or {}).get("creationTimestamp") or "")
    message, exits = None, []
    for pod in pods:
        for container in (pod.get("status") or {}).get("containerStatuses") or []:
            terminated = (container.get("state") or {}).get("terminated") or {}
            if terminated:
                exits.append(f"{container.get('name')} exit {terminated.get('exitCode')} "
                             f"({terminated.get('reason') or 'no reason'})")  # fmt: skip
                if terminated.get("exitCode") == 0 and terminated.get("message"):
                    message = terminated["message"]
    if "Complete" in conditions:
        return JobState("succeeded", message)
    failed = conditions["Failed"]
    reason = f"Job failed: {failed.get('reason') or 'Failed'}: {failed.get('message') or ''}".rstrip(": ")
    if exits:
        reason += f"; last pod: {exits[-1]}"
    return JobState("failed", message, reason)


async def _ensure_jobs(
    kube: Kube, decision: Decision, spec: RetrainPolicySpec, meta: dict[str, Any], g: _Gathered
) -> None:
    """Every running run has its Job (created if missing: idempotent, the name is the run's)."""
    jobs = g.jobs
    for run in decision.running:
        name = run.job or run.name
        if name in jobs:
            continue
        # a run started this pass has not been looked up: make sure the name is not someone else's Job
        existing = None if name in g.absent else await kube.get("batch/v1", "Job", meta["namespace"], name)
        if existing is not None:
            owners = (existing.get("metadata") or {}).get("ownerReferences") or []
            if not any(o.get("uid") == meta["uid"] for o in owners):
                log.warning("Job %s/%s exists and is not ours; leaving it alone", meta["namespace"], name)
            continue
        plan = RunPlan(
            policy=meta["name"], policy_uid=meta["uid"], namespace=meta["namespace"], run=run.name, model=g.model,
            current_version=g.stable_version or "", next_version=run.version or run.name, output_uri=run.uri or "",
            trigger=run.trigger, data_window=spec.data_window,
        )  # fmt: skip
        await kube.apply(job(plan, spec.job_template))


MAX_BASELINE_BYTES = 900_000  # a ConfigMap holds at most 1 MiB


async def _read_beside(uri: str, filename: str) -> str:
    """The file `filename` in the same directory as the artifact at `uri` (file:// or http(s)://)."""
    if "/" in filename or filename in {"", ".", ".."}:
        raise ValueError(f"baseline {filename!r} is not a file name beside the artifact")
    parsed = urllib.parse.urlsplit(uri)
    if parsed.scheme == "file":
        path = Path(urllib.parse.unquote(parsed.path)).parent / filename
        data = await asyncio.to_thread(path.read_bytes)
    elif parsed.scheme in {"http", "https"}:
        async with httpx.AsyncClient(timeout=10.0) as client:
            response = await client.get(urllib.parse.urljoin(uri, filename))
            response.raise_for_status()
            data = response.content
    else:
        raise ValueError(f"cannot read a baseline beside a {parsed.scheme}:// artifact")
    if len(data) > MAX_BASELINE_BYTES:
        raise ValueError(f"baseline is {len(data)} bytes, more than a ConfigMap holds")
    text = data.decode(errors="replace")
    try:  # refuse what the servers and DriftMonitors could not read; never echo the content
        Baseline.model_validate_json(text)
    except ValidationError as error:
        raise ValueError(f"{filename} is not a baseline document ({error.error_count()} problem(s))") from None
    return text


async def _publish_baselines(
    kube: Kube, decision: Decision, meta: dict[str, Any], g: _Gathered, logger: logging.LoggerAdapter[logging.Logger]
) -> None:
    """Each newly validated model's baseline document becomes a ConfigMap `<run>-baseline` (owned by
    the policy): the ModelDeployment mounts it for that version's servers and a DriftMonitor with
    `reference.served` compares with it once the version serves."""
    for run in decision.finished:
        state = g.jobs.get(run.job or run.name)
        if run.outcome != "Validated" or state is None:
            continue
        try:
            result = parse(state.message)
            if not result.baseline:
                raise ValueError("the result names no baseline document")
            document = await _read_beside(result.uri, result.baseline)
        except (OSError, ValueError, httpx.HTTPError) as error:
            message = f"{run.name}: no baseline ConfigMap for version {run.version}: {error}"
            decision.events.append(Event("Warning", "BaselineUnavailable", message))
            continue
        name = f"{run.name}-baseline"
        await kube.apply({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": meta["namespace"],
                         "labels": {**MANAGED_BY, POLICY_LABEL: meta["name"], RUN_LABEL: run.name},
                         "ownerReferences": [policy_owner(meta["name"], meta["uid"])]},
            "data": {"baseline.json": document},
        })  # fmt: skip
        validated = decision.status.latest_validated
        if validated is not None and validated.run == run.name:
            validated.baseline_config_map = name
        logger.info("baseline of %s published as ConfigMap %s", run.version, name)


def _record(decision: Decision) -> None:
    for run in [*decision.finished, *decision.skipped]:
        metrics.RETRAIN_RUNS.labels(run.trigger, run.outcome).inc()
    for run in decision.finished:
        if run.started is not None and run.finished is not None:
            metrics.RETRAIN_SECONDS.observe((run.finished - run.started).total_seconds())


def _conditions(status: RetrainPolicyStatus, problems: list[str], now: datetime, generation: int | None) -> None:
    if problems:
        status.conditions = set_condition(status.conditions, "Ready", "False", "TriggerProblems",
                                          "; ".join(problems)[:2000], now=now, generation=generation)  # fmt: skip
    else:
        message = "every configured trigger can fire"
        status.conditions = set_condition(status.conditions, "Ready", "True", "Watching", message, now=now,
                                          generation=generation)  # fmt: skip
    running: list[RetrainRun] = [r for r in status.runs if r.outcome == "Running"]
    if running:
        message = ", ".join(f"{r.name} ({r.trigger})" for r in running)
        status.conditions = set_condition(status.conditions, "Retraining", "True", "RunActive", message, now=now,
                                          generation=generation)  # fmt: skip
    else:
        last = status.last_run
        message = f"last run {last.name}: {last.outcome}" if last is not None else "no run yet"
        status.conditions = set_condition(status.conditions, "Retraining", "False", "Idle", message, now=now,
                                          generation=generation)  # fmt: skip


async def reconcile(
    body: dict[str, Any], memo: kopf.Memo, indexes: dict[str, Any], logger: logging.LoggerAdapter[logging.Logger]
) -> float:
    """One level-based pass; returns seconds until the next one is needed."""
    started = time.monotonic()
    kube: Kube = memo["kube"]
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
        p.condition("Ready", "False", "ModelDeploymentNotFound", message)
        await p.write(status)
        return BLOCKED_RETRY_SECONDS
    md_spec = md.get("spec") or {}
    stable = ((md.get("status") or {}).get("stable") or {}).get("version")
    g = _Gathered((md_spec.get("model") or {}).get("name") or md_name, stable, md_spec, [], {}, set())
    for run in status.runs:
        if run.outcome == "Running":
            state = await _job_state(kube, namespace, run.job or run.name)
            if state is None:
                g.absent.add(run.job or run.name)
            else:
                g.jobs[run.job or run.name] = state
    signals = Signals(
        now=now, model=g.model, stable_version=stable, jobs=g.jobs,
        drift=await _drift(kube, namespace, spec, g.problems), burn=await _burn(memo, spec, g, namespace, now),
    )  # fmt: skip
    decision = decide(name, namespace, spec, status, signals)
    await _publish_baselines(kube, decision, meta, g, logger)  # before the status that names them
    new = decision.status
    _conditions(new, [*g.problems, *decision.problems], now, generation)
    await p.write(new)  # state first: the Jobs follow from it
    if new.latest_validated != status.latest_validated:  # a ModelDeployment may take it (modelFrom): look now
        MODEL_DEPLOYMENT_WAKERS.wake((namespace, md_name))
    await _ensure_jobs(kube, decision, spec, meta, g)
    for event in decision.events:
        kopf.event(as_body(body), type=event.type, reason=event.reason, message=event.message[:1000])
        logger.info("%s: %s", event.reason, event.message)
    _record(decision)
    metrics.RECONCILES.labels(RETRAIN_POLICY.kind, "ok").inc()
    metrics.RECONCILE_SECONDS.labels(RETRAIN_POLICY.kind).observe(time.monotonic() - started)
    if spec.triggers.burn_rate is not None:  # nothing wakes us when a burn starts: look every minute
        return min(decision.requeue_after, BURN_POLL_SECONDS)
    return decision.requeue_after


SUPERVISOR = Supervisor(RETRAIN_POLICY.kind, reconcile, log)


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
        drift = ((body.get("spec") or {}).get("triggers") or {}).get("drift") or {}
        if ns == namespace and (drift.get("monitorRef") or {}).get("name") == name:
            SUPERVISOR.wakers.wake((ns, policy))


@kopf.on.cleanup()
async def stop_loops(**_: Any) -> None:
    await SUPERVISOR.stop_all()
