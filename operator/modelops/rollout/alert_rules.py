"""The AlertRules condition of a ModelDeployment: is its PrometheusRule installed, and if not, why.

Known only after the controller tried to apply the rule (or removed it), like the children's
sync problems, but kept apart from Degraded on purpose: a cluster without the Prometheus
Operator serves models as well as one with it, so a missing PrometheusRule CRD never makes a
model Degraded or not Ready. It is `AlertRules=False` with reason `PrometheusRuleCRDMissing`, one
Warning event when that starts (not on every pass), and the next pass tries again (a CRD
installed later is used without a restart).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from modelops.api.conditions import Status, get_condition, set_condition
from modelops.api.events import Event
from modelops.api.v1alpha1.common import Condition

CONDITION = "AlertRules"
AlertRulesReason = Literal["Applied", "Disabled", "PrometheusRuleCRDMissing", "PrometheusRuleNotApplied"]
MAX_MESSAGE = 1000


@dataclass(frozen=True)
class AlertRulesOutcome:
    """What the controller saw: applied (or already as rendered), disabled, or a problem and its reason."""

    reason: AlertRulesReason
    message: str


def applied(name: str) -> AlertRulesOutcome:
    return AlertRulesOutcome("Applied", f"PrometheusRule {name} holds the SLO burn-rate alerts")


def disabled() -> AlertRulesOutcome:
    return AlertRulesOutcome("Disabled", "spec.alerts.enabled is false: no PrometheusRule is installed")


def crd_missing(error: str) -> AlertRulesOutcome:
    why = (
        f"{error}; the SLO burn-rate alerts are not installed. Install the Prometheus Operator's CRDs, "
        "or set spec.alerts.enabled: false"
    )
    return AlertRulesOutcome("PrometheusRuleCRDMissing", why)


def not_applied(message: str) -> AlertRulesOutcome:
    return AlertRulesOutcome("PrometheusRuleNotApplied", message)


def settle_alert_rules(
    conditions: Sequence[Condition], outcome: AlertRulesOutcome, *, now: datetime, generation: int | None
) -> tuple[list[Condition], list[Event]]:
    """The conditions with AlertRules set from `outcome`, and a Warning event when a problem starts or changes."""
    status: Status = "True" if outcome.reason == "Applied" else "False"
    message = outcome.message[:MAX_MESSAGE]
    old = get_condition(list(conditions), CONDITION)
    events: list[Event] = []
    problem = outcome.reason in ("PrometheusRuleCRDMissing", "PrometheusRuleNotApplied")
    if problem and (old is None or old.reason != outcome.reason):
        events.append(Event("Warning", outcome.reason, message))
    updated = set_condition(
        list(conditions), CONDITION, status, outcome.reason, message, now=now, generation=generation
    )
    return updated, events
