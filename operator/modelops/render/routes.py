"""Route objects of the mesh routers: a Gateway API HTTPRoute or an Istio VirtualService.

Weights are integers summing to 100; in shadow mode the candidate receives a mirrored copy
of `mirror_percent` of requests (its answers are discarded) and no live traffic.
"""

from __future__ import annotations

from typing import Any

from modelops.api.v1alpha1.modeldeployment import ModelDeploymentSpec
from modelops.render import names
from modelops.render.serving import Owner

HTTPROUTE_API = "gateway.networking.k8s.io/v1"
VIRTUALSERVICE_API = "networking.istio.io/v1"


def http_route(owner: Owner, spec: ModelDeploymentSpec, canary_weight: int, mirror_percent: int,
               has_canary: bool) -> dict[str, Any]:  # fmt: skip
    md, port = owner.name, spec.traffic.port
    stable = {"name": names.role_service(md, "stable"), "port": port}
    canary = {"name": names.role_service(md, "canary"), "port": port}
    rule: dict[str, Any] = {"backendRefs": [{**stable, "weight": 100 - canary_weight}]}
    if has_canary:
        rule["backendRefs"].append({**canary, "weight": canary_weight})
        if mirror_percent > 0:
            rule["filters"] = [
                {"type": "RequestMirror", "requestMirror": {"backendRef": canary, "percent": mirror_percent}}
            ]
    route: dict[str, Any] = {
        "apiVersion": HTTPROUTE_API,
        "kind": "HTTPRoute",
        "metadata": {"name": md, "namespace": owner.namespace, "labels": names.common_labels(md, spec.model.name),
                     "ownerReferences": [owner.reference()]},
        "spec": {"parentRefs": [p.wire() for p in spec.traffic.parent_refs], "rules": [rule]},
    }  # fmt: skip
    if spec.traffic.hosts:
        route["spec"]["hostnames"] = list(spec.traffic.hosts)
    return route


def virtual_service(owner: Owner, spec: ModelDeploymentSpec, canary_weight: int, mirror_percent: int,
                    has_canary: bool) -> dict[str, Any]:  # fmt: skip
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
    return {
        "apiVersion": VIRTUALSERVICE_API,
        "kind": "VirtualService",
        "metadata": {"name": md, "namespace": owner.namespace, "labels": names.common_labels(md, spec.model.name),
                     "ownerReferences": [owner.reference()]},
        "spec": body,
    }  # fmt: skip
