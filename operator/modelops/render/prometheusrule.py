"""Render a model's SLOs as a PrometheusRule: recording rules and multi-window burn-rate alerts.

The recording rules use the very expressions the operator queries (`promql.sli.availability`,
`promql.sli.latency`), and the alerts the windows, factors and traffic guard of
`modelops.analysis.slo`, so Alertmanager and the operator agree (a test proves it with
promtool and a real Prometheus). Unlike Sloth and Pyrra, zero traffic never alerts and
never records Inf: an absent error series counts as zero errors, and every alert also
requires at least 1 / (factor x budget) events in both of its windows.

`deployment_rule` is what the operator applies for each ModelDeployment (`spec.alerts`): the SLOs its
spec declares, over the live traffic of every version it serves (stable and canary; a candidate still
in its shadow phase answers no one and is left out), with the user's extra labels and annotations and
a `runbook_url` on every alert.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from modelops.analysis.slo import WindowPair, error_budget, min_events, standard_pairs, windows
from modelops.api.names import Owner, common_labels
from modelops.api.v1alpha1.modeldeployment import ModelDeploymentSpec
from modelops.promql.expr import duration, selector
from modelops.promql.sli import SLIQueries, availability, latency
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
    VARIANT,
    VERSION,
)

# Where each alert's runbook lives: <base>/<AlertName>.md (the operator's --runbook-url / MODELOPS_RUNBOOK_URL)
RUNBOOKS = "https://github.com/modelops/modelops/blob/main/docs/runbooks"
RULE_API_VERSION = "monitoring.coreos.com/v1"
RULE_KIND = "PrometheusRule"
LIVE_VARIANTS = "stable|canary"  # what users are answered by; a shadow's answers never reach anyone


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


def alert_rules(
    target: SLOTarget,
    labels: Mapping[str, str],
    model: str,
    *,
    extra_labels: Mapping[str, str] | None = None,
    extra_annotations: Mapping[str, str] | None = None,
    runbooks: str = RUNBOOKS,
) -> list[dict[str, Any]]:
    """One alert per window pair. `extra_labels` never replace the alert's own labels; `extra_annotations`
    replace the operator's (a team's own runbook_url)."""
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
                "labels": {
                    **(extra_labels or {}),
                    **labels,
                    SEVERITY: pair.severity,
                    LONG_WINDOW: long,
                    SHORT_WINDOW: short,
                },
                "annotations": {
                    "summary": f"{model} burns its {target.slo} error budget {number(pair.factor)}x too fast",
                    "description": (
                        f"Bad-event ratio above {threshold} over both {long} and {short}: at this rate "
                        f"{number(pair.budget_share * 100)}% of the budget is gone in {long}."
                    ),
                    "runbook_url": f"{runbooks.rstrip('/')}/{BURN_ALERT}.md",
                    **(extra_annotations or {}),
                },
            }
        )
    return rules


def rule_groups(
    namespace: str,
    model: str,
    targets: Sequence[SLOTarget],
    *,
    extra_labels: Mapping[str, str] | None = None,
    extra_annotations: Mapping[str, str] | None = None,
    runbooks: str = RUNBOOKS,
) -> list[dict[str, Any]]:
    """Prometheus rule groups (the `groups:` of a rule file or of a PrometheusRule spec)."""
    groups = []
    for target in targets:
        labels = {NAMESPACE: namespace, MODEL: model, SLO: target.slo}
        groups.append({"name": f"modelops-{model}-{target.slo}-sli", "rules": recording_rules(target, labels)})
        alerts = alert_rules(
            target, labels, model, extra_labels=extra_labels, extra_annotations=extra_annotations, runbooks=runbooks
        )
        groups.append({"name": f"modelops-{model}-{target.slo}-alerts", "rules": alerts})
    return groups


def le_label(seconds: float) -> str:
    """A bucket edge as Prometheus client libraries expose it (and Prometheus 3 normalises it): 0.25 -> "0.25",
    1 -> "1.0". The operator's own queries look the edge up numerically; a rule file cannot."""
    return repr(float(seconds))


def deployment_targets(namespace: str, spec: ModelDeploymentSpec, *, shadow: str | None = None) -> list[SLOTarget]:
    """The SLOs a ModelDeployment declares, over its live traffic: every version, stable and canary, except
    `shadow`, a candidate still in its shadow phase (its pods carry `variant="canary"` from the start, so
    promotion never restarts them, but the answers to its mirrored requests reach no one)."""
    select = {NAMESPACE: namespace, MODEL: spec.model.name}
    live = {VARIANT: LIVE_VARIANTS}
    exclude = {VERSION: shadow} if shadow is not None else None
    pairs = standard_pairs(spec.analysis.slo.availability.window.delta)

    available = functools.partial(availability, select, regex=live, exclude=exclude)
    targets = [SLOTarget("availability", error_budget(spec.analysis.slo.availability.objective), pairs, available)]
    slow = spec.analysis.slo.latency
    if slow is not None:
        fast = functools.partial(latency, select, le=le_label(slow.threshold_seconds), regex=live, exclude=exclude)
        targets.append(SLOTarget("latency", error_budget(slow.objective), pairs, fast))
    return targets


def deployment_rule(
    owner: Owner, spec: ModelDeploymentSpec, *, runbooks: str = RUNBOOKS, shadow: str | None = None
) -> dict[str, Any]:
    """The PrometheusRule the operator applies for one ModelDeployment (named after it, owned by it);
    `shadow`: the version of a candidate in its shadow phase, left out of the SLOs until it takes traffic."""
    alerts = spec.alerts
    body = prometheus_rule(
        name=owner.name,
        namespace=owner.namespace,
        model=spec.model.name,
        targets=deployment_targets(owner.namespace, spec, shadow=shadow),
        owner=owner.reference(),
        extra_labels=alerts.labels,
        extra_annotations=alerts.annotations,
        runbooks=runbooks,
    )
    body["metadata"]["labels"] = {**alerts.rule_labels, **common_labels(owner.name, spec.model.name)}
    return body


def prometheus_rule(
    *,
    name: str,
    namespace: str,
    model: str,
    targets: Sequence[SLOTarget],
    owner: Mapping[str, Any] | None = None,
    extra_labels: Mapping[str, str] | None = None,
    extra_annotations: Mapping[str, str] | None = None,
    runbooks: str = RUNBOOKS,
) -> dict[str, Any]:
    """A monitoring.coreos.com/v1 PrometheusRule with a model's SLO rules."""
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "labels": {"app.kubernetes.io/managed-by": "modelops", "modelops.dev/model": model},
    }
    if owner:
        metadata["ownerReferences"] = [dict(owner)]
    groups = rule_groups(
        namespace, model, targets, extra_labels=extra_labels, extra_annotations=extra_annotations, runbooks=runbooks
    )
    return {"apiVersion": RULE_API_VERSION, "kind": RULE_KIND, "metadata": metadata, "spec": {"groups": groups}}
