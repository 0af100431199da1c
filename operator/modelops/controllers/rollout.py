"""The ModelDeployment controller: one daemon per object, level-based.

Each pass: parse the spec (a bad one becomes Accepted=False, nothing else happens), read
the children from the watch caches, run the analysis if one is due, let the pure state
machine decide, write the status if it changed, apply the children whose hash differs,
delete owned children no longer wanted (a child that cannot be applied makes the Degraded
condition say so), post the decision's events, and sleep until the decision's requeue
time or until the object or one of its children changes.

Everything the next pass needs is in .status and in the children, so an operator killed
between any two lines continues where it stopped.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

import kopf

from modelops.analysis.checks import Analysis
from modelops.analysis.quality import QualityReading
from modelops.analysis.slo import StableSLOs
from modelops.api.conditions import summarize
from modelops.api.names import Owner, version_selector
from modelops.api.v1alpha1 import (
    GROUP,
    MODEL_DEPLOYMENT,
    RETRAIN_POLICY,
    VERSION,
    ModelDeploymentSpec,
    ModelDeploymentStatus,
)
from modelops.api.v1alpha1.common import Condition
from modelops.api.v1alpha1.views import ObjectView, PolicyView
from modelops.controllers import metrics
from modelops.controllers.config import OperatorConfig
from modelops.controllers.events import post_events
from modelops.controllers.passes import API_VERSION, Pass
from modelops.controllers.prometheus import client_for_deployment
from modelops.controllers.supervisor import Supervisor
from modelops.controllers.watch import WAKERS, Child, children_of
from modelops.kube import KindNotInstalled, Kube
from modelops.prom.canary import Variant, analyze
from modelops.prom.client import PrometheusClient, PrometheusError
from modelops.prom.quality import stable_reading
from modelops.prom.sli import stable_slos
from modelops.render.children import HASH_ANNOTATION, serving_objects, stamp
from modelops.render.children import key as child_key
from modelops.render.prometheusrule import RULE_API_VERSION, RULE_KIND, deployment_rule
from modelops.render.serving import VersionPlan
from modelops.rollout import alert_rules
from modelops.rollout.fetch_failures import Fetched, FetchFailure, failure, fetched
from modelops.rollout.health import deployment_summary
from modelops.rollout.machine import RolloutDecision, RolloutObservations, Target, decide
from modelops.rollout.reads import no_prometheus, reads
from modelops.rollout.sync_problems import Reason, SyncProblem, carry, settle
from modelops.routers import ALL_ROUTE_KINDS, ROUTERS

log = logging.getLogger("modelops.rollout")
RESYNC_SECONDS = 600.0
# kinds that come and go with versions and routers (Services and the PDB always exist)
REMOVABLE = {"Deployment", "HorizontalPodAutoscaler", RULE_KIND, *(kind for _, kind in ALL_ROUTE_KINDS)}
ROUTE_KINDS = set(ALL_ROUTE_KINDS)  # (apiVersion, kind)
# The AlertRules reason each object's last pass saw, so its Warning event is posted once even when the
# next pass starts from a body that the watch has not yet updated with this pass's status.
ALERT_RULES_SEEN: dict[tuple[str, str], str] = {}


async def _observe(
    client: PrometheusClient | None,
    spec: ModelDeploymentSpec,
    status: ModelDeploymentStatus,
    *,
    namespace: str,
    target: Target,
    ready: dict[str, int],
    now: datetime,
    fetch_failures: dict[str, FetchFailure],
    reports: dict[str, Fetched],
) -> RolloutObservations:
    """Readiness from the caches; analysis and stable SLO only when due (they cost queries)."""
    analysis: Analysis | None = None
    slo: StableSLOs | None = None
    plan = reads(spec, status, target, now)
    model = spec.model.name
    if plan.canary_analysis and status.canary is not None and status.stable is not None:
        if client is None:
            analysis = no_prometheus(now)
        else:
            analysis = await analyze(
                client,
                spec.analysis,
                at=now,
                min_requests=spec.rollout.min_requests,
                interval=spec.rollout.interval.delta,
                started=status.rollout_started_at,
                shadowing=status.shadowing,
                canary=Variant(namespace, model, status.canary.version),
                stable=Variant(namespace, model, status.stable.version),
            )
    if plan.stable_slo and client is not None and status.stable is not None:  # without Prometheus: None (see decide)
        labels = {"namespace": namespace, "model": model, "version": status.stable.version}
        slo = await stable_slos(client, spec.analysis.slo, labels, at=now, since=plan.slo_since)
        if slo.blind:
            log.warning("stable SLOs of %s/%s not fully read: %s", namespace, model, slo.blind)
    quality_slo = spec.analysis.slo.quality
    reading: QualityReading | None = None
    if plan.quality and quality_slo is not None and client is not None and status.stable is not None:
        labels = {"namespace": namespace, "model": model, "version": status.stable.version}
        try:
            reading = await stable_reading(
                client,
                quality_slo,
                labels,
                version=status.stable.version,
                at=now,
                alpha=spec.analysis.alpha,
                since=plan.slo_since,
            )
        except PrometheusError as error:  # keep the last reading; the bake's SLO checks say Prometheus is down
            log.warning("quality of %s/%s not read: %s", namespace, model, error)
    return RolloutObservations(
        ready=ready,
        analysis=analysis,
        stable_slo=slo,
        fetch_failures=fetch_failures,
        fetched=reports,
        quality=reading,
    )


async def _fetch_states(
    kube: Kube, namespace: str, name: str, status: ModelDeploymentStatus, ready: dict[str, int]
) -> tuple[dict[str, FetchFailure], dict[str, Fetched]]:
    """Why a version's pods cannot load their model, and what a new version's fetch reported.

    Pods are listed only for a version with no ready pod (to read its fetch init container's
    failure) and for a new version (canary, or the first) whose provenance is not recorded yet:
    a settled ModelDeployment lists nothing."""
    failures: dict[str, FetchFailure] = {}
    reports: dict[str, Fetched] = {}
    variants = [v for v in (status.stable, status.canary) if v is not None]
    for variant in variants:
        new = variant is status.canary or status.phase == "Pending"
        unready = ready.get(variant.version, 0) == 0
        if not unready and not (new and variant.digest is None):
            continue
        selector = ",".join(f"{k}={v}" for k, v in version_selector(name, variant.version).items())
        pods = await kube.list("v1", "Pod", namespace, selector)
        found = failure(pods) if unready else None
        if found is not None:
            failures[variant.version] = found
        report = fetched(pods)
        if report is not None:
            reports[variant.version] = report
    return failures, reports


async def _target(
    kube: Kube, namespace: str, spec: ModelDeploymentSpec, logger: logging.LoggerAdapter[logging.Logger]
) -> Target:
    """spec.model, or with modelFrom the RetrainPolicy's latest validated model once there is one.

    The user's spec is never edited: the version to serve is read from the policy's status on
    every pass, so Argo CD sees no drift and a new validated version rolls out on its own.
    """
    own = Target(spec.model.version, spec.model.uri, spec.model.sha256)
    if spec.model_from is None:
        return own
    ref = spec.model_from.retrain_policy_ref.name
    policy = await kube.get(API_VERSION, RETRAIN_POLICY.kind, namespace, ref)
    if policy is None:
        logger.warning("RetrainPolicy %s not found: serving spec.model (%s)", ref, spec.model.version)
        return own
    validated = PolicyView.model_validate(policy).latest_validated
    if validated is None or not validated.version or not validated.uri:
        return own
    return Target(
        validated.version,
        validated.uri,
        validated.sha256,
        retrain_run=validated.run,
        baseline=validated.baseline_config_map,
    )


async def _sync_children(
    kube: Kube,
    owner: Owner,
    desired: list[dict[str, Any]],
    observed: list[Child],
    logger: logging.LoggerAdapter[logging.Logger],
    *,
    alerts: alert_rules.AlertRulesOutcome,
) -> tuple[list[SyncProblem], alert_rules.AlertRulesOutcome]:
    """Apply what differs, delete what is no longer wanted; return problems for the Degraded condition, and
    the PrometheusRule's outcome for the AlertRules condition (`alerts`: what it is when all goes well).

    A PrometheusRule that cannot be applied is never a Degraded model: serving does not depend on it."""
    problems: list[SyncProblem] = []
    seen = {(c.api_version, c.kind, c.name): c for c in observed}
    for body in desired:
        k = child_key(body)
        is_rule = (k[0], k[1]) == (RULE_API_VERSION, RULE_KIND)
        current = seen.get(k)
        if current is not None and current.applied_hash == body["metadata"]["annotations"][HASH_ANNOTATION]:
            continue
        try:
            if current is None:  # not in our cache: make sure we are not about to take over someone's object
                existing = await kube.get(k[0], k[1], owner.namespace, k[2])
                if existing is not None and not ObjectView.model_validate(existing).metadata.owned_by(owner.uid):
                    message = f"{k[1]} {k[2]} exists and is not ours; leaving it alone"
                    if is_rule:
                        alerts = alert_rules.not_applied(message)
                    else:
                        problems.append(SyncProblem("ChildSyncFailed", message))
                    continue
            await kube.apply(body)
        except KindNotInstalled as error:
            if is_rule:
                alerts = alert_rules.crd_missing(str(error))
                continue
            reason: Reason = "RouteCRDMissing" if (k[0], k[1]) in ROUTE_KINDS else "ChildSyncFailed"
            problems.append(SyncProblem(reason, str(error)))
    wanted = {child_key(b) for b in desired}
    for child in observed:
        ident = (child.api_version, child.kind, child.name)
        if ident not in wanted and child.kind in REMOVABLE:
            logger.info("deleting %s %s (no longer rendered)", child.kind, child.name)
            await kube.delete(child.api_version, child.kind, owner.namespace, child.name)
    return problems, alerts


def _desired(
    owner: Owner, spec: ModelDeploymentSpec, decision: RolloutDecision, config: OperatorConfig
) -> list[dict[str, Any]]:
    status = decision.status
    assert status.stable is not None
    plans = [
        VersionPlan(p.version, p.uri, p.sha256, p.replicas, p.share, p.variant, p.baseline, p.autoscaled, p.retrain_run)
        for p in decision.plans
    ]
    router = ROUTERS[spec.traffic.router]
    objects = serving_objects(
        owner,
        spec,
        plans,
        stable_version=status.stable.version,
        canary_version=status.canary.version if status.canary else None,
        serving_image=config.serving_image,
        split=status.canary is not None and not status.shadowing,
    )
    objects += router.objects(owner, spec, decision.canary_weight, decision.mirror_percent, status.canary is not None)
    if spec.alerts.enabled:
        shadow = status.canary.version if status.canary is not None and status.shadowing else None
        objects.append(deployment_rule(owner, spec, runbooks=config.runbook_url, shadow=shadow))
    return [stamp(o) for o in objects]


def _summarized(
    conditions: list[Condition], status: ModelDeploymentStatus, target: Target, now: datetime, generation: int | None
) -> list[Condition]:
    """Ready/Reconciling/Stalled again once the Degraded condition knows about the children's sync."""
    with_sync = status.model_copy(update={"conditions": conditions})
    return summarize(conditions, deployment_summary(with_sync, target.version), now=now, generation=generation)


