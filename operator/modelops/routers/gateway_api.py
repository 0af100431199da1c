"""Gateway API router: an owned HTTPRoute with weighted backendRefs to the role Services.

The user's Gateway stays the user's; the operator writes only its own HTTPRoute, so Argo
CD never sees a diff. Weights are integers summing to 100; in shadow mode the candidate
receives a mirrored copy of `mirror_percent` of requests (its answers are discarded).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelops.api import names
from modelops.api.names import Owner
from modelops.api.v1alpha1.modeldeployment import ModelDeploymentSpec
from modelops.routers.base import Kind, WeightedRoute

HTTPROUTE_API = "gateway.networking.k8s.io/v1"


def http_route(
    owner: Owner, spec: ModelDeploymentSpec, canary_weight: int, mirror_percent: int, has_canary: bool
) -> dict[str, Any]:
    md, port = owner.name, spec.traffic.port
    stable = {"name": names.role_service(md, "stable"), "port": port}
    canary = {"name": names.role_service(md, "canary"), "port": port}
    rule: dict[str, Any] = {"backendRefs": [{**stable, "weight": 100 - canary_weight}]}
    if has_canary:
        rule["backendRefs"].append({**canary, "weight": canary_weight})
        if mirror_percent > 0:
            mirror = {"backendRef": canary, "percent": mirror_percent}
            rule["filters"] = [{"type": "RequestMirror", "requestMirror": mirror}]
    metadata = {
        "name": md,
        "namespace": owner.namespace,
        "labels": names.common_labels(md, spec.model.name),
        "ownerReferences": [owner.reference()],
    }
    route: dict[str, Any] = {
        "apiVersion": HTTPROUTE_API,
        "kind": "HTTPRoute",
        "metadata": metadata,
        "spec": {"parentRefs": [p.wire() for p in spec.traffic.parent_refs], "rules": [rule]},
    }
    if spec.traffic.hosts:
        route["spec"]["hostnames"] = list(spec.traffic.hosts)
    return route


@dataclass(frozen=True)
class GatewayAPIRouter(WeightedRoute):
    name: str = "gatewayAPI"
    kinds: tuple[Kind, ...] = ((HTTPROUTE_API, "HTTPRoute"),)

    def objects(
        self, owner: Owner, spec: ModelDeploymentSpec, weight: int, mirror: int, canary: bool
    ) -> list[dict[str, Any]]:
        return [http_route(owner, spec, weight, mirror, canary)]
