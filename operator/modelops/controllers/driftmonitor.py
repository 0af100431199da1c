"""The DriftMonitor controller: one loop per monitor, one evaluation per interval.

Each pass: parse the spec (a bad one is Accepted=False and nothing else happens); if an
evaluation is due (by `.status.lastEvaluated`, so a restarted operator keeps the schedule),
find the watched ModelDeployment's version, load the reference (ConfigMap, inline, or the
same series in a past window), read the current window from Prometheus (one query per
metric family), evaluate, and write status, conditions, events and metrics. Anything that
stops an evaluation (no such ModelDeployment, an unreadable ConfigMap, Prometheus down) is
a Ready=False condition naming it, and leaves the drift verdict as it was.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import kopf
from pydantic import ValidationError

from modelops.analysis.drift import DriftEvaluation, Observations, Settings, empty_like, evaluate
from modelops.analysis.drift_documents import MAX_CONFIGMAP_BYTES, describe_errors, loads, nothing_valid
from modelops.analysis.drift_report import Report, blocked, due_in, evaluated, no_histograms_hint
from modelops.api.v1alpha1 import DRIFT_MONITOR, GROUP, MODEL_DEPLOYMENT, VERSION, DriftMonitorSpec, DriftMonitorStatus
from modelops.api.v1alpha1.modeldeployment import PrometheusSource
from modelops.api.v1alpha1.views import DeploymentView
from modelops.controllers import metrics
from modelops.controllers.events import post_events
from modelops.controllers.passes import API_VERSION, Pass
from modelops.controllers.prometheus import client_for_deployment
from modelops.controllers.supervisor import Supervisor
from modelops.errors import ModelopsError
from modelops.kube import Kube
from modelops.prom.client import PrometheusAuthError, PrometheusClient, PrometheusCredentialsError, PrometheusError
from modelops.prom.drift import observe
from modelops.promql.drift import queries

log = logging.getLogger("modelops.drift")
RESYNC_SECONDS = 600.0
BLOCKED_RETRY_SECONDS = 30.0  # a blocked monitor looks again this soon (or at its interval, if shorter)


class Blocked(ModelopsError):
    """Why this pass cannot evaluate; becomes Ready=False with `reason`."""

    def __init__(self, reason: str, message: str, version: str | None = None) -> None:
        super().__init__(message)
        self.reason, self.message, self.version = reason, message, version


async def _target(kube: Kube, namespace: str, spec: DriftMonitorSpec) -> tuple[str, str, DeploymentView]:
    """(model label, version, ModelDeployment) of the watched variant."""
    ref = spec.model_deployment_ref.name
    md = await kube.get(API_VERSION, MODEL_DEPLOYMENT.kind, namespace, ref)
    if md is None:
        raise Blocked("ModelDeploymentNotFound", f"ModelDeployment {ref!r} does not exist in namespace {namespace!r}")
    target = DeploymentView.model_validate(md)
    version = target.variant(spec.variant).version
    if not version:
        raise Blocked("NoVersion", f"ModelDeployment {ref!r} has no {spec.variant} version serving yet")
    return target.model, version, target


def _served_baseline(spec: DriftMonitorSpec, md: DeploymentView, model: str, version: str) -> tuple[str, str]:
    """(ConfigMap, key) of the watched version's baseline: its own (published by its RetrainPolicy
    run), else the ModelDeployment's spec.model.baseline."""
    own = md.variant(spec.variant).baseline
    if own:
        return own, "baseline.json"
    declared = md.declared_baseline
    if declared is not None:
        return declared
    message = (
        f"version {version} of {model} has no baseline: set the ModelDeployment's spec.model.baseline, "
        "or take versions from a RetrainPolicy whose trainer writes one"
    )
    raise Blocked("NoBaseline", message, version)


REFERENCE_CACHE = 32  # parsed references kept; a 1,000-feature baseline is about half a megabyte


