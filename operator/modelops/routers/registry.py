"""Which backend a spec.traffic.router value selects.

Adding a router (SMI/Linkerd, Traefik...) touches one new module and one line here:

1. `routers/<name>.py` with a frozen dataclass that satisfies `base.TrafficRouter`: its
   name, the route kinds it owns, its route builder (`objects`, pure, returns manifests),
   its replica rule (`canary_replicas`), its Service-selector rule, whether it mirrors and
   whether a new rollout waits for retiring versions, and the effective weight (a router
   that splits requests in a route it owns inherits all but its name, kinds and `objects`
   from `base.WeightedRoute`, as gateway_api.py and istio.py do);
2. its instance in `ROUTERS` below;
3. the value in the API's `Router` enum (and, if it cannot mirror, in the shadow rule of
   `ModelDeploymentSpec`); tests/routers check that the API and the registry agree.

Nothing in rollout/ or render/ changes: they ask the router's capabilities, never its name
(tests/routers/test_registry.py runs the machine and the renderer with a fake router).
"""

from __future__ import annotations

from modelops.api.v1alpha1.modeldeployment import ModelDeploymentSpec
from modelops.routers.base import Kind, TrafficRouter
from modelops.routers.gateway_api import GatewayAPIRouter
from modelops.routers.istio import IstioRouter
from modelops.routers.replicas import ReplicasRouter

ROUTERS: dict[str, TrafficRouter] = {r.name: r for r in (GatewayAPIRouter(), IstioRouter(), ReplicasRouter())}
ALL_ROUTE_KINDS: tuple[Kind, ...] = tuple(k for r in ROUTERS.values() for k in r.kinds)


def router_for(spec: ModelDeploymentSpec) -> TrafficRouter:
    """The backend of spec.traffic.router."""
    return ROUTERS[spec.traffic.router]
