"""The operator at work with nothing but the chart's RBAC: its ServiceAccount's token, no admin.

A control plane of its own whose API server writes an audit log of every request the
ServiceAccount makes. The chart is installed (namespaced mode, one watched namespace); the
operator runs as a local process (kwok fakes the chart's pod) with a kubeconfig holding the
ServiceAccount's token, so every request it sends is authorized by the trimmed Role and
ClusterRole, exactly as in a cluster. It then serves a ModelDeployment (children applied,
status patched), refuses an invalid one (an Event), runs a retraining Job to a validated
result (Jobs, their pods) and evaluates a DriftMonitor as far as its ConfigMap reference (a
ConfigMap read). Any 403, in its log or in the audit log, fails the test; so does any
(group, resource, verb) in the audit log that `rbac_needs.py` did not derive from the code.

Not exercised here: deletes of retired children (they need a promotion and a bake), routes,
Secrets, baseline ConfigMaps published by a run; `rbac_needs.py` derives those from the code.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.chart.rbac_needs import Need, cluster_needs, leader_election_needs, namespaced_needs
from tests.chart.test_helm_install import installed

from modelops_devcluster import build, objects
from modelops_devcluster.cluster import DevCluster
from modelops_devcluster.kwok import PROBES_PASS_ANNOTATION
from modelops_devcluster.operator import LeaderElection, OperatorProcess

pytestmark = pytest.mark.integration

RELEASE, RELEASE_NS, WATCHED = "modelops-rbac", "modelops-rbac-system", "rbac-e2e"
SERVICE_ACCOUNT = "modelops-rbac-modelops-operator"
PROBES_PASS = {"podTemplate": {"metadata": {"annotations": {PROBES_PASS_ANNOTATION: "true"}}}}
USERNAME = f"system:serviceaccount:{RELEASE_NS}:{SERVICE_ACCOUNT}"
AUDIT_POLICY = f"""\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
    users: ["{USERNAME}"]
  - level: None
"""


class AuditedCluster(DevCluster):
    """The dev control plane, its API server logging the operator's requests (kube-apiserver
    --audit-policy-file/--audit-log-path). Extends DevCluster's private argument list: the
    dev stack itself has no audit option."""

    @property
    def audit_log(self) -> Path:
        return self.workdir / "audit.log"

    def _apiserver_args(self) -> list[str]:
        policy = self.workdir / "audit-policy.yaml"
        policy.write_text(AUDIT_POLICY)
        audit = [f"--audit-policy-file={policy}", f"--audit-log-path={self.audit_log}", "--audit-log-format=json"]
        return [*super()._apiserver_args(), *audit]

    def requests(self) -> list[dict[str, Any]]:
        """The audit events of the ServiceAccount's resource requests (not discovery)."""
        if not self.audit_log.exists():
            return []
        events = [json.loads(line) for line in self.audit_log.read_text().splitlines() if line.strip()]
        ours = [e for e in events if e.get("user", {}).get("username") == USERNAME and e.get("objectRef")]
        # not the test's own `kubectl auth whoami` with the same token
        return [e for e in ours if not str(e.get("userAgent", "")).startswith("kubectl")]


def observed(events: list[dict[str, Any]]) -> set[Need]:
    out = set()
    for event in events:
        ref = event["objectRef"]
        resource = ref["resource"] + (f"/{ref['subresource']}" if ref.get("subresource") else "")
        out.add((ref.get("apiGroup", ""), resource, event["verb"]))
    return out


@pytest.fixture(scope="module")
def cluster() -> Iterator[AuditedCluster]:
    """Not the session's cluster: this one audits."""
    if build.missing():
        build.build()
    with AuditedCluster() as audited:
        yield audited


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
def operator(cluster: AuditedCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    objects.install_crds(cluster)  # as a platform team would: the release does not own them
    cluster.kubectl("create", "namespace", WATCHED, check=False)
    values = ("--set", "watch.allNamespaces=false", "--set", f"watch.namespaces={{{WATCHED}}}")
    with installed(cluster, RELEASE, RELEASE_NS, *values, "--set", "crds.install=false"):
        kubeconfig = service_account_kubeconfig(cluster, tmp_path_factory.mktemp("sa") / "kubeconfig")
        env = {**cluster.env, "KUBECONFIG": str(kubeconfig)}
        # the kubeconfig really is the ServiceAccount, not the admin
        who = cluster.kubectl("--kubeconfig", str(kubeconfig), "auth", "whoami", "-o", "json").stdout
        username = json.loads(who)["status"]["userInfo"]["username"]
        assert username == USERNAME
        # a Prometheus URL on loopback that nothing answers: the DriftMonitor gets as far as its
        # ConfigMap (read before any query); no request leaves 127.0.0.0/8
        # and, as the chart runs it, electing itself leader on a Lease in the release namespace
        election = LeaderElection("rbac-operator", namespace=RELEASE_NS, name=f"{RELEASE}-modelops-operator")
        with OperatorProcess(env, [WATCHED], prometheus_url="http://127.0.0.1:9", election=election) as process:
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


FORBIDDEN = re.compile(r"orbidden|(?<![\d.:-])403(?![\d])")  # not a 403 inside a timestamp or uid


def forbidden(process: OperatorProcess) -> list[str]:
    return [line for line in process.logs().splitlines() if FORBIDDEN.search(line)]


def test_operator_works_with_only_the_charts_rbac(cluster: AuditedCluster, operator: OperatorProcess) -> None:
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

    # the API server's own record: nothing refused, nothing the derivation from the code missed
    events = cluster.requests()
    refused = [e for e in events if e.get("responseStatus", {}).get("code") == 403]
    assert not refused, json.dumps(refused[:5], indent=1)
    seen = observed(events)
    derived = namespaced_needs() | cluster_needs(all_namespaces=False) | leader_election_needs()
    assert seen <= derived, f"requests the derivation does not know: {sorted(seen - derived)}"
    # and the scenario did exercise the operator's main paths
    for need in [
        ("apps", "deployments", "patch"),  # server-side apply
        ("", "services", "patch"),
        ("policy", "poddisruptionbudgets", "patch"),
        ("modelops.dev", "modeldeployments/status", "patch"),
        ("modelops.dev", "retrainpolicies/status", "patch"),
        ("modelops.dev", "driftmonitors/status", "patch"),
        ("modelops.dev", "modeldeployments", "watch"),
        ("batch", "jobs", "patch"),
        ("batch", "jobs", "watch"),
        ("", "pods", "list"),
        ("", "configmaps", "get"),
        ("", "events", "create"),
        ("apiextensions.k8s.io", "customresourcedefinitions", "watch"),
        ("", "namespaces", "watch"),
        ("coordination.k8s.io", "leases", "create"),  # leader election: the Role in the release namespace
        ("coordination.k8s.io", "leases", "update"),
    ]:
        assert need in seen, f"{need} never requested: {sorted(seen)}"
    print("derived but not exercised here:", sorted(derived - seen))
