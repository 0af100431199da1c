"""The operator's own Prometheus metrics (served on --metrics-port at /metrics)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any, get_args

from prometheus_client import Counter, Enum, Gauge, Histogram

from modelops.api.v1alpha1.modeldeployment import HistoryEntry

RECONCILES = Counter(
    "modelops_reconcile_total",
    "Reconciliations by kind and result (ok, invalid, error).",
    ["kind", "result"],
)
RECONCILE_SECONDS = Histogram(
    "modelops_reconcile_duration_seconds",
    "Time spent in one reconciliation.",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
KINDS = ("ModelDeployment", "DriftMonitor", "RetrainPolicy")
for _kind in KINDS:  # every series from the start: increase() cannot see a counter's first sample
    for _result in ("ok", "invalid", "error"):
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


RETRAIN_SECONDS = Histogram(
    "modelops_retrain_duration_seconds",
    "Wall time of retraining runs, from start to the Job's end.",
    buckets=(30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800),
)
_scored: dict[tuple[str, str], set[str]] = {}  # features with a DRIFT_SCORE series, per monitor


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
    metric: Any
    for metric in (CANARY_WEIGHT, PHASE):
        with contextlib.suppress(KeyError):
            metric.remove(namespace, name)
    for outcome in OUTCOMES:
        with contextlib.suppress(KeyError):
            ROLLOUTS.remove(namespace, name, outcome)
