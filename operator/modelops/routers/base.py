"""What the rollout machine, the renderer and the controller ask of a traffic router.

Routers differ in how a weight becomes traffic: a mesh (Gateway API, Istio) splits requests
in a route the operator owns, so each version runs pods for its own load; the replicas
router has no route, the model's Service selects every version and the split is the ratio
of ready pods. Every difference the pure layers care about is a member of `TrafficRouter`,
so they ask a capability, never compare a router's name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

from modelops.api.names import Owner
from modelops.api.v1alpha1.modeldeployment import ModelDeploymentSpec

Kind = tuple[str, str]  # (apiVersion, kind)


class TrafficRouter(Protocol):
    @property
    def name(self) -> str:
        """The spec.traffic.router value that selects it."""
        ...

    @property
    def kinds(self) -> tuple[Kind, ...]:
        """What it owns, so switching routers removes the old route."""
        ...

    @property
    def mirrors(self) -> bool:
        """It can send a shadow a copy of requests (rollout.strategy shadow) without live traffic."""
        ...

    @property
    def rollout_waits_for_retiring(self) -> bool:
        """A new rollout starts only once no version is retiring (its pods would take live traffic again)."""
        ...

    def canary_replicas(self, replicas: int, share: float) -> int:
        """Pods the candidate runs to take `share` (0..1) of live traffic next to `replicas` stable pods."""
        ...

    def model_service_selects_every_version(self, canary_live: bool) -> bool:
        """The model's Service selects every serving version (else the stable one only)."""
        ...

    def objects(
        self, owner: Owner, spec: ModelDeploymentSpec, weight: int, mirror: int, canary: bool
    ) -> list[dict[str, Any]]:
        """The route objects for this split (pure: manifests as plain dicts)."""
        ...

    def effective_weight(self, weight: int, stable_ready: int, canary_ready: int) -> int:
        """The share the canary actually receives."""
        ...


def load_replicas(replicas: int, share: float) -> int:
    """Pods for `share` of the load a full version serves with `replicas` (at least one)."""
    return max(1, math.ceil(replicas * share))


@dataclass(frozen=True)
class WeightedRoute:
    """The rules of every router that splits requests in a route it owns (a mesh or a gateway).

    Each version runs pods for its own load, the model's Service selects the stable version
    only, a retiring version is in no route (a new rollout need not wait for it), and the
    canary gets its weight once one of its pods is ready. A backend adds its name, its kinds
    and `objects` (the route builder).
    """

    mirrors: bool = True
    rollout_waits_for_retiring: bool = False

    def canary_replicas(self, replicas: int, share: float) -> int:
        return load_replicas(replicas, share)

    def model_service_selects_every_version(self, canary_live: bool) -> bool:
        return False  # the route splits between the role Services

    def effective_weight(self, weight: int, stable_ready: int, canary_ready: int) -> int:
        return weight if canary_ready else 0
