"""The operator's own Prometheus metrics (served on --metrics-port at /metrics)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any, get_args

from prometheus_client import Counter, Enum, Gauge, Histogram

from modelops.api.v1alpha1.modeldeployment import HistoryEntry, QualityStatus

RECONCILES = Counter(
    "modelops_reconcile_total",
    "Reconciliations by kind and result (ok, invalid, error; conflict: the object changed since it was read, "
    "decided again).",
    ["kind", "result"],
)
RECONCILE_SECONDS = Histogram(
    "modelops_reconcile_duration_seconds",
    "Time spent in one reconciliation.",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RECONCILE_WAIT = Histogram(
    "modelops_reconcile_wait_seconds",
    "From when a pass was due (its requeue time, or a change) to its start: event-loop lag plus the wait "
    "for a reconcile slot, where a starved work queue shows. priority: urgent (a rollout or bake under way) "
    "or routine.",
    ["kind", "priority"],
    buckets=(0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
KINDS = ("ModelDeployment", "DriftMonitor", "RetrainPolicy")
for _kind in KINDS:  # every series from the start: increase() cannot see a counter's first sample
    for _result in ("ok", "invalid", "error", "conflict"):
        RECONCILES.labels(_kind, _result)
INVALID = Gauge(
    "modelops_invalid_resources",
    "Resources whose spec the operator cannot act on (Accepted=False).",
    ["kind", "namespace", "name"],
)
CANARY_WEIGHT = Gauge(
    "modelops_canary_weight",
    "Percent of traffic the canary really receives (the replica ratio for the replicas router).",
    ["namespace", "name"],
)
PHASE = Enum(
    "modelops_rollout_phase",
    "Phase of each ModelDeployment.",
    ["namespace", "name"],
    states=["Pending", "Available", "Progressing", "Paused", "Promoting", "Baking", "RolledBack", "Degraded", "Frozen"],
)

OUTCOMES: tuple[str, ...] = get_args(HistoryEntry.model_fields["outcome"].annotation)
ROLLOUTS = Counter(
    "modelops_rollouts_total",
    "Rollouts of each ModelDeployment that ended, by outcome (Promoted, RolledBack, Aborted, Reverted, "
    "Superseded); every outcome is exported at 0 from the object's first pass.",
    ["namespace", "name", "outcome"],
)


def count_outcomes(namespace: str, name: str, before: Sequence[HistoryEntry], after: Sequence[HistoryEntry]) -> None:
    """Count the history entries this pass added (newest first; a bounded history drops the oldest)."""
    for outcome in OUTCOMES:
        ROLLOUTS.labels(namespace, name, outcome)
    known = {(e.version, e.outcome, e.at) for e in before}
    for entry in after:
        if (entry.version, entry.outcome, entry.at) not in known:
            ROLLOUTS.labels(namespace, name, entry.outcome).inc()


DRIFT_SCORE = Gauge(
    "modelops_drift_score",
    "PSI of each tested feature (and __prediction__) in a DriftMonitor's latest evaluation.",
    ["namespace", "name", "feature"],
)
DRIFT_DETECTED = Gauge(
    "modelops_drift_detected",
    "1 while a DriftMonitor's model is Drifted (after hysteresis), 0 when it is not; absent until known.",
    ["namespace", "name"],
)
DRIFT_SHARE = Gauge(
    "modelops_drift_share", "Share of tested features drifting in the latest evaluation.", ["namespace", "name"]
)
DRIFT_EVALUATIONS = Counter(
    "modelops_drift_evaluations_total",
    "DriftMonitor evaluations by result (drifted, clean, insufficient, blocked: could not evaluate).",
    ["namespace", "name", "result"],
)
RETRAIN_RUNS = Counter(
    "modelops_retrain_runs_total",
    "Retraining runs that ended (Validated, Rejected, Failed) and triggers skipped (Skipped), by trigger.",
    ["trigger", "outcome"],
)
POLICY_RUN_OUTCOMES = ("Validated", "Rejected", "Failed")
POLICY_RUNS = Counter(
    "modelops_retrain_policy_runs_total",
    "Retraining runs of each RetrainPolicy that ended, by outcome (Validated, Rejected by the validation gates, "
    "Failed: the Job failed or its result could not be read); every outcome is exported at 0 from the policy's "
    "first pass.",
    ["namespace", "name", "outcome"],
)


def count_policy_runs(namespace: str, name: str, outcomes: Sequence[str]) -> None:
    for outcome in POLICY_RUN_OUTCOMES:
        POLICY_RUNS.labels(namespace, name, outcome)
    for outcome in outcomes:
        if outcome in POLICY_RUN_OUTCOMES:
            POLICY_RUNS.labels(namespace, name, outcome).inc()


def forget_policy(namespace: str, name: str) -> None:
    """Drop a deleted RetrainPolicy's series."""
    for outcome in POLICY_RUN_OUTCOMES:
        with contextlib.suppress(KeyError):
            POLICY_RUNS.remove(namespace, name, outcome)
    _replace(RETRAIN_LAST_FINISHED, namespace, name, {})


