"""The operator's own Prometheus metrics (served on --metrics-port at /metrics)."""

from __future__ import annotations

import contextlib

from prometheus_client import Counter, Enum, Gauge, Histogram

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


def forget_deployment(namespace: str, name: str) -> None:
    """Drop a deleted ModelDeployment's series."""
    for metric in (CANARY_WEIGHT, PHASE):
        with contextlib.suppress(KeyError):
            metric.remove(namespace, name)
