"""Children a ModelDeployment pass could not apply, as its Degraded condition.

The state machine decides Degraded from the rollout (no ready replica, a rollback). A child
that cannot be applied (a route CRD not installed, a name taken by an object that is not
ours) is only known after the apply, so the controller folds it in after syncing children:
Degraded=True with the reason and a message naming the objects, kept while the problem
lasts (carried over the next pass's decision, so nothing flaps or is rewritten), and the
machine's own Degraded condition back once it is gone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from modelops.api.conditions import get_condition, set_condition
from modelops.api.v1alpha1.common import Condition

Reason = Literal["RouteCRDMissing", "ChildSyncFailed"]
REASONS: tuple[Reason, ...] = ("RouteCRDMissing", "ChildSyncFailed")
MAX_MESSAGE = 2000


@dataclass(frozen=True)
class SyncProblem:
    reason: Reason
    message: str


def _with(conditions: Sequence[Condition], replacement: Condition | None) -> list[Condition]:
    out = [c for c in conditions if c.type != "Degraded"]
    if replacement is not None:
        out.append(replacement)
    return sorted(out, key=lambda c: c.type)


def carry(previous: Sequence[Condition], decided: Sequence[Condition], generation: int | None) -> list[Condition]:
    """The decided conditions, keeping last pass's sync-problem Degraded until this pass's sync settles it."""
    old = get_condition(list(previous), "Degraded")
    if old is None or old.status != "True" or old.reason not in REASONS:
        return list(decided)
    return _with(decided, old.model_copy(update={"observed_generation": generation}))


def settle(
    conditions: Sequence[Condition],
    decided: Sequence[Condition],
    problems: Sequence[SyncProblem],
    *,
    now: datetime,
    generation: int | None,
) -> list[Condition]:
    """Degraded=True naming this pass's sync problems, else the machine's decided Degraded condition."""
    if not problems:
        return _with(conditions, get_condition(list(decided), "Degraded"))
    reasons = {p.reason for p in problems}
    reason: Reason = reasons.pop() if len(reasons) == 1 else "ChildSyncFailed"
    message = "; ".join(p.message for p in problems)[:MAX_MESSAGE]
    return set_condition(list(conditions), "Degraded", "True", reason, message, now=now, generation=generation)