RETRAIN_SECONDS = Histogram(
    "modelops_retrain_duration_seconds",
    "Wall time of retraining runs, from start to the Job's end.",
    buckets=(30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800),
)
# What dashboards join on (charts/modelops-operator/files/dashboards): operator series are per resource
# (namespace, name), a model server's per (namespace, model); these say which is which.
DEPLOYMENT_INFO = Gauge(
    "modelops_deployment_info",
    "Always 1: each ModelDeployment's model name (the `model` label of its servers' series) and the versions "
    "in its status (canary_version empty when no rollout is under way).",
    ["namespace", "name", "model", "stable_version", "canary_version"],
)
SLO_OBJECTIVE = Gauge(
    "modelops_slo_objective_ratio",
    "Each ModelDeployment's SLO objectives as ratios (availability 0.999 for 99.9%), by slo.",
    ["namespace", "name", "slo"],
)
QUALITY_RATIO = Gauge(
    "modelops_quality_ratio",
    "Each ModelDeployment's stable version's quality on ground-truth labels (status.quality.value) by metric "
    "(accuracy, precision, recall, auc); absent while there are fewer labels than minLabels, so it is never "
    'judged on too few. Compare with modelops_slo_objective_ratio{slo="quality"}.',
    ["namespace", "name", "metric"],
)
QUALITY_LABELS = Gauge(
    "modelops_quality_labels",
    "Labels behind modelops_quality_ratio: those that arrived in spec.analysis.slo.quality.window.",
    ["namespace", "name"],
)
QUALITY_LABEL_LAG = Gauge(
    "modelops_quality_label_lag_seconds",
    "90th percentile of the time from prediction to label of those labels: how stale the quality figure is.",
    ["namespace", "name"],
)
DRIFT_MONITOR_INFO = Gauge(
    "modelops_drift_monitor_info",
    "Always 1: the ModelDeployment each DriftMonitor watches.",
    ["namespace", "name", "model_deployment"],
)
RETRAIN_LAST_FINISHED = Gauge(
    "modelops_retrain_last_finished_timestamp_seconds",
    "Unix time the newest run of each outcome (Validated, Rejected, Failed) in a RetrainPolicy's status ended.",
    ["namespace", "name", "model_deployment", "outcome"],
)
_scored: dict[tuple[str, str], set[str]] = {}  # features with a DRIFT_SCORE series, per monitor
_series: dict[tuple[int, str, str], set[tuple[str, ...]]] = {}  # (id(metric), namespace, name) -> extra label values


