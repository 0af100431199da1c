"""Replicas router: no mesh, no route; the split is the ratio of ready pods (coarse).

While a canary takes live traffic the model's Service selects every serving version, so a
weight becomes a pod count: c / (c + stable) = share. A version leaving the Service
terminates its pods, which drop out of the endpoints first. Because the Service selects by
the ModelDeployment's label alone, a retiring version (pods kept for scaleDownDelay) would
take traffic again: a new rollout waits until it is gone. There is no mirroring, so no shadow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelops.api.names import Owner
from modelops.api.v1alpha1.modeldeployment import ModelDeploymentSpec
from modelops.routers.base import Kind


@dataclass(frozen=True)
class ReplicasRouter:
    name: str = "replicas"
    kinds: tuple[Kind, ...] = ()
    mirrors: bool = False
    rollout_waits_for_retiring: bool = True

    def canary_replicas(self, replicas: int, share: float) -> int:
        if share >= 1:
            return replicas
        return max(1, round(replicas * share / max(1e-9, 1 - share)))

    def model_service_selects_every_version(self, canary_live: bool) -> bool:
        return canary_live

    def objects(
        self, owner: Owner, spec: ModelDeploymentSpec, weight: int, mirror: int, canary: bool
    ) -> list[dict[str, Any]]:
        return []

    def effective_weight(self, weight: int, stable_ready: int, canary_ready: int) -> int:
        total = stable_ready + canary_ready
        return round(100 * canary_ready / total) if total else 0
