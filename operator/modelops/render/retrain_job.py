"""The Job of one retraining run: the user's jobTemplate, owned, labelled, with MODELOPS_* injected.

Nothing the user wrote is changed: resources, backoffLimit, activeDeadlineSeconds,
ttlSecondsAfterFinished, volumes, images and args are kept as written. The operator adds
labels, an owner reference (deleting the RetrainPolicy deletes its Jobs) and, in every
container and init container, the MODELOPS_* variables the container does not set itself
(a user's MODELOPS_DATA_URI wins over nothing; the run's identity always comes from us).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from modelops.api.names import MANAGED_BY

POLICY_LABEL = "modelops.dev/retrain-policy"
RUN_LABEL = "modelops.dev/run"
# set by the operator whatever the template says: they name this run
RUN_ENV = (
    "MODELOPS_MODEL_NAME",
    "MODELOPS_CURRENT_VERSION",
    "MODELOPS_NEXT_VERSION",
    "MODELOPS_OUTPUT_URI",
    "MODELOPS_RUN",
    "MODELOPS_TRIGGER",
)


@dataclass(frozen=True)
class RunPlan:
    policy: str
    policy_uid: str
    namespace: str
    run: str
    model: str
    current_version: str
    next_version: str
    output_uri: str
    trigger: str
    data_window: str


def _env(plan: RunPlan) -> dict[str, str]:
    return {
        "MODELOPS_MODEL_NAME": plan.model,
        "MODELOPS_CURRENT_VERSION": plan.current_version,
        "MODELOPS_NEXT_VERSION": plan.next_version,
        "MODELOPS_OUTPUT_URI": plan.output_uri,
        "MODELOPS_RUN": plan.run,
        "MODELOPS_TRIGGER": plan.trigger,
        "MODELOPS_DATA_WINDOW": plan.data_window,
    }


def _inject(container: dict[str, Any], env: dict[str, str]) -> None:
    current = [e for e in container.get("env") or [] if e.get("name") not in RUN_ENV]
    present = {e.get("name") for e in current}
    container["env"] = current + [{"name": k, "value": v} for k, v in env.items() if k not in present]


def policy_owner(policy: str, uid: str) -> dict[str, Any]:
    """Owner reference to a RetrainPolicy: its Jobs and baseline ConfigMaps go when it goes."""
    return {
        "apiVersion": "modelops.dev/v1alpha1",
        "kind": "RetrainPolicy",
        "name": policy,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def job(plan: RunPlan, job_template: dict[str, Any]) -> dict[str, Any]:
    spec = copy.deepcopy(job_template)
    labels = {**MANAGED_BY, POLICY_LABEL: plan.policy, RUN_LABEL: plan.run}
    template = spec.setdefault("template", {})
    meta = template.setdefault("metadata", {})
    meta["labels"] = {**(meta.get("labels") or {}), **labels}
    pod = template.setdefault("spec", {})
    env = _env(plan)
    for kind in ("initContainers", "containers"):
        for container in pod.get(kind) or []:
            _inject(container, env)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": plan.run,
            "namespace": plan.namespace,
            "labels": labels,
            "ownerReferences": [policy_owner(plan.policy, plan.policy_uid)],
        },
        "spec": spec,
    }


def baseline_config_map(
    *, policy: str, policy_uid: str, namespace: str, run: str, name: str, document: str
) -> dict[str, Any]:
    """The ConfigMap holding a validated run's baseline document (owned by the policy)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {**MANAGED_BY, POLICY_LABEL: policy, RUN_LABEL: run},
            "ownerReferences": [policy_owner(policy, policy_uid)],
        },
        "data": {"baseline.json": document},
    }
