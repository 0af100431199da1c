"""ModelDeployment passes against the in-memory Kube: children applied, status and events written,
and children that cannot be applied reported in the Degraded condition until they can."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from modelops.api.v1alpha1 import API_VERSION
from modelops.controllers import rollout
from tests.controllers.fakes import FakeKube, FakePrometheus, memo
from tests.controllers.reconcile import run_pass

NS = "ml"


def model_deployment(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "ModelDeployment",
        "metadata": {"name": "fraud", "namespace": NS},
        "spec": {"model": {"name": "fraud", "version": "v1", "uri": "file:///m/v1.npz"}, **spec},
    }


def condition(kube: FakeKube, type_: str) -> dict[str, Any]:
    body = kube.find("ModelDeployment", "fraud")
    assert body is not None
    return next(c for c in body["status"]["conditions"] if c["type"] == type_)


def ready_all(kube: FakeKube) -> None:
    for deployment in kube.of_kind("Deployment"):
        deployment["status"] = {"readyReplicas": deployment["spec"]["replicas"]}


def test_a_new_deployment_gets_its_children_then_becomes_ready() -> None:
    kube = FakeKube()
    kube.put(model_deployment())
    m = memo(kube)
    run_pass(rollout.reconcile, kube, m, "ModelDeployment", "fraud")
    kinds = sorted({b["kind"] for b in kube.applied})
    assert "Deployment" in kinds and "Service" in kinds
    deployment = kube.of_kind("Deployment")[0]
    assert deployment["metadata"]["ownerReferences"][0]["name"] == "fraud"
    status = kube.find("ModelDeployment", "fraud")["status"]  # type: ignore[index]
    assert status["stable"]["version"] == "v1" and status["observedGeneration"] == 1
    assert condition(kube, "Accepted")["status"] == "True"
    assert condition(kube, "Degraded")["status"] == "False"

    ready_all(kube)
    applied = len(kube.applied)
    run_pass(rollout.reconcile, kube, m, "ModelDeployment", "fraud")
    assert condition(kube, "Ready")["status"] == "True"
    assert len(kube.applied) == applied  # children unchanged: nothing re-applied

    patches = len(kube.status_patches)
    run_pass(rollout.reconcile, kube, m, "ModelDeployment", "fraud")
    assert len(kube.status_patches) == patches  # a settled pass writes nothing


def test_a_canary_prometheus_cannot_see_is_judged_unknown() -> None:
    kube, prometheus = FakeKube(), FakePrometheus()  # every query answers no series
    kube.put(model_deployment())
    m = memo(kube, prometheus)
    run_pass(rollout.reconcile, kube, m, "ModelDeployment", "fraud")
    ready_all(kube)
    run_pass(rollout.reconcile, kube, m, "ModelDeployment", "fraud")
    kube.find("ModelDeployment", "fraud")["spec"]["model"].update(version="v2", uri="file:///m/v2.npz")  # type: ignore[index]
    run_pass(rollout.reconcile, kube, m, "ModelDeployment", "fraud")
    assert {d["metadata"]["name"] for d in kube.of_kind("Deployment")} == {"fraud-v1", "fraud-v2"}
    ready_all(kube)
    status = kube.find("ModelDeployment", "fraud")["status"]  # type: ignore[index]
    status["rolloutStartedAt"] = f"{datetime.now(UTC) - timedelta(seconds=90):%Y-%m-%dT%H:%M:%SZ}"  # one interval ago
    run_pass(rollout.reconcile, kube, m, "ModelDeployment", "fraud")
    status = kube.find("ModelDeployment", "fraud")["status"]  # type: ignore[index]
    assert any('version="v2"' in q for q in prometheus.queries)
    assert status["phase"] == "Progressing" and status["lastAnalysis"]["verdict"] == "Unknown"
    assert status["unknownChecks"] == 1 and status["canary"]["version"] == "v2"
    assert "AnalysisUnknown" in kube.reasons()


def test_an_invalid_spec_is_refused_with_a_condition_and_one_warning() -> None:
    kube = FakeKube()
    kube.put(model_deployment(replicas=0))
    m = memo(kube)
    run_pass(rollout.reconcile, kube, m, "ModelDeployment", "fraud")
    run_pass(rollout.reconcile, kube, m, "ModelDeployment", "fraud")
    accepted = condition(kube, "Accepted")
    assert accepted["status"] == "False" and accepted["reason"] == "InvalidSpec"
    assert kube.reasons() == ["InvalidSpec"] and kube.applied == []


def test_a_missing_route_crd_is_degraded_until_it_is_installed() -> None:
    kube = FakeKube(missing_kinds={"HTTPRoute"})
    kube.put(model_deployment(traffic={"router": "gatewayAPI", "parentRefs": [{"name": "gw"}]}))
    m = memo(kube)
    run_pass(rollout.reconcile, kube, m, "ModelDeployment", "fraud")
    degraded = condition(kube, "Degraded")
    assert degraded["status"] == "True" and degraded["reason"] == "RouteCRDMissing"
    assert "HTTPRoute" in degraded["message"]
    assert kube.of_kind("Deployment")  # the rest of the children are applied

    ready_all(kube)
    run_pass(rollout.reconcile, kube, m, "ModelDeployment", "fraud")
    patches = len(kube.status_patches)
    run_pass(rollout.reconcile, kube, m, "ModelDeployment", "fraud")
    assert len(kube.status_patches) == patches  # a lasting problem is not rewritten every pass
    assert condition(kube, "Degraded") == degraded | {"observedGeneration": 1}

    kube.missing_kinds.clear()
    run_pass(rollout.reconcile, kube, m, "ModelDeployment", "fraud")
    healed = condition(kube, "Degraded")
    assert healed["status"] == "False" and healed["reason"] == "Healthy"
    assert kube.of_kind("HTTPRoute")


def test_a_child_name_taken_by_someone_else_is_left_alone_and_degraded() -> None:
    kube = FakeKube()
    kube.put({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "fraud", "namespace": NS}, "spec": {}})
    kube.put(model_deployment())
    run_pass(rollout.reconcile, kube, memo(kube), "ModelDeployment", "fraud")
    degraded = condition(kube, "Degraded")
    assert degraded["reason"] == "ChildSyncFailed" and "Service fraud exists and is not ours" in degraded["message"]
    assert kube.find("Service", "fraud")["spec"] == {}  # type: ignore[index]
