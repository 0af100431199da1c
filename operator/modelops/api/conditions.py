"""Condition bookkeeping shared by every controller (pure: values in, values out)."""

from __future__ import annotations

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
