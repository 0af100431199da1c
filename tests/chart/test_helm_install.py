"""Install the chart into the dev cluster and check what the API server made of it.

The operator image never runs here: kwok stands in for the kubelet and marks the pod
Running, and Ready because the pod is annotated `kwok.modelops.dev/probes-pass` (nothing
would answer its readiness probe), so the Deployment becomes available. What is real is the API
server: CRD registration, admission of every object and RBAC authorization, checked
with `kubectl auth can-i` as the operator's ServiceAccount.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from modelops_devcluster.cluster import DevCluster
from modelops_devcluster.kwok import PROBES_PASS_ANNOTATION

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "modelops-operator"
CRDS = ("modeldeployments.modelops.dev", "driftmonitors.modelops.dev", "retrainpolicies.modelops.dev")
RELEASE = "modelops"
NAMESPACE = "modelops-system"


def get_json(cluster: DevCluster, *args: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)
    return result


def by_instance(cluster: DevCluster, kind: str, release: str, namespace: str = "") -> list[dict[str, Any]]:
    """Objects of `kind` from `release` (cluster-scoped kinds when namespace is empty)."""
    scope = ["-n", namespace] if namespace else []
    selector = f"app.kubernetes.io/instance={release}"
    items: list[dict[str, Any]] = get_json(cluster, kind, *scope, "-l", selector)["items"]
    return items


def can_i(cluster: DevCluster, service_account: str, verb: str, resource: str, *scope: str) -> bool:
    """`resource` may name a subresource as `pods/log` (kubectl would read that as a pod named log)."""
    resource, _, subresource = resource.partition("/")
    args = ["auth", "can-i", verb, resource, *scope, "--as", service_account]
    if subresource:
        args.append(f"--subresource={subresource}")
    result = cluster.kubectl(*args, check=False)
    answer = result.stdout.strip()
    assert answer in {"yes", "no"}, result.stderr
    return bool(answer == "yes")


def release_status(cluster: DevCluster, release: str, namespace: str) -> str:
    status = json.loads(cluster.helm("status", release, "-n", namespace, "-o", "json").stdout)
    return str(status["info"]["status"])


def wait_available(cluster: DevCluster, namespace: str, name: str) -> None:
    cluster.kubectl("-n", namespace, "rollout", "status", f"deployment/{name}", "--timeout=60s", timeout=90)
    deployment = get_json(cluster, "-n", namespace, "deployment", name)
    assert deployment["status"].get("availableReplicas") == 1


@contextmanager
def installed(cluster: DevCluster, release: str, namespace: str, *values: str) -> Iterator[str]:
    """The chart installed as `release`; uninstalled (and checked gone) on exit."""
    probes_pass = "podAnnotations." + PROBES_PASS_ANNOTATION.replace(".", "\\.") + "=true"  # dots escaped for --set
    where = ("-n", namespace, "--create-namespace", "--wait=false")
    cluster.helm("install", release, str(CHART), *where, *values, "--set-string", probes_pass, timeout=180)
    try:
        yield release
    finally:
        cluster.helm("uninstall", release, "-n", namespace, "--wait", "--timeout", "120s", timeout=180)
    assert not by_instance(cluster, "deployment", release, namespace)
    assert not by_instance(cluster, "clusterrole", release)
    assert not by_instance(cluster, "clusterrolebinding", release)


def test_install_cluster_wide(cluster: DevCluster) -> None:
    with installed(cluster, RELEASE, NAMESPACE) as release:
        check_cluster_wide_release(cluster, release)
    # Helm never deletes what it installed from crds/
    for crd in CRDS:
        get_json(cluster, "crd", crd)


def check_cluster_wide_release(cluster: DevCluster, installed: str) -> None:
    assert release_status(cluster, installed, NAMESPACE) == "deployed"

    # every CRD the chart ships is registered and served
    for crd in CRDS:
        cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", f"crd/{crd}", timeout=90)
        assert get_json(cluster, "crd", crd)["spec"]["group"] == "modelops.dev"

    (sa,) = by_instance(cluster, "serviceaccount", installed, NAMESPACE)
    (role,) = by_instance(cluster, "clusterrole", installed)
    (binding,) = by_instance(cluster, "clusterrolebinding", installed)
    (service,) = by_instance(cluster, "service", installed, NAMESPACE)
    (deployment,) = by_instance(cluster, "deployment", installed, NAMESPACE)
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": NAMESPACE}]
    assert service["spec"]["ports"][0]["name"] == "metrics"
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == sa["metadata"]["name"]

    # kwok fakes the pod, so the Deployment becomes available
    wait_available(cluster, NAMESPACE, deployment["metadata"]["name"])

    # the API server authorizes what the operator does, everywhere, and nothing more
    who = f"system:serviceaccount:{NAMESPACE}:{sa['metadata']['name']}"
    for verb, resource in [
        ("watch", "modeldeployments.modelops.dev"),
        ("patch", "driftmonitors.modelops.dev"),
        ("update", "retrainpolicies.modelops.dev"),
        ("patch", "modeldeployments.modelops.dev/status"),
        ("create", "deployments.apps"),
        ("delete", "horizontalpodautoscalers.autoscaling"),
        ("create", "jobs.batch"),
        ("get", "pods/log"),
        ("create", "events"),
        ("list", "customresourcedefinitions.apiextensions.k8s.io"),
        ("get", "secrets"),  # Prometheus credentials a ModelDeployment names (prometheus.readSecrets)
    ]:
        assert can_i(cluster, who, verb, resource, "-A"), f"cannot {verb} {resource}"
    for verb, resource in [
        ("list", "secrets"),  # one GET by name, never every Secret
        ("watch", "secrets"),
        ("create", "pods"),
        ("delete", "modeldeployments.modelops.dev"),
        ("create", "clusterroles.rbac.authorization.k8s.io"),
        ("delete", "customresourcedefinitions.apiextensions.k8s.io"),
        ("list", "namespaces"),
        ("create", "namespaces"),
    ]:
        assert not can_i(cluster, who, verb, resource, "-A"), f"can {verb} {resource}"


def test_install_namespaced(cluster: DevCluster) -> None:
    release, namespace, watched = "modelops-ns", "modelops-ns-system", "team-a"
    cluster.kubectl("create", "namespace", watched)
    try:
        values = ("--set", "watch.allNamespaces=false", "--set", f"watch.namespaces={{{watched}}}")
        with installed(cluster, release, namespace, *values):
            check_namespaced_release(cluster, release, namespace, watched)
        assert not by_instance(cluster, "role", release, watched)
        assert not by_instance(cluster, "rolebinding", release, watched)
    finally:
        cluster.kubectl("delete", "namespace", watched, "--wait=false")


def check_namespaced_release(cluster: DevCluster, release: str, namespace: str, watched: str) -> None:
    assert release_status(cluster, release, namespace) == "deployed"
    (sa,) = by_instance(cluster, "serviceaccount", release, namespace)
    (role,) = by_instance(cluster, "role", release, watched)
    (binding,) = by_instance(cluster, "rolebinding", release, watched)
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    assert not by_instance(cluster, "role", release, namespace)
    (deployment,) = by_instance(cluster, "deployment", release, namespace)
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--namespace") + 1] == watched
    wait_available(cluster, namespace, deployment["metadata"]["name"])

    who = f"system:serviceaccount:{namespace}:{sa['metadata']['name']}"
    assert can_i(cluster, who, "watch", "modeldeployments.modelops.dev", "-n", watched)
    assert can_i(cluster, who, "create", "deployments.apps", "-n", watched)
    assert can_i(cluster, who, "list", "customresourcedefinitions.apiextensions.k8s.io")
    assert not can_i(cluster, who, "watch", "modeldeployments.modelops.dev", "-n", "default")
    assert not can_i(cluster, who, "create", "deployments.apps", "-n", "default")
    assert can_i(cluster, who, "watch", "namespaces")
    assert not can_i(cluster, who, "create", "namespaces")