async def reconcile(
    body: dict[str, Any], memo: kopf.Memo, indexes: dict[str, Any], logger: logging.LoggerAdapter[logging.Logger]
) -> float:
    """One level-based pass; returns seconds until the next pass is needed."""
    started = time.monotonic()
    config: OperatorConfig = memo["config"]
    kube: Kube = memo["kube"]
    meta = body["metadata"]
    p = Pass.start(body, kube, MODEL_DEPLOYMENT.kind, ModelDeploymentStatus)
    namespace, name, generation, status, now = p.namespace, p.name, p.generation, p.status, p.now
    spec = await p.admit(ModelDeploymentSpec)
    if spec is None:
        return RESYNC_SECONDS
    owner = Owner(name, namespace, meta["uid"])
    observed = children_of((namespace, name), indexes)
    ready = {c.version: c.ready for c in observed if c.kind == "Deployment" and c.version}
    target = await _target(kube, namespace, spec, logger)
    source = spec.analysis.prometheus
    client = await client_for_deployment(memo, kube, namespace, source)
    failures, reports = await _fetch_states(kube, namespace, name, status, ready)
    obs = await _observe(
        client,
        spec,
        status,
        namespace=namespace,
        target=target,
        ready=ready,
        now=now,
        fetch_failures=failures,
        reports=reports,
    )
    previous = list(status.conditions)
    decision = decide(spec, status, target, obs, now, generation=generation)
    new = decision.status
    new.observed_generation = generation  # Accepted was set by admit(); decide() keeps it
    decided = list(new.conditions)
    new.conditions = _summarized(carry(previous, decided, generation), new, target, now, generation)
    router = ROUTERS[spec.traffic.router]
    if new.canary is not None:
        stable_ready = new.stable.ready_replicas if new.stable else 0
        effective = router.effective_weight(decision.canary_weight, stable_ready, new.canary.ready_replicas)
        metrics.CANARY_WEIGHT.labels(namespace, name).set(effective)
    else:
        metrics.CANARY_WEIGHT.labels(namespace, name).set(0)
    metrics.count_outcomes(namespace, name, status.history, new.history)
    await p.write(new)  # state first: children follow from it
    alerts = alert_rules.applied(name) if spec.alerts.enabled else alert_rules.disabled()
    desired = _desired(owner, spec, decision, config)
    problems, alerts = await _sync_children(kube, owner, desired, observed, logger, alerts=alerts)
    if problems:
        logger.warning("children: %s", "; ".join(p.message for p in problems))
    settled = settle(new.conditions, decided, problems, now=now, generation=generation)
    new.conditions = _summarized(settled, new, target, now, generation)
    new.conditions, alert_events = alert_rules.settle_alert_rules(
        new.conditions, alerts, now=now, generation=generation
    )
    seen = ALERT_RULES_SEEN.get((namespace, name))
    ALERT_RULES_SEEN[(namespace, name)] = alerts.reason
    alert_events = [e for e in alert_events if e.reason != seen]
    await p.write(new)  # only a change of the Degraded or AlertRules condition, if any
    post_events(kube, body, [*decision.events, *alert_events], logger)
    metrics.RECONCILES.labels(MODEL_DEPLOYMENT.kind, "ok").inc()
    metrics.RECONCILE_SECONDS.labels(MODEL_DEPLOYMENT.kind).observe(time.monotonic() - started)
    metrics.PHASE.labels(namespace, name).state(new.phase)
    slo = spec.analysis.slo
    objectives = {"availability": slo.availability.objective / 100}
    if slo.latency is not None:
        objectives["latency"] = slo.latency.objective / 100
    if slo.quality is not None:
        objectives["quality"] = slo.quality.objective
    metrics.set_deployment(
        namespace,
        name,
        model=spec.model.name,
        stable_version=new.stable.version if new.stable else "",
        canary_version=new.canary.version if new.canary else "",
        objectives=objectives,
    )
    metrics.set_quality(namespace, name, new.quality if slo.quality is not None else None)
    requeue = decision.requeue_after or RESYNC_SECONDS
    if slo.quality is not None:  # status.quality is refreshed once an interval
        requeue = min(requeue, spec.rollout.interval.delta.total_seconds())
    return requeue


def _forget(key: tuple[str, str]) -> None:
    metrics.forget_deployment(*key)
    ALERT_RULES_SEEN.pop(key, None)


def in_rollout(body: dict[str, Any]) -> bool:
    """A canary or a bake under way: its next pass may have to judge it and move traffic (urgent)."""
    status = body.get("status") or {}
    return bool(status.get("canary") or status.get("bake"))


SUPERVISOR = Supervisor(MODEL_DEPLOYMENT.kind, reconcile, log, on_stop=_forget, wakers=WAKERS, urgent=in_rollout)


@kopf.on.event(GROUP, VERSION, MODEL_DEPLOYMENT.plural, id="rollout")
async def on_event(type: str | None, body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
    SUPERVISOR.observe(type, body, memo, kwargs)


@kopf.on.cleanup()
async def stop_loops(**_: Any) -> None:
    await SUPERVISOR.stop_all()
