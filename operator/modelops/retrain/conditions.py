"""A RetrainPolicy's Ready and Retraining conditions, from the pass's problems and its runs (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from modelops.api.conditions import Status, set_condition
from modelops.api.v1alpha1.retrainpolicy import RetrainPolicyStatus

MAX_MESSAGE = 2000


def set_conditions(status: RetrainPolicyStatus, problems: Sequence[str], now: datetime, generation: int | None) -> None:
    """Ready: every configured trigger can fire, else the problems; Retraining: the active runs, else the last."""
    if problems:
        ready: tuple[Status, str, str] = ("False", "TriggerProblems", "; ".join(problems)[:MAX_MESSAGE])
    else:
        ready = ("True", "Watching", "every configured trigger can fire")
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
    for type_, (value, reason, message) in (("Ready", ready), ("Retraining", retraining)):
        status.conditions = set_condition(
            status.conditions, type_, value, reason, message, now=now, generation=generation
        )
