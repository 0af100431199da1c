"""Render a model's SLOs as a PrometheusRule: recording rules and multi-window burn-rate alerts.

The recording rules use the very expressions the operator queries (`promql.sli.availability`,
`promql.sli.latency`), and the alerts the windows, factors and traffic guard of
`modelops.analysis.slo`, so Alertmanager and the operator agree (a test proves it with
promtool and a real Prometheus). Unlike Sloth and Pyrra, zero traffic never alerts and
never records Inf: an absent error series counts as zero errors, and every alert also
requires at least 1 / (factor x budget) events in both of its windows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from modelops.analysis.slo import WindowPair, min_events, windows
from modelops.promql.expr import duration, selector
from modelops.promql.sli import SLIQueries
from modelops.telemetry_contract import (
    BURN_ALERT,
    LONG_WINDOW,
    MODEL,
    NAMESPACE,
    SEVERITY,
    SHORT_WINDOW,
    SLO,
    SLO_ERROR_RATIO,
    SLO_EVENTS,
)


@dataclass(frozen=True)
class SLOTarget:
    """One objective to alert on: its name, budget, window pairs and SLI queries."""

    slo: str  # "availability" or "latency"
    budget: Decimal
    pairs: Sequence[WindowPair]
    queries: Callable[[timedelta], SLIQueries]


def number(value: Decimal) -> str:
    """A Decimal as PromQL reads it, without float noise ("0.0144", not "0.014400000000000001")."""
    text = format(value.normalize(), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def recording_rules(target: SLOTarget, labels: Mapping[str, str]) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    for window in windows(target.pairs):
        q, w = target.queries(window), duration(window)
        ratio = f"({q.bad} or vector(0)) / {q.total}"
        rules.append({"record": f"{SLO_ERROR_RATIO}{w}", "expr": ratio, "labels": dict(labels)})
        rules.append({"record": f"{SLO_EVENTS}{w}", "expr": q.total, "labels": dict(labels)})
    return rules


def alert_rules(target: SLOTarget, labels: Mapping[str, str], model: str) -> list[dict[str, Any]]:
    match = selector("x", labels)[1:]  # the `{...}` that selects this SLO's recorded series
    rules: list[dict[str, Any]] = []
    for pair in target.pairs:
        long, short = duration(pair.long), duration(pair.short)
        threshold, events = number(pair.factor * target.budget), number(min_events(pair, target.budget))
        expr = (
            f"({SLO_ERROR_RATIO}{long}{match} > {threshold} and {SLO_ERROR_RATIO}{short}{match} > {threshold})"
            f" and ({SLO_EVENTS}{long}{match} >= {events} and {SLO_EVENTS}{short}{match} >= {events})"
        )
        rules.append(
            {
                "alert": BURN_ALERT,
                "expr": expr,
                "labels": {**labels, SEVERITY: pair.severity, LONG_WINDOW: long, SHORT_WINDOW: short},
                "annotations": {
                    "summary": f"{model} burns its {target.slo} error budget {number(pair.factor)}x too fast",
                    "description": (
                        f"Bad-event ratio above {threshold} over both {long} and {short}: at this rate "
                        f"{number(pair.budget_share * 100)}% of the budget is gone in {long}."
                    ),
                },
            }
        )
    return rules


def rule_groups(namespace: str, model: str, targets: Sequence[SLOTarget]) -> list[dict[str, Any]]:
    """Prometheus rule groups (the `groups:` of a rule file or of a PrometheusRule spec)."""
    groups = []
    for target in targets:
        labels = {NAMESPACE: namespace, MODEL: model, SLO: target.slo}
        groups.append({"name": f"modelops-{model}-{target.slo}-sli", "rules": recording_rules(target, labels)})
        groups.append({"name": f"modelops-{model}-{target.slo}-alerts", "rules": alert_rules(target, labels, model)})
    return groups


def prometheus_rule(
    *,
    name: str,
    namespace: str,
    model: str,
    targets: Sequence[SLOTarget],
    owner: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A monitoring.coreos.com/v1 PrometheusRule with a model's SLO rules."""
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "labels": {"app.kubernetes.io/managed-by": "modelops", "modelops.dev/model": model},
    }
    if owner:
        metadata["ownerReferences"] = [dict(owner)]
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": metadata,
        "spec": {"groups": rule_groups(namespace, model, targets)},
    }
