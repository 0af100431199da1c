"""The ModelDeployment controller on the real control plane (kwok runs the pods; no Prometheus).

Without Prometheus every analysis is Unknown, which is exactly what these tests need to
prove the safety rules; the judged rollouts with real metrics live in the data-plane tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelops_devcluster import crds as extra_crds
from modelops_devcluster import objects
from modelops_devcluster.kwok import PROBES_PASS_ANNOTATION
from modelops_devcluster.operator import OperatorProcess

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
NS = "rollout-tests"


@pytest.fixture(scope="module")
def operator(cluster: Any) -> Iterator[OperatorProcess]:
    objects.install_crds(cluster)
    extra_crds.install(cluster, extra_crds.gateway_api_crds())
    cluster.kubectl("create", "namespace", NS, check=False)
    with OperatorProcess(cluster.env, [NS]) as process:
        yield process
    print(process.logs()[-4000:])


# No data plane runs these pods, so nothing would ever answer their readiness probes: kwok
# plays a kubelet whose probes pass at once (see modelops_devcluster.kwok).
PROBES_PASS = {"podTemplate": {"metadata": {"annotations": {PROBES_PASS_ANNOTATION: "true"}}}}


def _apply(cluster: Any, name: str, version: str, **spec: Any) -> None:
    spec.setdefault("runtime", PROBES_PASS)
    body = {
        "apiVersion": "modelops.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"model": {"name": name, "version": version, "uri": f"file:///models/{version}/model.npz"}, **spec},
    }
    objects.apply(cluster, NS, body, field_manager="tests")


def _get(cluster: Any, kind: str, name: str) -> dict[str, Any] | None:
    return objects.get(cluster, NS, kind, name)


def _wait(cluster: Any, name: str, what: Callable[[dict[str, Any]], bool], timeout: float = 60) -> dict[str, Any]:
    """The ModelDeployment once `what` holds on its status."""
    found = objects.until(
        name,
        lambda: _get(cluster, "md", name),
        lambda o: o is not None and what(o.get("status") or {}),
        timeout=timeout,
    )
    assert found is not None
    return found


def _deployments(cluster: Any, name: str) -> dict[str, int]:
    return objects.deployment_replicas(cluster, NS, name)


def _gone(cluster: Any, name: str, deployment: str, timeout: float = 20) -> dict[str, int]:
    """The ModelDeployment's Deployments once `deployment` is no longer among them."""
    return objects.until(
        f"{deployment} deleted", lambda: _deployments(cluster, name), lambda d: deployment not in d, timeout=timeout
    )


