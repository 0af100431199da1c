"""Condition bookkeeping shared by every controller (pure: values in, values out)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import ValidationError

from modelops.api.v1alpha1.common import Condition

Status = Literal["True", "False", "Unknown"]


def set_condition(
    conditions: list[Condition],
    type_: str,
    status: Status,
    reason: str,
    message: str,
    *,
    now: datetime,
    generation: int | None,
) -> list[Condition]:
    """Replace (or add) one condition, keeping lastTransitionTime when the status is unchanged.

    Returning an equal list when nothing changed is what keeps status writes idempotent.
    """
    old = next((c for c in conditions if c.type == type_), None)
    since = old.last_transition_time if old is not None and old.status == status else now
    new = Condition(
        type=type_,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=since,
        observed_generation=generation,
    )
    out = [c for c in conditions if c.type != type_]
    out.append(new)
    return sorted(out, key=lambda c: c.type)


def get_condition(conditions: list[Condition], type_: str) -> Condition | None:
    return next((c for c in conditions if c.type == type_), None)


def explain_validation(error: ValidationError, root: str = "spec") -> str:
    """One line per problem, each naming the field as the user wrote it (camelCase path)."""
    lines = []
    for item in error.errors():
        path = ".".join([root, *(str(p) for p in item["loc"])])
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"{path}: {message}")
    return "; ".join(lines)


# ---- kstatus: Ready, Reconciling, Stalled ---------------------------------------------------------
#
# kstatus (sigs.k8s.io/cli-utils, used by Flux, kpt and `kubectl wait`-style tooling) reads two
# "abnormal-true" conditions: Reconciling=True means work is under way (InProgress), Stalled=True
# means progress needs a person (Failed). Neither True and status.observedGeneration equal to
# metadata.generation means Current. Ready is the condition `kubectl wait` users wait for. Every
# object is in exactly one of the three states, so exactly one of these conditions says so:
# Ready=True, Reconciling=True or Stalled=True, never two (kstatus would read whichever comes first).

State = Literal["Ready", "Reconciling", "Stalled"]
SUMMARY_TYPES = ("Ready", "Reconciling", "Stalled")


@dataclass(frozen=True)
class Summary:
    """Where an object stands, in one of the three kstatus states, with a reason a runbook names."""

    state: State
    reason: str
    message: str


def ready(reason: str, message: str) -> Summary:
    return Summary("Ready", reason, message)


def reconciling(reason: str, message: str) -> Summary:
    return Summary("Reconciling", reason, message)


def stalled(reason: str, message: str) -> Summary:
    return Summary("Stalled", reason, message)


def summarize(
    conditions: list[Condition], summary: Summary, *, now: datetime, generation: int | None
) -> list[Condition]:
    """Set Ready, Reconciling and Stalled from `summary`: exactly one of them True.

    Ready=False carries the reason and message of what is in the way (kstatus's convention for a
    resource that is reconciling or stalled), so `kubectl get` and `kubectl wait` users see why.
    """
    out = list(conditions)
    state, reason, message = summary.state, summary.reason, summary.message
    rows: tuple[tuple[str, Status, str, str], ...] = (
        ("Ready", "True" if state == "Ready" else "False", reason, message),
        (
            "Reconciling",
            "True" if state == "Reconciling" else "False",
            reason if state == "Reconciling" else ("Stalled" if state == "Stalled" else "Reconciled"),
            message if state != "Ready" else "",
        ),
        (
            "Stalled",
            "True" if state == "Stalled" else "False",
            reason if state == "Stalled" else "NotStalled",
            message if state == "Stalled" else "",
        ),
    )
    for type_, status, why, text in rows:
        out = set_condition(out, type_, status, why, text, now=now, generation=generation)
    return out


def summary_of(conditions: list[Condition]) -> Summary | None:
    """The state the conditions say (None when they do not say exactly one)."""
    true = [c for c in conditions if c.type in SUMMARY_TYPES and c.status == "True"]
    if len(true) != 1:
        return None
    c = true[0]
    state: State = "Ready" if c.type == "Ready" else ("Reconciling" if c.type == "Reconciling" else "Stalled")
    return Summary(state, c.reason, c.message)
