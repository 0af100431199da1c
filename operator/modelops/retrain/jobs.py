"""What a run's Job and its pods say, read into typed views, and what that means for the run.

Pure: the controller lists the Job and its pods and hands them here; the run's state
(active, succeeded with the trainer's termination message, failed with the reason a
person needs: the Job's condition and the last pod's exit) is decided from the views.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import field_validator

from modelops.api.v1alpha1.views import ConditionView, MetaView, View


@dataclass(frozen=True)
class JobState:
    """What the cluster says about one run's Job."""

    phase: Literal["active", "succeeded", "failed"]
    message: str | None = None  # the trainer container's termination message
    reason: str = ""  # why it failed: the Job's condition and the pod's exit status


class JobStatusView(View):
    conditions: list[ConditionView] | None = None


class JobView(View):
    metadata: MetaView = MetaView()
    status: JobStatusView | None = None

    def true_conditions(self) -> dict[str, ConditionView]:
        """Conditions with status True, by type (the last of a type wins)."""
        found = self.status.conditions if self.status is not None else None
        return {c.type or "": c for c in found or [] if c.status == "True"}

    @property
    def finished(self) -> bool:
        conditions = self.true_conditions()
        return "Complete" in conditions or "Failed" in conditions


class TerminatedView(View):
    exit_code: int | None = None
    reason: str | None = None
    message: str | None = None


class ContainerStateView(View):
    terminated: TerminatedView | None = None

    @field_validator("terminated", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return value or None  # {} says nothing ended


class ContainerStatusView(View):
    name: str | None = None
    state: ContainerStateView | None = None


class PodStatusView(View):
    container_statuses: list[ContainerStatusView] | None = None


class PodView(View):
    metadata: MetaView = MetaView()
    status: PodStatusView | None = None

    def terminated(self) -> list[tuple[str | None, TerminatedView]]:
        """(container name, how it ended) of every container that ended."""
        statuses = self.status.container_statuses if self.status is not None else None
        return [
            (c.name, c.state.terminated)
            for c in statuses or []
            if c.state is not None and c.state.terminated is not None
        ]


def job_state(job: JobView, pods: Sequence[PodView]) -> JobState:
    """Active until the Job is Complete or Failed; a finished Job carries the termination message of
    the last container that exited 0, a failed one also the Job's reason and the last pod's exit."""
    if not job.finished:
        return JobState("active")
    conditions = job.true_conditions()
    message, exits = None, []
    for pod in sorted(pods, key=lambda p: p.metadata.creation_timestamp or ""):
        for name, ended in pod.terminated():
            exits.append(f"{name} exit {ended.exit_code} ({ended.reason or 'no reason'})")
            if ended.exit_code == 0 and ended.message:
                message = ended.message
    if "Complete" in conditions:
        return JobState("succeeded", message)
    failed = conditions["Failed"]
    reason = f"Job failed: {failed.reason or 'Failed'}: {failed.message or ''}".rstrip(": ")
    if exits:
        reason += f"; last pod: {exits[-1]}"
    return JobState("failed", message, reason)
