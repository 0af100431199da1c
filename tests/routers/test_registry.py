"""Adding a router is one module plus a registry line: a fake one drives the machine and the renderer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from modelops.api import names
from modelops.api.names import Owner
from modelops.api.v1alpha1 import ModelDeploymentSpec, ModelDeploymentStatus
from modelops.render.children import serving_objects
from modelops.render.serving import VersionPlan
from modelops.rollout.machine import RolloutDecision, RolloutObservations, Target, decide
from modelops.routers import ROUTERS, router_for
from modelops.routers.base import Kind, TrafficRouter

SPLIT_API = "split.smi-spec.io/v1alpha4"
OWNER = Owner("fraud", "ml", "uid-1")
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class SplitRouter:
    """An SMI-like router: an owned TrafficSplit; the candidate runs full replicas from the start."""

    name: str = "smi"
    kinds: tuple[Kind, ...] = ((SPLIT_API, "TrafficSplit"),)
    mirrors: bool = False
    rollout_waits_for_retiring: bool = False

    def canary_replicas(self, replicas: int, share: float) -> int:
        return replicas

    def model_service_selects_every_version(self, canary_live: bool) -> bool:
        return False

    def objects(
        self, owner: Owner, spec: ModelDeploymentSpec, weight: int, mirror: int, canary: bool
    ) -> list[dict[str, Any]]:
        backends = [{"service": names.role_service(owner.name, "stable"), "weight": 100 - weight}]
        if canary:
            backends.append({"service": names.role_service(owner.name, "canary"), "weight": weight})
        return [
            {
                "apiVersion": SPLIT_API,
                "kind": "TrafficSplit",
                "metadata": {"name": owner.name},
                "spec": {"service": owner.name, "backends": backends},
            }
        ]

    def effective_weight(self, weight: int, stable_ready: int, canary_ready: int) -> int:
        return weight if canary_ready else 0


@pytest.fixture
def smi(monkeypatch: pytest.MonkeyPatch) -> ModelDeploymentSpec:
    """A spec on the fake router, registered for this test only (the API enum would list it in a real one)."""
    fake: TrafficRouter = SplitRouter()
    monkeypatch.setitem(ROUTERS, fake.name, fake)
    spec = ModelDeploymentSpec.model_validate(
        {
            "model": {"name": "fraud", "version": "v1", "uri": "file:///m/v1"},
            "replicas": 4,
            "rollout": {"interval": "1m"},
        }
    )
    return spec.model_copy(update={"traffic": spec.traffic.model_copy(update={"router": fake.name})})


def _render(spec: ModelDeploymentSpec, decision: RolloutDecision) -> dict[tuple[str, str], dict[str, Any]]:
    status = decision.status
    assert status.stable is not None and status.canary is not None
    plans = [
        VersionPlan(p.version, p.uri, p.sha256, p.replicas, p.share, p.variant, p.baseline, p.autoscaled)
        for p in decision.plans
    ]
    objects = serving_objects(
        OWNER,
        spec,
        plans,
        stable_version=status.stable.version,
        canary_version=status.canary.version,
        serving_image="img",
        split=True,
    )
    objects += router_for(spec).objects(OWNER, spec, decision.canary_weight, decision.mirror_percent, True)
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


def test_a_registered_router_drives_the_machine_and_the_renderer(smi: ModelDeploymentSpec) -> None:
    assert isinstance(router_for(smi), SplitRouter)
    v1, v2 = Target("v1", "file:///m/v1"), Target("v2", "file:///m/v2")
    status, now = ModelDeploymentStatus(), T0
    for ready in ({}, {"v1": 4}):
        status = decide(smi, status, v1, RolloutObservations(ready=ready), now).status
    assert status.phase == "Available"
    decision = decide(smi, status, v2, RolloutObservations(ready={"v1": 4}), now + timedelta(seconds=20))
    assert decision.status.phase == "Progressing"
    both_ready = RolloutObservations(ready={"v1": 4, "v2": 4})
    decision = decide(smi, decision.status, v2, both_ready, now + timedelta(seconds=40))
    weight = decision.canary_weight
    assert 0 < weight < 100
    assert [(p.version, p.replicas) for p in decision.plans] == [("v1", 4), ("v2", 4)]  # the fake's replica rule

    children = _render(smi, decision)
    split = children[("TrafficSplit", "fraud")]["spec"]["backends"]
    assert split == [{"service": "fraud-stable", "weight": 100 - weight}, {"service": "fraud-canary", "weight": weight}]
    model = children[("Service", "fraud")]["spec"]["selector"]
    assert model == names.version_selector("fraud", "v1")  # the fake's selector rule: stable only
    assert ("Deployment", names.deployment_name("fraud", "v2")) in children
