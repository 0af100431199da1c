"""Istio router: an owned VirtualService with weighted destinations to the role Services.

The user's mesh and Gateways stay the user's; the operator writes only its own
VirtualService. In shadow mode the candidate is the mirror destination for
`mirror_percent` of requests (its answers are discarded) and takes no live traffic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelops.api import names
from modelops.api.names import Owner
from modelops.api.v1alpha1.modeldeployment import ModelDeploymentSpec
from modelops.routers.base import Kind, WeightedRoute

VIRTUALSERVICE_API = "networking.istio.io/v1"


def virtual_service(
    owner: Owner, spec: ModelDeploymentSpec, canary_weight: int, mirror_percent: int, has_canary: bool
) -> dict[str, Any]:
    md, port = owner.name, spec.traffic.port
    stable = {"host": names.role_service(md, "stable"), "port": {"number": port}}
    canary = {"host": names.role_service(md, "canary"), "port": {"number": port}}
    http: dict[str, Any] = {"route": [{"destination": stable, "weight": 100 - canary_weight}]}
    if has_canary:
        http["route"].append({"destination": canary, "weight": canary_weight})
        if mirror_percent > 0:
            http["mirror"] = canary
            http["mirrorPercentage"] = {"value": float(mirror_percent)}
    body: dict[str, Any] = {"hosts": list(spec.traffic.hosts), "http": [http]}
    if spec.traffic.gateways:
        body["gateways"] = list(spec.traffic.gateways)
    metadata = {
        "name": md,
        "namespace": owner.namespace,
        "labels": names.common_labels(md, spec.model.name),
        "ownerReferences": [owner.reference()],
    }
    return {"apiVersion": VIRTUALSERVICE_API, "kind": "VirtualService", "metadata": metadata, "spec": body}


@dataclass(frozen=True)
class IstioRouter(WeightedRoute):
    name: str = "istio"
    kinds: tuple[Kind, ...] = ((VIRTUALSERVICE_API, "VirtualService"),)

    def objects(
        self, owner: Owner, spec: ModelDeploymentSpec, weight: int, mirror: int, canary: bool
    ) -> list[dict[str, Any]]:
        return [virtual_service(owner, spec, weight, mirror, canary)]
