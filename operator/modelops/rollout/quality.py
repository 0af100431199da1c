"""The stable version's quality on labels in a ModelDeployment's status (pure): status.quality, the
Quality condition, and what a bake makes of it.

| reading                                   | Quality condition                 |
|-------------------------------------------|-----------------------------------|
| confidently below the objective           | False, BelowObjective             |
| fewer labels than minLabels               | Unknown, InsufficientData         |
| otherwise                                 | True, MeetsObjective              |

Without spec.analysis.slo.quality neither status.quality nor the condition exists. A bake reverts on a
BelowObjective reading of the promoted version over the labels since its rollout began; too few labels
is shown (the bake's `quality` check is Unknown) but, like no traffic for the other SLOs, does not hold
the bake: labels may come hours later, and the canary's own quality checks already required them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from modelops.analysis.checks import Verdict
from modelops.analysis.quality import QualityReading
from modelops.api.conditions import Status, set_condition
from modelops.api.durations import format_duration
from modelops.api.v1alpha1.common import Condition
from modelops.api.v1alpha1.modeldeployment import CheckStatus, ModelDeploymentStatus, QualityStatus

CONDITION = "Quality"
REASONS = ("MeetsObjective", "BelowObjective", "InsufficientData")
VERDICTS: dict[Verdict, Literal["Pass", "Fail", "Unknown"]] = {Verdict.PASS: "Pass", Verdict.FAIL: "Fail"}


def status_of(reading: QualityReading, now: datetime) -> QualityStatus:
    c = reading.check
    verdict = VERDICTS.get(c.verdict, "Unknown")
    return QualityStatus(
        version=reading.version,
        metric=reading.metric,
        value=reading.value,
        objective=reading.objective,
        labels=reading.labels,
        label_lag_p90_seconds=reading.label_lag_p90,
        window=format_duration(reading.window),
        verdict=verdict,
        reason=c.reason,
        evaluated_at=now,
    )


def condition(reading: QualityReading) -> tuple[Status, str, str]:
    c = reading.check
    if c.verdict is Verdict.FAIL:
        return "False", "BelowObjective", f"{reading.version} {reading.metric} below {reading.objective:g}: {c.reason}"
    if c.verdict is Verdict.PASS:
        return "True", "MeetsObjective", f"{reading.version}: {c.reason}"
    return "Unknown", "InsufficientData", f"{reading.version}: {c.reason}"


def observe(
    status: ModelDeploymentStatus,
    reading: QualityReading | None,
    *,
    declared: bool,
    now: datetime,
    generation: int | None,
) -> None:
    """Record a new reading (None: keep the last one), or drop both when the spec declares no quality SLO."""
    if not declared:
        status.quality = None
        status.conditions = [c for c in status.conditions if c.type != CONDITION]
        return
    if reading is None:
        return
    status.quality = status_of(reading, now)
    state, reason, message = condition(reading)
    status.conditions = _set(status.conditions, state, reason, message, now=now, generation=generation)


def _set(
    conditions: list[Condition], state: Status, reason: str, message: str, *, now: datetime, generation: int | None
) -> list[Condition]:
    return set_condition(conditions, CONDITION, state, reason, message, now=now, generation=generation)


def bake_failure(reading: QualityReading | None, version: str) -> str | None:
    """Why a bake of `version` reverts on quality, or None."""
    if reading is None or reading.version != version or reading.check.verdict is not Verdict.FAIL:
        return None
    return f"quality below objective during bake: {reading.check.reason}"


def bake_check(reading: QualityReading) -> CheckStatus:
    c = reading.check
    return CheckStatus(
        name=c.name,
        verdict=c.verdict.value,
        value=c.value,
        threshold=c.threshold,
        samples=c.samples,
        query=c.query,
        reason=c.reason,
    )