async def _configmap_reference(p: _Context, name: str, key: str) -> Observations:
    """The reference in a ConfigMap, parsed once per resourceVersion: a large baseline is not re-read
    every interval, and evaluate() keeps its stacked matrices between evaluations."""
    cm = await p.kube.get("v1", "ConfigMap", p.namespace, name)
    if cm is None:
        raise Blocked("ReferenceNotFound", f"ConfigMap {name!r} does not exist in namespace {p.namespace!r}")
    data = cm.get("data") or {}
    if key not in data:
        keys = sorted(data) or "none"
        raise Blocked("InvalidReference", f"ConfigMap {name!r} has no key {key!r} (keys: {keys})")
    cache: OrderedDict[tuple[str, str, str], tuple[str, Observations]] = p.memo["drift_references"]  # lifecycle
    ident, version = (p.namespace, name, key), str((cm.get("metadata") or {}).get("resourceVersion") or "")
    cached = cache.get(ident)
    if cached is not None and version and cached[0] == version:
        cache.move_to_end(ident)
        return cached[1]
    try:
        reference = loads(data[key], max_bytes=MAX_CONFIGMAP_BYTES)
    except ValueError as error:  # JSONDecodeError is a ValueError; so are documents that are not baselines
        raise Blocked("InvalidReference", f"ConfigMap {name!r} key {key!r}: {error}") from None
    if nothing_valid(reference):  # bad entries alone are Degraded (evaluate names them); none good is Stalled
        problems = describe_errors(reference) or "it lists no feature and no predictions"
        raise Blocked("InvalidReference", f"ConfigMap {name!r} key {key!r} has no valid entry: {problems}")
    cache[ident] = (version, reference)
    cache.move_to_end(ident)
    while len(cache) > REFERENCE_CACHE:
        cache.popitem(last=False)
    return reference


async def _client(p: _Context, md: DeploymentView) -> PrometheusClient:
    """The ModelDeployment's Prometheus, with its credentials (the same source its canary is judged by)."""
    try:
        source = PrometheusSource.model_validate(md.prometheus)
    except ValidationError as error:
        raise Blocked(
            "InvalidPrometheusSource",
            f"the ModelDeployment's spec.analysis.prometheus is invalid: {error.errors()[0].get('msg', error)}",
        ) from None
    client = await client_for_deployment(p.memo, p.kube, p.namespace, source)
    if client is None:
        raise Blocked(
            "NoPrometheus",
            "no Prometheus configured (the ModelDeployment's "
            "spec.analysis.prometheus.url or the operator's --prometheus-url)",
        )
    return client


def _blocked_reason(error: PrometheusError) -> str:
    if isinstance(error, PrometheusCredentialsError):
        return "PrometheusCredentialsUnavailable"
    if isinstance(error, PrometheusAuthError):
        return "PrometheusUnauthorized"
    return "PrometheusUnavailable"


@dataclass(frozen=True)
class _Context:
    """What one reconcile pass works with."""

    kube: Kube
    memo: kopf.Memo
    namespace: str
    now: datetime
    generation: int | None


async def _evaluate(p: _Context, spec: DriftMonitorSpec, status: DriftMonitorStatus) -> Report:
    kube, namespace, now = p.kube, p.namespace, p.now
    model, version, md = await _target(kube, namespace, spec)
    client = await _client(p, md)
    window = spec.window.delta
    source = spec.reference
    try:
        if source.config_map_ref is not None:
            ref = source.config_map_ref
            reference = await _configmap_reference(p, ref.name, ref.key)
            described = f"ConfigMap {ref.name}/{ref.key}"
        elif source.served is not None:
            name, key = _served_baseline(spec, md, model, version)
            reference = await _configmap_reference(p, name, key)
            described = f"ConfigMap {name}/{key} (the baseline of {version})"
        elif source.inline is not None:
            reference, described = Observations.from_baseline(source.inline), "the inline baseline"
        else:
            assert source.past is not None
            offset = source.past.offset.delta
            past = queries({"namespace": namespace, "model": model}, window, offset)
            live_past = await observe(client, past, at=now, reference=None, predictions=spec.predictions)
            if live_past.series == 0:
                raise Blocked(
                    "NoReferenceData",
                    f"no telemetry of model {model!r} in the {spec.window} window "
                    f"{source.past.offset} ago: nothing to compare with yet",
                    version,
                )
            reference, described = live_past.observations, f"the same window {source.past.offset} earlier"
        labels = {"namespace": namespace, "model": model, "version": version}
        live = await observe(client, queries(labels, window), at=now, reference=reference, predictions=spec.predictions)
    except PrometheusError as error:
        raise Blocked(_blocked_reason(error), str(error), version) from None
    # no series at all: nothing of this version was scraped in the window (no pods, no traffic yet);
    # that is too few samples for every feature, not an error on every feature
    current = live.observations if live.series else empty_like(reference)
    evaluation = evaluate(reference, current, Settings.from_spec(spec))
    has_baseline = bool(md.variant(spec.variant).baseline or md.declared_baseline)
    hints = (
        _reference_hint(evaluation, reference, described),
        no_histograms_hint(evaluation, has_baseline=has_baseline, deployment=spec.model_deployment_ref.name),
    )
    hint = "; ".join(h for h in hints if h) or None
    return evaluated(
        spec, status, evaluation, now=now, version=version, reference=described, generation=p.generation, hint=hint
    )


