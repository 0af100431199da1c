"""A RetrainPolicy's conditions, from the pass's problems and its runs (pure).

- PerformanceDropped (only with a performance trigger): True once a drop of the stable version's
  quality is confirmed, False at or above the threshold, Unknown while labels are too few or the
  evidence is inconclusive; the message carries the last evaluation.
- Retraining: True while a run's Job is active (RunActive), else Idle with the last outcome.
- Ready / Reconciling / Stalled (kstatus): exactly one is True.
  - Stalled when a person is needed: a configured trigger cannot fire (TriggerProblems), the newest
    run failed (RunFailed: the Job failed or left no usable result) or was rejected by a validation
    gate (ValidationFailed: nothing retries a drift episode that has been acted on), or the daily
    budget is spent and a trigger was skipped for it (BudgetExhausted, while it stays spent).
  - Reconciling while a run is active (Retraining).
  - Ready (Watching) otherwise: every configured trigger can fire and nothing runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from modelops.api.conditions import Status, Summary, ready, reconciling, set_condition, stalled, summarize
from modelops.api.v1alpha1.retrainpolicy import RetrainPolicySpec, RetrainPolicyStatus
from modelops.retrain.performance import condition as performance_condition

MAX_MESSAGE = 2000
DAY = timedelta(days=1)
PERFORMANCE = "PerformanceDropped"
BUDGET_PREFIX = "maxRunsPerDay"  # how the guard's reason for a budget skip begins (policy._guard)
STALLED_REASONS = (
    "InvalidSpec",
    "ModelDeploymentNotFound",
    "TriggerProblems",
    "RunFailed",
    "ValidationFailed",
    "BudgetExhausted",
)


def policy_summary(
    spec: RetrainPolicySpec, status: RetrainPolicyStatus, problems: Sequence[str], now: datetime
) -> Summary:
    """The one state of the policy."""
    if problems:
        return stalled("TriggerProblems", "; ".join(problems)[:MAX_MESSAGE])
    running = [r for r in status.runs if r.outcome == "Running"]
    if running:
        return reconciling("Retraining", "training: " + ", ".join(f"{r.name} ({r.trigger})" for r in running))
    last = status.last_run
    if last is not None and last.outcome == "Failed":
        return stalled("RunFailed", f"run {last.name} failed: {last.reason}"[:MAX_MESSAGE])
    if last is not None and last.outcome == "Rejected":
        return stalled(
            "ValidationFailed", f"run {last.name} ({last.version}) was rejected: {last.reason}"[:MAX_MESSAGE]
        )
    newest = status.runs[0] if status.runs else None
    today = [t for t in status.recent_starts if now - t < DAY]
    if (
        newest is not None
        and newest.outcome == "Skipped"
        and newest.reason.startswith(BUDGET_PREFIX)
        and len(today) >= spec.max_runs_per_day
    ):
        return stalled("BudgetExhausted", f"{newest.trigger} trigger skipped: {newest.reason}"[:MAX_MESSAGE])
    return ready("Watching", "every configured trigger can fire")


def set_conditions(
    spec: RetrainPolicySpec, status: RetrainPolicyStatus, problems: Sequence[str], now: datetime, generation: int | None
) -> None:
    """Ready/Reconciling/Stalled from policy_summary; Retraining: the active runs, else the last."""
    running = [r for r in status.runs if r.outcome == "Running"]
    if running:
        retraining: tuple[Status, str, str] = (
            "True",
            "RunActive",
            ", ".join(f"{r.name} ({r.trigger})" for r in running),
        )
    else:
        last = status.last_run
        retraining = ("False", "Idle", f"last run {last.name}: {last.outcome}" if last is not None else "no run yet")
    value, reason, message = retraining
    status.conditions = set_condition(
        status.conditions, "Retraining", value, reason, message, now=now, generation=generation
    )
    if spec.triggers.performance is not None:
        value, reason, message = performance_condition(status.performance)
        status.conditions = set_condition(
            status.conditions, PERFORMANCE, value, reason, message[:MAX_MESSAGE], now=now, generation=generation
        )
    else:
        status.conditions = [c for c in status.conditions if c.type != PERFORMANCE]
    status.conditions = summarize(
        status.conditions, policy_summary(spec, status, problems, now), now=now, generation=generation
    )
