"""The one Event type the pure decisions emit and the controllers post.

Rollout, retrain and drift decisions each report what happened as Kubernetes Events; one type
means the controllers post them the same way and a test compares them the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

EventType = Literal["Normal", "Warning"]


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event to post about the object a decision was made for."""

    type: EventType
    reason: str  # UpperCamelCase, fixed per kind of happening (alerts and tests match on it)
    message: str