def _reference_hint(evaluation: DriftEvaluation, reference: Observations, described: str) -> str | None:
    """Where to fix the features whose reference entries are invalid (the Degraded message names them)."""
    bad = sum(f.name in reference.errors for f in evaluation.errors)
    return f"{bad} invalid entr{'y' if bad == 1 else 'ies'} in the reference, {described}" if bad else None


def _record(namespace: str, name: str, report: Report, evaluated_now: bool) -> None:
    status = report.status
    if status.drifted is not None:
        metrics.DRIFT_DETECTED.labels(namespace, name).set(1 if status.drifted else 0)
    if not evaluated_now:
        metrics.DRIFT_EVALUATIONS.labels(namespace, name, "blocked").inc()
        return
    scored = [*status.features, *([status.prediction] if status.prediction else [])]
    metrics.set_drift_scores(namespace, name, {f.name: f.psi for f in scored if f.psi is not None})
    if status.drift_share is not None:
        metrics.DRIFT_SHARE.labels(namespace, name).set(status.drift_share)
    tested = any(f.p_value is not None for f in scored)
    result = "insufficient" if not tested else ("drifted" if status.drifted else "clean")
    metrics.DRIFT_EVALUATIONS.labels(namespace, name, result).inc()


async def reconcile(
    body: dict[str, Any], memo: kopf.Memo, indexes: dict[str, Any], logger: logging.LoggerAdapter[logging.Logger]
) -> float:
    """One level-based pass; returns seconds until the next one is needed."""
    started = time.monotonic()
    kube: Kube = memo["kube"]
    p = Pass.start(body, kube, DRIFT_MONITOR.kind, DriftMonitorStatus)
    namespace, name, generation, status, now = p.namespace, p.name, p.generation, p.status, p.now
    spec = await p.admit(DriftMonitorSpec)
    if spec is None:
        return RESYNC_SECONDS
    interval = spec.interval.delta.total_seconds()
    wait = due_in(interval, status, now, generation)
    if wait > 0:
        await p.write(status)
        return wait
    try:
        report = await _evaluate(_Context(kube, memo, namespace, now, generation), spec, status)
        delay, ran = interval, True
    except Blocked as why:
        report = blocked(
            spec, status, now=now, reason=why.reason, message=why.message, generation=generation, version=why.version
        )
        delay, ran = min(interval, BLOCKED_RETRY_SECONDS), False
        logger.warning("cannot evaluate: %s", why.message)
    await p.write(report.status)
    post_events(kube, body, report.events, logger)
    _record(namespace, name, report, evaluated_now=ran)
    metrics.set_drift_monitor(namespace, name, spec.model_deployment_ref.name)
    metrics.RECONCILES.labels(DRIFT_MONITOR.kind, "ok").inc()
    metrics.RECONCILE_SECONDS.labels(DRIFT_MONITOR.kind).observe(time.monotonic() - started)
    return delay


SUPERVISOR = Supervisor(DRIFT_MONITOR.kind, reconcile, log, on_stop=lambda key: metrics.forget_monitor(*key))


@kopf.on.event(GROUP, VERSION, DRIFT_MONITOR.plural, id="drift")
async def on_event(type: str | None, body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
    SUPERVISOR.observe(type, body, memo, kwargs)


@kopf.on.cleanup()
async def stop_loops(**_: Any) -> None:
    await SUPERVISOR.stop_all()
