"""A ModelDeployment's Ready, Reconciling and Stalled conditions (kstatus), from its status (pure).

Ready=True means the version the spec asks for (spec.model, or the RetrainPolicy's validated one)
serves and nothing is in progress: no canary, no shadow, no bake, no rollout waiting to start.
Reconciling=True while the operator is still working towards that, Stalled=True when it cannot
get there without a person; each Stalled reason has a runbook in docs/runbooks/.

| phase / situation                                 | state       | reason                    |
|---------------------------------------------------|-------------|---------------------------|
| child objects cannot be applied                   | Stalled     | RouteCRDMissing, ChildSyncFailed |
| no pod of the stable version can fetch its model   | Stalled     | ModelFetchFailed, SignatureInvalid |
| RolledBack (canary rolled back, aborted, reverted) | Stalled     | RolledBack                |
| RolledBack because the canary's fetch failed       | Stalled     | ModelFetchFailed, SignatureInvalid |
| Frozen (budget burn, or the SLOs cannot be read)  | Stalled     | Frozen                    |
| Pending (first version not ready yet)             | Reconciling | Deploying                 |
| Progressing / Paused / Promoting (a canary)       | Reconciling | Progressing, Paused, Promoting |
| Baking (the previous version kept warm)           | Reconciling | Baking, Reverting         |
| the spec's version differs, nothing started yet   | Reconciling | RolloutPending            |
| Degraded (no ready replica of the stable version) | Reconciling | NoReadyReplicas           |
| otherwise                                         | Ready       | Serving                   |

An invalid spec (Accepted=False) is Stalled with reason InvalidSpec, set before any of this runs.
"""

from __future__ import annotations

from modelops.api.conditions import Summary, get_condition, ready, reconciling, stalled
from modelops.api.v1alpha1.modeldeployment import ModelDeploymentStatus
from modelops.rollout.fetch_failures import CONDITION_REASONS as FETCH_REASONS
from modelops.rollout.fetch_failures import condition_reason
from modelops.rollout.sync_problems import REASONS as SYNC_REASONS

STALLED_REASONS = ("InvalidSpec", *SYNC_REASONS, "RolledBack", *FETCH_REASONS, "Frozen")
RECONCILING_REASONS = (
    "Deploying",
    "Progressing",
    "Paused",
    "Promoting",
    "Baking",
    "Reverting",
    "RolloutPending",
    "NoReadyReplicas",
)


def rolled_back_reason(status: ModelDeploymentStatus) -> str | None:
    """ModelFetchFailed or SignatureInvalid when the blocked version was rolled back because its pods
    could not fetch or verify it (its history entry's failureReason), else None."""
    if status.phase != "RolledBack" or status.blocked_version is None:
        return None
    ended = next((h for h in status.history if h.version == status.blocked_version), None)
    return ended.failure_reason if ended is not None and ended.failure_reason else None


def deployment_summary(status: ModelDeploymentStatus, target_version: str) -> Summary:
    """The one state the ModelDeployment is in, given the version it should serve."""
    s = status
    degraded = get_condition(s.conditions, "Degraded")
    if degraded is not None and degraded.status == "True" and degraded.reason in SYNC_REASONS:
        return stalled(degraded.reason, degraded.message)
    failed = s.stable.fetch_failure if s.stable is not None else None
    if failed is not None and s.stable is not None and s.stable.ready_replicas == 0:
        return stalled(condition_reason(failed.reason), s.message)
    if s.phase == "RolledBack" and s.blocked_version is not None:  # else the spec went back to what serves
        # a fetch failure's reason (the message quotes the pods' own words), else RolledBack
        return stalled(rolled_back_reason(s) or "RolledBack", s.message)
    if s.phase == "Frozen":
        return stalled("Frozen", s.message)
    if s.stable is None or s.phase == "Pending":
        return reconciling("Deploying", s.message or f"deploying {target_version}")
    if s.canary is not None:
        reason = s.phase if s.phase in {"Paused", "Promoting"} else "Progressing"
        return reconciling(reason, s.message)
    if s.bake is not None:
        return reconciling("Reverting" if s.bake.reverting is not None else "Baking", s.message)
    if s.stable.version != target_version:
        return reconciling("RolloutPending", s.message or f"rollout of {target_version} has not started")
    if s.stable.ready_replicas < 1:
        return reconciling("NoReadyReplicas", s.message or f"no ready replica of {s.stable.version}")
    return ready("Serving", s.message)
