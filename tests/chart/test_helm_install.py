"""Install the chart into the dev cluster and check what the API server made of it.

The operator image never runs here: kwok stands in for the kubelet and marks the pod
Running, and Ready because the pod is annotated `kwok.modelops.dev/probes-pass` (nothing
would answer its readiness probe), so the Deployment becomes available. What is real is the API
server: CRD registration, admission of every object and RBAC authorization, checked
with `kubectl auth can-i` as the operator's ServiceAccount.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from tests.chart.rbac_needs import Need, cluster_needs, leader_election_needs, namespaced_needs

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


def can_i(cluster: DevCluster, who: str, verb: str, resource: str, *scope: str) -> bool:
    """`resource` may name a subresource as `pods/log` (kubectl would read that as a pod named log)."""
    resource, _, subresource = resource.partition("/")
    args = ["auth", "can-i", verb, resource, *scope, "--as", who]
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
    assert deployment["status"].get("availableReplicas") == deployment["spec"]["replicas"]


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


def allowed(cluster: DevCluster, service_account: tuple[str, str], need: Need, namespace: str = "") -> bool:
    """A SubjectAccessReview as the API server's authorizer sees the request: the exact group,
    resource and subresource, also for kinds whose CRD the cluster lacks (kubectl auth can-i
    resolves names through discovery and cannot ask about those). Namespace "" = every namespace."""
    sa_namespace, sa_name = service_account
    group, resource, verb = need
    plural, _, subresource = resource.partition("/")
    attributes = {"group": group, "resource": plural, "subresource": subresource, "verb": verb, "namespace": namespace}
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": f"system:serviceaccount:{sa_namespace}:{sa_name}",
            "groups": ["system:serviceaccounts", f"system:serviceaccounts:{sa_namespace}", "system:authenticated"],
            "resourceAttributes": attributes,
        },
    }
    status, body = cluster.api("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", review)
    assert status == 201, body
    return bool(body["status"].get("allowed"))


def test_install_cluster_wide(cluster: DevCluster) -> None:
    # --take-ownership: other tests of the session may have applied the CRDs already
    with installed(cluster, RELEASE, NAMESPACE, "--take-ownership") as release:
        check_cluster_wide_release(cluster, release)
        for crd in CRDS:  # installed by the release, and kept by it
            meta = get_json(cluster, "crd", crd)["metadata"]
            assert meta["annotations"]["meta.helm.sh/release-name"] == release
            assert meta["annotations"]["helm.sh/resource-policy"] == "keep"
    # `helm uninstall` leaves the CRDs (and every object of their kinds) in place
    for crd in CRDS:
        get_json(cluster, "crd", crd)


def test_upgrade_upgrades_the_crds_and_never_deletes_them(cluster: DevCluster, tmp_path: Path) -> None:
    """crds.install=true: `helm upgrade` applies a changed CRD; turning it off or uninstalling
    leaves the CRDs (helm.sh/resource-policy: keep)."""
    chart = tmp_path / "modelops-operator"
    shutil.copytree(CHART, chart)
    release, namespace = "modelops-crd", "modelops-crd-system"
    where = ("-n", namespace, "--create-namespace", "--wait=false", "--take-ownership")
    cluster.helm("install", release, str(chart), *where, timeout=180)
    try:
        crd = chart / "files" / "crds" / "modelops.dev_driftmonitors.yaml"
        text = crd.read_text()
        marker = "    app.kubernetes.io/part-of: modelops\n"
        assert marker in text
        crd.write_text(text.replace(marker, marker + '    modelops.dev/chart-upgrade: "2"\n', 1))
        cluster.helm("upgrade", release, str(chart), *where, timeout=180)
        labels = get_json(cluster, "crd", "driftmonitors.modelops.dev")["metadata"]["labels"]
        assert labels.get("modelops.dev/chart-upgrade") == "2"  # upgraded with the chart

        cluster.helm("upgrade", release, str(chart), *where, "--set", "crds.install=false", timeout=180)
        for name in CRDS:  # no longer in the release, still in the cluster
            get_json(cluster, "crd", name)
    finally:
        cluster.helm("uninstall", release, "-n", namespace, "--wait", "--timeout", "120s", timeout=180)
    for name in CRDS:
        get_json(cluster, "crd", name)


def test_install_refuses_a_typo(cluster: DevCluster) -> None:
    """values.schema.json: a misspelt key fails the install before anything is created."""
    release = "modelops-typo"
    result = cluster.helm(
        "install", release, str(CHART), "-n", NAMESPACE, "--create-namespace",
        "--set", "metrics.servicemonitor.enabled=true", check=False, timeout=120,
    )  # fmt: skip
    assert result.returncode != 0
    assert "additional properties 'servicemonitor' not allowed" in result.stderr
    assert cluster.helm("status", release, "-n", NAMESPACE, check=False).returncode != 0
    assert not by_instance(cluster, "clusterrole", release)


def check_cluster_wide_release(cluster: DevCluster, installed: str) -> None:
    assert release_status(cluster, installed, NAMESPACE) == "deployed"

    # every CRD the chart ships is registered and served
    for crd in CRDS:
        cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", f"crd/{crd}", timeout=90)
        assert get_json(cluster, "crd", crd)["spec"]["group"] == "modelops.dev"

    (sa,) = by_instance(cluster, "serviceaccount", installed, NAMESPACE)
    roles = by_instance(cluster, "clusterrole", installed)  # the operator's, <release>-view, <release>-edit
    (role,) = [r for r in roles if not r["metadata"]["name"].endswith(("-view", "-edit"))]
    (binding,) = by_instance(cluster, "clusterrolebinding", installed)
    (service,) = by_instance(cluster, "service", installed, NAMESPACE)
    (deployment,) = by_instance(cluster, "deployment", installed, NAMESPACE)
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": NAMESPACE}]
    assert service["spec"]["ports"][0]["name"] == "metrics"
    assert deployment["spec"]["replicas"] == 2  # a leader and a standby
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == sa["metadata"]["name"]

    # kwok fakes the pod, so the Deployment becomes available
    wait_available(cluster, NAMESPACE, deployment["metadata"]["name"])

    # the API server authorizes what the operator does, everywhere: every need derived from the code
    who = f"system:serviceaccount:{NAMESPACE}:{sa['metadata']['name']}"
    needs: set[Need] = namespaced_needs() | cluster_needs(all_namespaces=True)
    for need in sorted(needs):
        assert allowed(cluster, (NAMESPACE, sa["metadata"]["name"]), need), f"cannot {need}"
    for need in sorted(leader_election_needs()):  # the Lease, in the release namespace only
        assert allowed(cluster, (NAMESPACE, sa["metadata"]["name"]), need, NAMESPACE), f"cannot {need}"
        assert not allowed(cluster, (NAMESPACE, sa["metadata"]["name"]), need, "default"), f"can {need} in default"
    for need in [("", "pods", "get"), ("apps", "deployments", "update"), ("", "pods/log", "get")]:
        assert not allowed(cluster, (NAMESPACE, sa["metadata"]["name"]), need), f"can {need}"
    # ... and nothing more: what the chart used to grant, and what an operator must never hold
    for verb, resource in [
        ("list", "secrets"),  # one GET by name, never every Secret
        ("watch", "secrets"),
        ("create", "pods"),
        ("get", "pods/log"),  # granted until issue 16; no code reads logs
        ("list", "endpointslices.discovery.k8s.io"),
        ("create", "events.events.k8s.io"),
        ("update", "deployments.apps"),  # server-side apply is a PATCH
        ("delete", "services"),  # garbage-collected with the ModelDeployment
        ("delete", "jobs.batch"),
        ("patch", "modeldeployments.modelops.dev"),  # the spec is the user's
        ("delete", "modeldeployments.modelops.dev"),
        ("create", "clusterroles.rbac.authorization.k8s.io"),
        ("delete", "customresourcedefinitions.apiextensions.k8s.io"),
        ("list", "namespaces"),
        ("create", "namespaces"),
    ]:
        assert not can_i(cluster, who, verb, resource, "-A"), f"can {verb} {resource}"


def wait_for_answer(cluster: DevCluster, who: str, verb: str, resource: str, namespace: str, *, want: bool) -> None:
    """Aggregation is done by the controller-manager shortly after the roles exist: poll, bounded."""
    deadline = time.monotonic() + 30
    while can_i(cluster, who, verb, resource, "-n", namespace) != want:
        assert time.monotonic() < deadline, f"{who} {verb} {resource}: still {not want} after 30 s"
        time.sleep(0.5)


def test_aggregated_roles_extend_view_and_edit(cluster: DevCluster) -> None:
    """People bound to the built-in view/edit ClusterRoles get the matching rights on the three kinds."""
    team = "team-agg"
    cluster.kubectl("create", "namespace", team)
    try:
        cluster.kubectl("-n", team, "create", "rolebinding", "viewers", "--clusterrole=view", "--user=vera")
        cluster.kubectl("-n", team, "create", "rolebinding", "editors", "--clusterrole=edit", "--user=eddie")
        kinds = [f"{plural}.modelops.dev" for plural in ("modeldeployments", "driftmonitors", "retrainpolicies")]
        # before the chart: the built-in roles know nothing of modelops.dev
        assert not can_i(cluster, "vera", "list", kinds[0], "-n", team)
        with installed(cluster, "modelops-agg", "modelops-agg-system", "--set", "crds.install=false"):
            roles = {r["metadata"]["name"] for r in by_instance(cluster, "clusterrole", "modelops-agg")}
            assert {"modelops-agg-view", "modelops-agg-edit"} <= roles
            wait_for_answer(cluster, "vera", "list", kinds[0], team, want=True)
            wait_for_answer(cluster, "eddie", "patch", kinds[0], team, want=True)
            for kind in kinds:
                for verb in ("get", "list", "watch"):
                    assert can_i(cluster, "vera", verb, kind, "-n", team), f"view cannot {verb} {kind}"
                    assert can_i(cluster, "eddie", verb, kind, "-n", team), f"edit cannot {verb} {kind}"
                for verb in ("create", "update", "patch", "delete"):
                    assert not can_i(cluster, "vera", verb, kind, "-n", team), f"view can {verb} {kind}"
                    assert can_i(cluster, "eddie", verb, kind, "-n", team), f"edit cannot {verb} {kind}"
            # a binding grants nothing outside its namespace
            assert not can_i(cluster, "vera", "list", kinds[0], "-n", "default")
        # uninstalled: the aggregated rules go with the roles
        wait_for_answer(cluster, "eddie", "patch", kinds[0], team, want=False)
        wait_for_answer(cluster, "vera", "list", kinds[0], team, want=False)
    finally:
        cluster.kubectl("delete", "namespace", team, "--wait=false")


def test_install_namespaced(cluster: DevCluster) -> None:
    release, namespace, watched = "modelops-ns", "modelops-ns-system", "team-a"
    cluster.kubectl("create", "namespace", watched)
    try:
        values = ("--set", "watch.allNamespaces=false", "--set", f"watch.namespaces={{{watched}}}")
        values += ("--set", "crds.install=false")  # one release per cluster owns the CRDs
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
    (lease_role,) = by_instance(cluster, "role", release, namespace)  # in the release namespace: the Lease only
    assert lease_role["metadata"]["name"].endswith("-leader-election")
    (deployment,) = by_instance(cluster, "deployment", release, namespace)
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--namespace") + 1] == watched
    wait_available(cluster, namespace, deployment["metadata"]["name"])

    for need in sorted(namespaced_needs()):
        assert allowed(cluster, (namespace, sa["metadata"]["name"]), need, watched), f"cannot {need} in {watched}"
        assert not allowed(cluster, (namespace, sa["metadata"]["name"]), need, "default"), f"can {need} in default"
    for need in sorted(cluster_needs(all_namespaces=False)):
        assert allowed(cluster, (namespace, sa["metadata"]["name"]), need), f"cannot {need}"
    who = f"system:serviceaccount:{namespace}:{sa['metadata']['name']}"
    assert can_i(cluster, who, "watch", "modeldeployments.modelops.dev", "-n", watched)
    assert can_i(cluster, who, "create", "deployments.apps", "-n", watched)
    assert can_i(cluster, who, "list", "customresourcedefinitions.apiextensions.k8s.io")
    assert not can_i(cluster, who, "watch", "modeldeployments.modelops.dev", "-n", "default")
    assert not can_i(cluster, who, "create", "deployments.apps", "-n", "default")
    assert can_i(cluster, who, "watch", "namespaces")
    assert not can_i(cluster, who, "create", "namespaces")
