"""The performance trigger: the stable version's label-based quality against a floor, with hysteresis (pure).

Concept drift leaves inputs and scores as they were; only the labels callers send back show it.
The controller reads the stable version's confusion counts (or label-split score buckets, for
auc) over the trigger's window; here they become one of four observations:

- Below: the metric is significantly below the threshold (the upper end of its one-sided 1-alpha
  interval is: Wilson for a ratio, DeLong's variance for the binned AUC);
- AtOrAbove: the metric is at or above the threshold;
- Inconclusive: below, but not significantly at this many labels;
- InsufficientLabels: fewer than minLabels in the metric's denominator (or none at all).

Only Below and AtOrAbove count. Like a DriftMonitor, `consecutive` of them in a row against the
current state flip it (confirm a drop, or clear it), and an observation that does not count
neither extends nor breaks a streak, so too few labels never fires and never clears. The trigger
fires when a drop is confirmed, once per episode; a new stable version starts over (its quality
is its own).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from scipy import special

from modelops.analysis.checks import wilson_lower
from modelops.analysis.quality import Confusion, LabelledScores, auc_variance, binned_auc
from modelops.api.v1alpha1.retrainpolicy import PerformanceState, PerformanceTrigger

Observation = Literal["Below", "AtOrAbove", "Inconclusive", "InsufficientLabels"]
COUNTS: dict[Observation, bool] = {"Below": True, "AtOrAbove": False}  # observations the hysteresis counts
MAX_EVIDENCE = 1000


@dataclass(frozen=True)
class PerformanceReading:
    """What the controller read for one evaluation (confusion counts, or scores for auc)."""

    version: str
    query: str
    confusion: Confusion | None = None
    scores: LabelledScores | None = None
    problem: str | None = None  # why the scores could not be used (bucket mismatch), if so


@dataclass(frozen=True)
class Evaluation:
    observation: Observation
    value: float | None
    labels: int
    message: str


def _z(alpha: float) -> float:
    return float(-special.ndtri(alpha))


def evaluate(trigger: PerformanceTrigger, reading: PerformanceReading) -> Evaluation:
    """One window's observation of the metric against the trigger's threshold."""
    metric, floor, alpha = trigger.metric, trigger.threshold, trigger.alpha
    if metric == "auc":
        return _evaluate_auc(trigger, reading)
    confusion = reading.confusion
    if confusion is None or confusion.labelled == 0:
        return Evaluation("InsufficientLabels", None, 0, f"no labels for {reading.version} in the window (no data)")
    good, total = confusion.ratio(metric)
    what = {"accuracy": "labels", "precision": "labelled positive predictions", "recall": "labelled positives"}
    if total < trigger.min_labels:
        value = good / total if total else None
        why = f"{total} {what[metric]} for {reading.version} in the window, fewer than minLabels {trigger.min_labels}"
        return Evaluation("InsufficientLabels", value, total, why)
    value = good / total
    upper = 1.0 - wilson_lower(total - good, total, alpha)
    shown = f"{metric} {good}/{total} ({value:.4f}), upper bound {upper:.4f} at alpha {alpha:g}"
    return _judge(value, upper, floor, total, shown)


def _evaluate_auc(trigger: PerformanceTrigger, reading: PerformanceReading) -> Evaluation:
    scores = reading.scores
    if reading.problem is not None:
        return Evaluation("InsufficientLabels", None, 0, f"labelled scores of {reading.version}: {reading.problem}")
    if scores is None or scores.n_negative + scores.n_positive <= 0:
        return Evaluation("InsufficientLabels", None, 0, f"no labels for {reading.version} in the window (no data)")
    fewest = round(min(scores.n_negative, scores.n_positive))
    auc, variance = binned_auc(scores), auc_variance(scores)
    if fewest < max(trigger.min_labels, 2) or auc is None or variance is None:
        why = (
            f"{scores.n_positive:.0f} positive and {scores.n_negative:.0f} negative labels for {reading.version}, "
            f"fewer than minLabels {max(trigger.min_labels, 2)} of each"
        )
        return Evaluation("InsufficientLabels", auc, fewest, why)
    upper = min(auc + _z(trigger.alpha) * math.sqrt(max(variance, 0.0)), 1.0)
    shown = f"auc {auc:.4f} (binned, {fewest} of the smaller class), upper bound {upper:.4f} at alpha {trigger.alpha:g}"
    return _judge(auc, upper, trigger.threshold, fewest, shown)


def _judge(value: float, upper: float, floor: float, labels: int, shown: str) -> Evaluation:
    if upper < floor:
        return Evaluation("Below", value, labels, f"{shown}: below {floor:g}")
    if value < floor:
        return Evaluation("Inconclusive", value, labels, f"{shown}: below {floor:g} but not significantly")
    return Evaluation("AtOrAbove", value, labels, f"{shown}: at or above {floor:g}")


def confirm(dropped: bool | None, streak: int, observed: bool | None, consecutive: int) -> tuple[bool | None, int]:
    """(dropped, streak) after one observation: True below, False at or above, None does not count.

    `streak` counts observations in a row that disagree with the state; it flips when the streak
    reaches `consecutive`. No state yet (None) counts as not dropped: a first observation at or
    above says False, and it stays None while a drop builds a streak."""
    if observed is None:
        return dropped, streak
    state = bool(dropped)
    if observed == state:
        return state, 0
    if streak + 1 >= consecutive:
        return observed, 0
    return dropped, streak + 1


def due(trigger: PerformanceTrigger, state: PerformanceState | None, stable: str | None, now: datetime) -> bool:
    """Whether an evaluation is due: every `interval`, and at once for a new stable version."""
    if state is None or state.last_evaluated is None or state.version != stable:
        return True
    # a pass woken a little early (a Job event) still counts the interval as over
    return (now - state.last_evaluated).total_seconds() >= trigger.interval.delta.total_seconds() * 0.9


def seconds_until_due(trigger: PerformanceTrigger, state: PerformanceState | None, now: datetime) -> float:
    if state is None or state.last_evaluated is None:
        return 1.0
    left = trigger.interval.delta.total_seconds() - (now - state.last_evaluated).total_seconds()
    return max(left, 1.0)


def step(
    trigger: PerformanceTrigger,
    state: PerformanceState | None,
    reading: PerformanceReading,
    now: datetime,
) -> tuple[PerformanceState, str | None]:
    """The new state after one evaluation, and the evidence when a drop was just confirmed (fire)."""
    if state is None or state.version != reading.version:
        state = PerformanceState()  # a new stable version's quality is its own: start over
    evaluation = evaluate(trigger, reading)
    dropped, streak = confirm(state.dropped, state.streak, COUNTS.get(evaluation.observation), trigger.consecutive)
    new = PerformanceState(
        dropped=dropped,
        streak=streak,
        verdict=evaluation.observation,
        version=reading.version,
        metric=trigger.metric,
        value=evaluation.value,
        threshold=trigger.threshold,
        labels=evaluation.labels,
        window=str(trigger.window),
        query=reading.query,
        message=evaluation.message,
        last_evaluated=now,
    )
    if dropped is True and state.dropped is not True:
        evidence = (
            f"stable {reading.version}: {evaluation.message} over {trigger.window} "
            f"({trigger.consecutive} evaluation(s) in a row); query: {reading.query}"
        )
        return new, evidence[:MAX_EVIDENCE]
    return new, None


def condition(state: PerformanceState | None) -> tuple[Literal["True", "False", "Unknown"], str, str]:
    """The PerformanceDropped condition, (status, reason, message): True once a drop is confirmed, False
    once the metric was at or above, Unknown before either (too few labels, inconclusive, confirming)."""
    if state is None or state.last_evaluated is None:
        return "Unknown", "NotEvaluated", "not evaluated yet"
    message = f"{state.message} (over {state.window})"
    if state.streak:
        message = f"{state.streak} of the evaluations needed to change: {message}"
    if state.dropped is True:
        return "True", "Dropped", message
    reason = "Confirming" if state.verdict == "Below" else state.verdict
    return ("False" if state.dropped is False else "Unknown"), reason, message
