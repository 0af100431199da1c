"""The operator's own Prometheus metrics (served on --metrics-port at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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
