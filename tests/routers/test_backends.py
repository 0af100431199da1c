"""Each backend's rules, and that the registry and the API agree on the routers."""

from __future__ import annotations

from typing import Any, get_args

import pytest
from pydantic import ValidationError

from modelops.api.v1alpha1 import ModelDeploymentSpec
from modelops.api.v1alpha1.modeldeployment import Router
from modelops.routers import ALL_ROUTE_KINDS, ROUTERS
from modelops.routers.gateway_api import GatewayAPIRouter
from modelops.routers.istio import IstioRouter
from modelops.routers.replicas import ReplicasRouter

MESH = [GatewayAPIRouter(), IstioRouter()]
TRAFFIC: dict[str, Any] = {"parentRefs": [{"name": "gw"}], "hosts": ["m.example"]}


def test_the_registry_serves_every_router_the_api_accepts() -> None:
    assert set(ROUTERS) == set(get_args(Router))
    assert all(name == router.name for name, router in ROUTERS.items())
    assert set(ALL_ROUTE_KINDS) == {
        ("gateway.networking.k8s.io/v1", "HTTPRoute"),
        ("networking.istio.io/v1", "VirtualService"),
    }


@pytest.mark.parametrize("name", sorted(ROUTERS))
def test_the_api_allows_a_shadow_exactly_where_the_router_mirrors(name: str) -> None:
    body = {
        "model": {"name": "m", "version": "v1", "uri": "file:///m"},
        "traffic": {"router": name, **TRAFFIC},
        "rollout": {"strategy": "shadow"},
    }
    try:
        ModelDeploymentSpec.model_validate(body)
        accepted = True
    except ValidationError:
        accepted = False
    assert accepted is ROUTERS[name].mirrors


@pytest.mark.parametrize(
    ("replicas", "share", "pods"),
    [(2, 0.1, 1), (2, 0.5, 2), (4, 0.2, 1), (3, 0.75, 9), (2, 1.0, 2), (10, 0.25, 3)],
)
def test_the_replicas_router_approximates_a_weight_by_the_pod_ratio(replicas: int, share: float, pods: int) -> None:
    assert ReplicasRouter().canary_replicas(replicas, share) == pods


@pytest.mark.parametrize("router", MESH, ids=lambda r: r.name)
@pytest.mark.parametrize(("replicas", "share", "pods"), [(2, 0.1, 1), (2, 0.5, 1), (10, 0.25, 3), (3, 1.0, 3)])
def test_mesh_routers_size_the_canary_for_its_load(router: Any, replicas: int, share: float, pods: int) -> None:
    assert router.canary_replicas(replicas, share) == pods


def test_only_the_replicas_router_shares_the_model_service_and_waits_for_retiring_versions() -> None:
    replicas = ReplicasRouter()
    assert replicas.model_service_selects_every_version(True) and not replicas.model_service_selects_every_version(
        False
    )
    assert replicas.rollout_waits_for_retiring and not replicas.mirrors and replicas.kinds == ()
    for mesh in MESH:
        assert not mesh.model_service_selects_every_version(True) and not mesh.rollout_waits_for_retiring


def test_effective_weight() -> None:
    assert ReplicasRouter().effective_weight(10, stable_ready=3, canary_ready=1) == 25
    assert ReplicasRouter().effective_weight(10, stable_ready=0, canary_ready=0) == 0
    for mesh in MESH:
        assert mesh.effective_weight(10, 3, 1) == 10 and mesh.effective_weight(10, 3, 0) == 0
