"""Traffic routers: one protocol (`base`), one module per backend, a registry of them.

A router turns (weight, mirror) into the route objects the operator owns and says how
versions share pods and Services under it. The user's Gateway, mesh and Services stay the
user's; the operator only writes its own HTTPRoute or VirtualService, so Argo CD never sees
a diff. How to add a router: see `registry`.

Layer rule (enforced by import-linter): pure, no kopf, kubernetes or httpx; below render and
rollout, which consume the protocol.
"""

from modelops.routers.base import Kind, TrafficRouter
from modelops.routers.registry import ALL_ROUTE_KINDS, ROUTERS, router_for

__all__ = ["ALL_ROUTE_KINDS", "ROUTERS", "Kind", "TrafficRouter", "router_for"]
