"""The operator at work with nothing but the chart's RBAC: its ServiceAccount's token, no admin.

The chart is installed (namespaced mode, one watched namespace); the operator runs as a local
process (kwok fakes the chart's pod) with a kubeconfig holding the ServiceAccount's token, so
every request it sends is authorized by the trimmed Role and ClusterRole, exactly as in a
cluster. It then serves a ModelDeployment (children applied, status patched), refuses an
invalid one (an Event), runs a retraining Job to a validated result (Jobs, their pods) and
evaluates a DriftMonitor as far as its ConfigMap reference (a ConfigMap read). Any 403 in its
log fails the test.

Not exercised here: deletes of retired children (they need a promotion and a bake), routes,
Secrets, baseline ConfigMaps published by a run; `rbac_needs.py` derives those from the code.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelops_devcluster import objects
from modelops_devcluster.cluster import DevCluster
from modelops_devcluster.kwok import PROBES_PASS_ANNOTATION
from modelops_devcluster.operator import OperatorProcess
from tests.chart.test_helm_install import installed

pytestmark = pytest.mark.integration

RELEASE, RELEASE_NS, WATCHED = "modelops-rbac", "modelops-rbac-system", "rbac-e2e"
SERVICE_ACCOUNT = "modelops-rbac-modelops-operator"
PROBES_PASS = {"podTemplate": {"metadata": {"annotations": {PROBES_PASS_ANNOTATION: "true"}}}}


def service_account_kubeconfig(cluster: DevCluster, path: Path) -> Path:
    """The admin kubeconfig's server and CA, with the ServiceAccount's token as the user."""
    admin = yaml.safe_load(Path(cluster.env["KUBECONFIG"]).read_text())
    (entry,) = admin["clusters"]
    token = cluster.kubectl("-n", RELEASE_NS, "create", "token", SERVICE_ACCOUNT, "--duration=1h").stdout.strip()
    ca = entry["cluster"].get("certificate-authority-data")
    if ca is None:
        ca = base64.b64encode(Path(entry["cluster"]["certificate-authority"]).read_bytes()).decode()
    server = {"server": entry["cluster"]["server"], "certificate-authority-data": ca}
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "dev", "cluster": server}],
        "users": [{"name": "operator", "user": {"token": token}}],
        "contexts": [{"name": "operator", "context": {"cluster": "dev", "user": "operator", "namespace": WATCHED}}],
        "current-context": "operator",
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def operator(cluster: DevCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    objects.install_crds(cluster)  # as a platform team would: the release does not own them
    cluster.kubectl("create", "namespace", WATCHED, check=False)
    values = ("--set", "watch.allNamespaces=false", "--set", f"watch.namespaces={{{WATCHED}}}")
    with installed(cluster, RELEASE, RELEASE_NS, *values, "--set", "crds.install=false"):
        kubeconfig = service_account_kubeconfig(cluster, tmp_path_factory.mktemp("sa") / "kubeconfig")
        env = {**cluster.env, "KUBECONFIG": str(kubeconfig)}
        # the kubeconfig really is the ServiceAccount, not the admin
        who = cluster.kubectl("--kubeconfig", str(kubeconfig), "auth", "whoami", "-o", "json").stdout
        username = json.loads(who)["status"]["userInfo"]["username"]
        assert username == f"system:serviceaccount:{RELEASE_NS}:{SERVICE_ACCOUNT}"
        # a Prometheus URL on loopback that nothing answers: the DriftMonitor gets as far as its
        # ConfigMap (read before any query); no request leaves 127.0.0.0/8
        with OperatorProcess(env, [WATCHED], prometheus_url="http://127.0.0.1:9") as process:
            yield process
        print(process.logs()[-3000:])
    cluster.kubectl("delete", "namespace", WATCHED, "--wait=false")


def status_of(cluster: DevCluster, kind: str, name: str, check: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    found = objects.until(
        f"{kind} {name}",
        lambda: objects.get(cluster, WATCHED, kind, name),
        lambda o: o is not None and check(o.get("status") or {}),
        timeout=90,
    )
    assert found is not None
    status: dict[str, Any] = found["status"]
    return status


def forbidden(process: OperatorProcess) -> list[str]:
    return [line for line in process.logs().splitlines() if "403" in line or "orbidden" in line]


def test_operator_works_with_only_the_charts_rbac(cluster: DevCluster, operator: OperatorProcess) -> None:
    model = {"name": "fraud", "version": "v1", "uri": "file:///models/fraud/v1/model.npz"}
    md = {
        "apiVersion": "modelops.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "fraud", "namespace": WATCHED},
        "spec": {"model": model, "replicas": 1, "traffic": {"router": "replicas"}, "runtime": PROBES_PASS},
    }
    objects.apply(cluster, WATCHED, md, field_manager="tests")
    status = status_of(cluster, "md", "fraud", lambda s: s.get("phase") == "Available")
    assert status["stable"]["version"] == "v1"
    for kind, name in (("deploy", "fraud-v1"), ("svc", "fraud"), ("pdb", "fraud")):
        assert objects.get(cluster, WATCHED, kind, name) is not None, (kind, name)

    # refused by the operator (not the schema): Accepted=False and a Warning event it posts
    bad = {**md, "metadata": {"name": "bad", "namespace": WATCHED}}
    bad["spec"] = {**md["spec"], "rollout": {"interval": "2h", "progressDeadline": "30m"}}
    objects.apply(cluster, WATCHED, bad, field_manager="tests")
    status_of(cluster, "md", "bad", lambda s: any(c.get("reason") == "InvalidSpec" for c in s.get("conditions") or []))
    events = objects.until(
        "InvalidSpec event",
        lambda: objects.items(cluster, WATCHED, "events", "--field-selector", "involvedObject.name=bad"),
        lambda items: any(e.get("reason") == "InvalidSpec" for e in items),
        timeout=30,
    )
    assert events

    # a retraining run: the Job is created, kwok completes its pod, the result is read and validated
    result = {"model": "fraud", "version": "retrain-1", "uri": "file:///m/retrain-1/model.npz", "sha256": "0" * 64}
    result["metrics"] = {"auc": 0.9}
    pod_annotations = {"kwok.modelops.dev/termination-message": json.dumps(result)}
    container = {"name": "trainer", "image": "registry.example/trainer:1"}
    policy = {
        "apiVersion": "modelops.dev/v1alpha1",
        "kind": "RetrainPolicy",
        "metadata": {"name": "retrain", "namespace": WATCHED},
        "spec": {
            "modelDeploymentRef": {"name": "fraud"},
            "jobTemplate": {
                "backoffLimit": 0,
                "template": {
                    "metadata": {"annotations": pod_annotations},
                    "spec": {"restartPolicy": "Never", "containers": [container]},
                },
            },
            "validation": [{"metric": "auc", "min": 0.8}],
            "triggers": {"manual": "now"},
        },
    }
    objects.apply(cluster, WATCHED, policy, field_manager="tests")
    runs = status_of(
        cluster, "retrainpolicy", "retrain", lambda s: any(r.get("outcome") == "Validated" for r in s.get("runs") or [])
    )["runs"]
    assert runs[0]["job"] == "retrain-1"  # named after the run: the policy (run name = Job name)

    # a DriftMonitor reads its reference ConfigMap: a key it lacks is InvalidReference, not a 403
    cluster.kubectl("-n", WATCHED, "create", "configmap", "baseline", "--from-literal=other=1")
    monitor = {
        "apiVersion": "modelops.dev/v1alpha1",
        "kind": "DriftMonitor",
        "metadata": {"name": "drift", "namespace": WATCHED},
        "spec": {
            "modelDeploymentRef": {"name": "fraud"},
            "reference": {"configMapRef": {"name": "baseline", "key": "baseline.json"}},
        },
    }
    objects.apply(cluster, WATCHED, monitor, field_manager="tests")
    conditions = status_of(
        cluster,
        "driftmonitor",
        "drift",
        lambda s: any(c.get("reason") == "InvalidReference" for c in s.get("conditions") or []),
    )["conditions"]
    assert any("has no key 'baseline.json'" in c.get("message", "") for c in conditions)

    assert not forbidden(operator), "\n".join(forbidden(operator)[:10])