def test_first_version_serves_with_owned_children(cluster: Any, operator: OperatorProcess) -> None:
    _apply(cluster, "first", "v1", replicas=2)
    obj = _wait(cluster, "first", lambda s: s.get("phase") == "Available")
    assert obj["status"]["stable"]["readyReplicas"] == 2 and not obj["metadata"].get("finalizers")
    uid = obj["metadata"]["uid"]
    for kind, name in (("deploy", "first-v1"), ("svc", "first"), ("svc", "first-stable"), ("pdb", "first")):
        child = _get(cluster, kind, name)
        assert child is not None, (kind, name)
        assert child["metadata"]["ownerReferences"][0]["uid"] == uid
        assert child["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "modelops"
    pods = json.loads(
        cluster.kubectl("get", "pods", "-n", NS, "-l", "modelops.dev/deployment=first", "-o", "json").stdout
    )
    assert len(pods["items"]) == 2 and all(p["status"]["podIP"].startswith("127.") for p in pods["items"])
    columns = cluster.kubectl("get", "-n", NS, "md", "first").stdout.splitlines()[1].split()
    assert columns[1:3] == ["Available", "v1"]


def test_without_the_prometheusrule_crd_alerts_are_a_condition_not_an_error(
    cluster: Any, operator: OperatorProcess
) -> None:
    """This cluster has no Prometheus Operator: the model serves, AlertRules says why its alerts are not
    installed, one Warning event says so, and no pass fails (no error loop)."""
    _apply(cluster, "no-rules", "v1", replicas=1)
    obj = _wait(
        cluster,
        "no-rules",
        lambda s: any(c["type"] == "AlertRules" for c in s.get("conditions", [])) and s.get("phase") == "Available",
    )
    conditions = {c["type"]: c for c in obj["status"]["conditions"]}
    alerts = conditions["AlertRules"]
    assert (alerts["status"], alerts["reason"]) == ("False", "PrometheusRuleCRDMissing"), alerts
    assert "PrometheusRule.monitoring.coreos.com/v1 is not served" in alerts["message"]
    assert conditions["Ready"]["status"] == "True" and conditions["Degraded"]["status"] == "False"
    events = json.loads(
        cluster.kubectl(
            "get", "events", "-n", NS, "--field-selector", "involvedObject.name=no-rules", "-o", "json"
        ).stdout
    )["items"]
    assert sum(e.get("count", 1) for e in events if e["reason"] == "PrometheusRuleCRDMissing") == 1, events
    assert operator.metric("modelops_reconcile_total", kind="ModelDeployment", result="error") == 0


def test_without_data_a_rollout_holds_then_rolls_back(cluster: Any, operator: OperatorProcess) -> None:
    rollout = {"interval": "3s", "maxUnknownChecks": 3, "scaleDownDelay": "4s"}
    _apply(cluster, "blind", "v1", rollout=rollout)
    _wait(cluster, "blind", lambda s: s.get("phase") == "Available")
    _apply(cluster, "blind", "v2", rollout=rollout)
    _wait(cluster, "blind", lambda s: s.get("canary", {}).get("version") == "v2")
    assert "blind-v2" in _deployments(cluster, "blind")
    obj = _wait(cluster, "blind", lambda s: s.get("phase") == "RolledBack")
    status = obj["status"]
    assert status["stable"]["version"] == "v1" and "canary" not in status and status["canaryWeight"] == 0
    assert status["blockedVersion"] == "v2"
    assert status["history"][0]["outcome"] == "RolledBack" and status["history"][0]["version"] == "v2"
    assert "no Prometheus configured" in status["history"][0]["reason"]
    degraded = next(c for c in status["conditions"] if c["type"] == "Degraded")
    assert degraded["status"] == "True" and "spec.rollout.retry" in degraded["message"]
    assert [r["version"] for r in status["retiring"]] == ["v2"]  # kept for the scale-down delay, then removed
    assert _gone(cluster, "blind", "blind-v2") == {"blind-v1": 2}
    reasons = {e["reason"] for e in objects.events(cluster, NS, "blind")}
    assert {"RolloutStarted", "AnalysisUnknown", "RolledBack"} <= reasons


def test_promote_nonce_skips_steps_and_bake_keeps_the_previous_version(cluster: Any, operator: OperatorProcess) -> None:
    rollout: dict[str, Any] = {"interval": "2s", "bakeTime": "6s", "maxUnknownChecks": 100, "scaleDownDelay": "2s"}
    _apply(cluster, "manual", "v1", rollout=rollout)
    _wait(cluster, "manual", lambda s: s.get("phase") == "Available")
    _apply(cluster, "manual", "v2", rollout=rollout)
    _wait(cluster, "manual", lambda s: s.get("phase") == "Progressing")
    _apply(cluster, "manual", "v2", rollout={**rollout, "promote": "on-call-1"})
    obj = _wait(cluster, "manual", lambda s: s.get("phase") == "Baking")
    assert obj["status"]["stable"]["version"] == "v2" and obj["status"]["acknowledged"]["promote"] == "on-call-1"
    assert obj["status"]["bake"]["previous"]["version"] == "v1"
    assert _deployments(cluster, "manual") == {"manual-v1": 2, "manual-v2": 2}  # v1 kept warm, out of traffic
    _wait(cluster, "manual", lambda s: s.get("phase") == "Available", timeout=30)
    assert _gone(cluster, "manual", "manual-v1") == {"manual-v2": 2}
    # applying the same manifest again (GitOps resync) does not promote anything twice, nor does a later
    # change of another field (the nonce stays): the operator has passed it once observedGeneration moves on
    _apply(cluster, "manual", "v2", rollout={**rollout, "promote": "on-call-1"})
    _apply(cluster, "manual", "v2", rollout={**rollout, "promote": "on-call-1", "maxUnknownChecks": 99})
    generation = _get(cluster, "md", "manual")["metadata"]["generation"]  # type: ignore[index]
    obj = _wait(cluster, "manual", lambda s: s.get("observedGeneration") == generation)
    assert [h["outcome"] for h in obj["status"]["history"]] == ["Promoted"]


def test_an_object_a_user_wrote_is_never_taken_over(cluster: Any, operator: OperatorProcess) -> None:
    meta = {"name": "mine-stable", "namespace": NS, "labels": {"owner": "user"}}
    spec = {"selector": {"app": "user"}, "ports": [{"port": 81}]}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec}
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(service))
    _apply(cluster, "mine", "v1")
    _wait(cluster, "mine", lambda s: s.get("phase") == "Available")
    # the pass that wrote Available has synced the children too: it ends by setting the phase series
    available = {"namespace": NS, "name": "mine", "modelops_rollout_phase": "Available"}
    objects.until(
        "mine's pass", lambda: operator.metric("modelops_rollout_phase", **available), lambda v: v == 1, timeout=30
    )
    svc = _get(cluster, "svc", "mine-stable")
    assert svc is not None and svc["spec"]["selector"] == {"app": "user"} and not svc["metadata"].get("ownerReferences")