def _replace(metric: Gauge, namespace: str, name: str, values: dict[tuple[str, ...], float]) -> None:
    """Make a resource's series of `metric` exactly `values` ({label values after namespace, name: value})."""
    key = (id(metric), namespace, name)
    for extra in _series.get(key, set()) - set(values):
        with contextlib.suppress(KeyError):
            metric.remove(namespace, name, *extra)
    for extra, value in values.items():
        metric.labels(namespace, name, *extra).set(value)
    if values:
        _series[key] = set(values)
    else:
        _series.pop(key, None)


def set_deployment(
    namespace: str,
    name: str,
    *,
    model: str,
    stable_version: str,
    canary_version: str,
    objectives: dict[str, float],
) -> None:
    """A ModelDeployment's info series and SLO objectives ({slo: ratio}); earlier label values go."""
    _replace(DEPLOYMENT_INFO, namespace, name, {(model, stable_version, canary_version): 1})
    _replace(SLO_OBJECTIVE, namespace, name, {(slo,): ratio for slo, ratio in objectives.items()})


def set_quality(namespace: str, name: str, quality: QualityStatus | None) -> None:
    """status.quality as gauges; without it (no quality SLO, nothing read yet) its series go."""
    ratio: dict[tuple[str, ...], float] = {}
    if quality is not None and quality.verdict != "Unknown" and quality.value is not None:
        ratio = {(quality.metric,): quality.value}
    _replace(QUALITY_RATIO, namespace, name, ratio)
    _replace(QUALITY_LABELS, namespace, name, {(): float(quality.labels)} if quality is not None else {})
    lag = quality.label_lag_p90_seconds if quality is not None else None
    _replace(QUALITY_LABEL_LAG, namespace, name, {(): lag} if lag is not None else {})


def set_drift_monitor(namespace: str, name: str, model_deployment: str) -> None:
    _replace(DRIFT_MONITOR_INFO, namespace, name, {(model_deployment,): 1})


def set_retrain_finished(namespace: str, name: str, model_deployment: str, finished: dict[str, float]) -> None:
    """A RetrainPolicy's newest end time per outcome ({outcome: unix seconds}); outcomes no longer listed go."""
    _replace(RETRAIN_LAST_FINISHED, namespace, name, {(model_deployment, o): t for o, t in finished.items()})


def set_drift_scores(namespace: str, name: str, scores: dict[str, float]) -> None:
    """Replace a monitor's per-feature scores; features no longer tested lose their series."""
    before = _scored.get((namespace, name), set())
    for feature in before - set(scores):
        with contextlib.suppress(KeyError):
            DRIFT_SCORE.remove(namespace, name, feature)
    for feature, score in scores.items():
        DRIFT_SCORE.labels(namespace, name, feature).set(score)
    _scored[(namespace, name)] = set(scores)


def forget_monitor(namespace: str, name: str) -> None:
    """Drop a deleted DriftMonitor's series."""
    set_drift_scores(namespace, name, {})
    _scored.pop((namespace, name), None)
    _replace(DRIFT_MONITOR_INFO, namespace, name, {})
    for metric in (DRIFT_DETECTED, DRIFT_SHARE):
        with contextlib.suppress(KeyError):
            metric.remove(namespace, name)
    for result in ("drifted", "clean", "insufficient", "blocked"):
        with contextlib.suppress(KeyError):
            DRIFT_EVALUATIONS.remove(namespace, name, result)


def clear_invalid(kind: str, namespace: str, name: str) -> None:
    with contextlib.suppress(KeyError):  # no series: the object was never invalid
        INVALID.remove(kind, namespace, name)


def forget_deployment(namespace: str, name: str) -> None:
    """Drop a deleted ModelDeployment's series."""
    _replace(DEPLOYMENT_INFO, namespace, name, {})
    _replace(SLO_OBJECTIVE, namespace, name, {})
    set_quality(namespace, name, None)
    metric: Any
    for metric in (CANARY_WEIGHT, PHASE):
        with contextlib.suppress(KeyError):
            metric.remove(namespace, name)
    for outcome in OUTCOMES:
        with contextlib.suppress(KeyError):
            ROLLOUTS.remove(namespace, name, outcome)
