"""Traffic routers: one protocol, three implementations (Gateway API, Istio, replica ratio).

A router turns (weight, mirror) into the route objects the operator owns, and says what
weight the canary really gets. The user's Gateway, mesh and Services stay the user's; the
operator only writes its own HTTPRoute or VirtualService, so Argo CD never sees a diff.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from modelops.api.v1alpha1.modeldeployment import ModelDeploymentSpec
from modelops.render.routes import HTTPROUTE_API, VIRTUALSERVICE_API, http_route, virtual_service
from modelops.render.serving import Owner

Kind = tuple[str, str]  # (apiVersion, kind)


class TrafficRouter(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def kinds(self) -> tuple[Kind, ...]:
        """What it owns, so switching routers removes the old route."""
        ...

    def objects(
        self, owner: Owner, spec: ModelDeploymentSpec, weight: int, mirror: int, canary: bool
    ) -> list[dict[str, Any]]:
        """The route objects for this split."""
        ...

    def effective_weight(self, weight: int, stable_ready: int, canary_ready: int) -> int:
        """The share the canary actually receives."""
        ...


@dataclass(frozen=True)
class GatewayAPIRouter:
    name: str = "gatewayAPI"
    kinds: tuple[Kind, ...] = ((HTTPROUTE_API, "HTTPRoute"),)

    def objects(
        self, owner: Owner, spec: ModelDeploymentSpec, weight: int, mirror: int, canary: bool
    ) -> list[dict[str, Any]]:
        return [http_route(owner, spec, weight, mirror, canary)]

    def effective_weight(self, weight: int, stable_ready: int, canary_ready: int) -> int:
        return weight if canary_ready else 0


@dataclass(frozen=True)
class IstioRouter:
    name: str = "istio"
    kinds: tuple[Kind, ...] = ((VIRTUALSERVICE_API, "VirtualService"),)

    def objects(
        self, owner: Owner, spec: ModelDeploymentSpec, weight: int, mirror: int, canary: bool
    ) -> list[dict[str, Any]]:
        return [virtual_service(owner, spec, weight, mirror, canary)]

    def effective_weight(self, weight: int, stable_ready: int, canary_ready: int) -> int:
        return weight if canary_ready else 0


@dataclass(frozen=True)
class ReplicasRouter:
    """No mesh: the model's Service selects every version; the split is the ready-replica ratio (coarse)."""

    name: str = "replicas"
    kinds: tuple[Kind, ...] = ()

    def objects(
        self, owner: Owner, spec: ModelDeploymentSpec, weight: int, mirror: int, canary: bool
    ) -> list[dict[str, Any]]:
        return []

    def effective_weight(self, weight: int, stable_ready: int, canary_ready: int) -> int:
        total = stable_ready + canary_ready
        return round(100 * canary_ready / total) if total else 0


ROUTERS: dict[str, TrafficRouter] = {r.name: r for r in (GatewayAPIRouter(), IstioRouter(), ReplicasRouter())}
ALL_ROUTE_KINDS: tuple[Kind, ...] = tuple(k for r in ROUTERS.values() for k in r.kinds)