def test_gateway_api_route_carries_the_weights(cluster: Any, operator: OperatorProcess) -> None:
    traffic = {
        "router": "gatewayAPI",
        "parentRefs": [{"name": "public", "namespace": "gateways"}],
        "hosts": ["m.example"],
    }
    rollout = {"interval": "2s", "paused": True, "steps": [{"setWeight": 30}, {"analysis": {"intervals": 1}}]}
    _apply(cluster, "routed", "v1", traffic=traffic, rollout=rollout)
    _wait(cluster, "routed", lambda s: s.get("phase") == "Available")
    route = _get(cluster, "httproute", "routed")
    assert route is not None
    assert [(b["name"], b["weight"]) for b in route["spec"]["rules"][0]["backendRefs"]] == [("routed-stable", 100)]
    _apply(cluster, "routed", "v2", traffic=traffic, rollout={**rollout, "paused": False})
    _wait(cluster, "routed", lambda s: s.get("canaryWeight") == 30)

    def weights() -> list[tuple[str, int]]:
        route = _get(cluster, "httproute", "routed")
        return [(b["name"], b["weight"]) for b in route["spec"]["rules"][0]["backendRefs"]] if route else []

    split = [("routed-stable", 70), ("routed-canary", 30)]
    objects.until("the route's 70/30 split", weights, lambda w: w == split, timeout=20)
    route = _get(cluster, "httproute", "routed")
    parent = {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "public", "namespace": "gateways"}
    assert route is not None and route["spec"]["parentRefs"] == [parent]


def test_a_killed_operator_continues_the_same_rollout(cluster: Any, operator: OperatorProcess) -> None:
    rollout: dict[str, Any] = {"interval": "2s", "maxUnknownChecks": 4, "paused": True}
    _apply(cluster, "crash", "v1", rollout=rollout)
    _wait(cluster, "crash", lambda s: s.get("phase") == "Available")
    _apply(cluster, "crash", "v2", rollout=rollout)
    before = _wait(cluster, "crash", lambda s: s.get("phase") == "Paused")["status"]
    operator.kill()
    _apply(cluster, "crash", "v2", rollout={**rollout, "paused": False})  # changed while no operator runs
    with OperatorProcess(cluster.env, [NS]) as second:
        obj = _wait(cluster, "crash", lambda s: s.get("phase") == "RolledBack", timeout=60)
        status = obj["status"]
        assert status["history"][0]["version"] == "v2" and "without a verdict" in status["history"][0]["reason"]
        assert before["rolloutStartedAt"] and status["history"][0]["at"] >= before["rolloutStartedAt"]
        del second
    operator.start()


def _plugin(cluster: Any, *args: str) -> str:
    env = {**cluster.env, "PYTHONPATH": str(ROOT / "operator")}
    command = [sys.executable, "-m", "modelops.cli.kubectl_plugin", "-n", NS, *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=True).stdout


def test_kubectl_plugin_verbs_steer_a_rollout(cluster: Any, operator: OperatorProcess) -> None:
    rollout = {"interval": "2s", "bakeTime": "0s", "maxUnknownChecks": 100}
    _apply(cluster, "oncall", "v1", rollout=rollout)
    _wait(cluster, "oncall", lambda s: s.get("phase") == "Available")
    _apply(cluster, "oncall", "v2", rollout=rollout)
    _wait(cluster, "oncall", lambda s: s.get("phase") == "Progressing")
    assert "pause requested" in _plugin(cluster, "pause", "oncall")
    _wait(cluster, "oncall", lambda s: s.get("phase") == "Paused")
    _plugin(cluster, "resume", "oncall")
    _wait(cluster, "oncall", lambda s: s.get("phase") == "Progressing")
    _plugin(cluster, "promote", "oncall")
    obj = _wait(cluster, "oncall", lambda s: s.get("stable", {}).get("version") == "v2")
    assert obj["status"]["history"][0]["outcome"] == "Promoted"
    assert "ModelDeployment rollout-tests/oncall" in _plugin(cluster, "status", "oncall")
