"""The Helm chart: lints strictly, renders least-privilege RBAC and a locked-down Deployment.

The rendering tests run the pinned helm binary built by ``modelops_devcluster.build``
(cached; built on first use), so they are in the integration tier; the file checks are unit
tests. No cluster and no network are needed.
"""

from __future__ import annotations

import filecmp
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelops_devcluster import build, versions

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "modelops-operator"
RELEASE = "modelops"
RELEASE_NAMESPACE = "modelops-system"
# The dev cluster's Kubernetes version; a helm built without its Makefile's ldflags
# would otherwise assume v1.20, below the chart's kubeVersion.
KUBE_VERSION = versions.KUBERNETES.lstrip("v")

KINDS = ("modeldeployments", "driftmonitors", "retrainpolicies")
CRD_FILES = {f"modelops.dev_{plural}.yaml" for plural in KINDS}
NAMESPACED = ("--set", "watch.allNamespaces=false", "--set", "watch.namespaces={a,b}")
RECOMMENDED_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
    "helm.sh/chart",
)
WRITE = {"get", "list", "watch", "create", "patch", "update", "delete"}
READ = {"get", "list", "watch"}
# (apiGroup, resource) -> verbs the operator needs on every namespace it watches.
REQUIRED_NAMESPACED: dict[tuple[str, str], set[str]] = {
    **{("modelops.dev", plural): {"get", "list", "watch", "patch", "update"} for plural in KINDS},
    **{("modelops.dev", f"{plural}/status"): {"get", "patch", "update"} for plural in KINDS},
    ("apps", "deployments"): WRITE,
    ("", "services"): WRITE,
    ("", "configmaps"): WRITE,
    ("autoscaling", "horizontalpodautoscalers"): WRITE,
    ("policy", "poddisruptionbudgets"): WRITE,
    ("batch", "jobs"): WRITE,
    ("gateway.networking.k8s.io", "httproutes"): WRITE,
    ("networking.istio.io", "virtualservices"): WRITE,
    ("monitoring.coreos.com", "prometheusrules"): WRITE,
    ("", "secrets"): {"get"},  # Prometheus credentials: get only, never list or watch
    ("", "pods"): READ,
    ("", "pods/log"): {"get"},
    ("discovery.k8s.io", "endpointslices"): READ,
    ("", "events"): {"create", "patch"},
    ("events.k8s.io", "events"): {"create", "patch"},
}

Docs = list[dict[str, Any]]
Helm = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Helm:
    """Run the pinned helm with its config, cache and data kept out of $HOME."""
    binary = build.build() / "helm"
    home = tmp_path_factory.mktemp("helm-home")
    env = {
        **os.environ,
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([str(binary), *args], capture_output=True, text=True, env=env, timeout=120, check=False)
        if check:
            assert proc.returncode == 0, f"helm {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
        return proc

    return run


def template(helm: Helm, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    base = ("template", RELEASE, str(CHART), "--namespace", RELEASE_NAMESPACE)
    return helm(*base, "--kube-version", KUBE_VERSION, *args, check=check)


def render(helm: Helm, *args: str) -> Docs:
    return [doc for doc in yaml.safe_load_all(template(helm, *args).stdout) if doc]


def only(docs: Docs, kind: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, got {[d['metadata']['name'] for d in found]}"
    return found[0]


def of_kind(docs: Docs, kind: str) -> Docs:
    return [d for d in docs if d["kind"] == kind]


def grants(rules: list[dict[str, Any]]) -> dict[tuple[str, str], set[str]]:
    """(apiGroup, resource) -> verbs, merged over rules."""
    out: dict[tuple[str, str], set[str]] = {}
    for rule in rules:
        assert not rule.get("resourceNames"), rule
        assert not rule.get("nonResourceURLs"), rule
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                out.setdefault((group, resource), set()).update(rule["verbs"])
    return out


def assert_no_wildcards(docs: Docs) -> None:
    for doc in docs:
        if doc["kind"] not in {"ClusterRole", "Role"}:
            continue
        for rule in doc.get("rules", []):
            for key in ("apiGroups", "resources", "verbs"):
                values = rule.get(key, [])
                assert all("*" not in v for v in values), f"wildcard in {doc['kind']} {key}: {rule}"
        assert "aggregationRule" not in doc


Grants = dict[tuple[str, str], set[str]]


def assert_covers(granted: Grants, required: Grants) -> None:
    for key, verbs in required.items():
        missing = verbs - granted.get(key, set())
        assert not missing, f"{key} lacks verbs {sorted(missing)}"


@pytest.fixture(scope="module")
def default_docs(helm: Helm) -> Docs:
    return render(helm)


@pytest.fixture(scope="module")
def namespaced_docs(helm: Helm) -> Docs:
    return render(helm, *NAMESPACED)


@pytest.mark.integration
@pytest.mark.parametrize(
    "extra",
    [(), NAMESPACED, ("--set", "metrics.serviceMonitor.enabled=true")],
    ids=["all-namespaces", "namespaced", "service-monitor"],
)
def test_lint_strict(helm: Helm, extra: tuple[str, ...]) -> None:
    proc = helm("lint", "--strict", "--kube-version", KUBE_VERSION, str(CHART), *extra)
    assert "0 chart(s) failed" in proc.stdout, proc.stdout


def test_chart_metadata() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["name"] == "modelops-operator"
    assert chart["version"] == chart["appVersion"] == "0.1.0"
    assert chart["kubeVersion"] == ">=1.29.0-0"
    assert chart["description"]
    assert chart["keywords"]


@pytest.mark.integration
def test_kube_version_constraint_is_enforced(helm: Helm) -> None:
    proc = helm("template", RELEASE, str(CHART), "--kube-version", "1.28.9", check=False)
    assert proc.returncode != 0
    assert "kubeVersion" in proc.stderr


@pytest.mark.integration
def test_default_objects(default_docs: Docs) -> None:
    kinds = sorted(d["kind"] for d in default_docs)
    assert kinds == sorted(["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Deployment", "Service"]), kinds
    for doc in default_docs:
        labels = doc["metadata"]["labels"]
        for label in RECOMMENDED_LABELS:
            assert labels.get(label), f"{doc['kind']} lacks label {label}"
        assert labels["app.kubernetes.io/instance"] == RELEASE
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["helm.sh/chart"] == "modelops-operator-0.1.0"
        assert labels["app.kubernetes.io/version"] == "0.1.0"
        if doc["kind"] not in {"ClusterRole", "ClusterRoleBinding"}:
            assert doc["metadata"]["namespace"] == RELEASE_NAMESPACE


@pytest.mark.integration
def test_deployment_is_locked_down(default_docs: Docs) -> None:
    deployment = only(default_docs, "Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    pod = spec["template"]["spec"]
    assert set(spec["selector"]["matchLabels"].items()) <= set(spec["template"]["metadata"]["labels"].items())

    pod_sc = pod["securityContext"]
    assert pod_sc["runAsNonRoot"] is True
    assert pod_sc["runAsUser"] == 65532
    assert pod_sc["runAsGroup"] == 65532
    assert pod_sc["seccompProfile"] == {"type": "RuntimeDefault"}

    (container,) = pod["containers"]
    sc = container["securityContext"]
    assert sc["runAsNonRoot"] is True
    assert sc["runAsUser"] != 0
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}

    # the read-only root filesystem gets a writable /tmp
    volumes = {v["name"]: v for v in pod["volumes"]}
    (tmp,) = (m for m in container["volumeMounts"] if m["mountPath"] == "/tmp")
    assert "emptyDir" in volumes[tmp["name"]]
    assert not tmp.get("readOnly")

    assert container["image"] == "ghcr.io/modelops/modelops:0.1.0"
    assert container["resources"]["requests"]["cpu"]
    assert container["resources"]["requests"]["memory"]
    assert container["resources"]["limits"]["memory"]
    assert pod["serviceAccountName"] == only(default_docs, "ServiceAccount")["metadata"]["name"]


@pytest.mark.integration
def test_deployment_command(default_docs: Docs) -> None:
    (container,) = only(default_docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    argv = [*container.get("command", []), *container.get("args", [])]
    assert argv[:2] == ["modelops", "operator"]
    assert "--all-namespaces" in argv
    assert "--namespace" not in argv
    for flag, value in {
        "--metrics-port": "8080",
        "--health-port": "8081",
        "--log-format": "json",
        "--log-level": "INFO",
        # the operator's own image serves models unless told otherwise
        "--serving-image": container["image"],
    }.items():
        assert argv[argv.index(flag) + 1] == value
    assert "--prometheus-url" not in argv  # empty value: the operator's default


@pytest.mark.integration
def test_probes_hit_kopf_health_endpoint(default_docs: Docs) -> None:
    (container,) = only(default_docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"metrics": 8080, "health": 8081}
    for probe in ("livenessProbe", "readinessProbe"):
        get = container[probe]["httpGet"]
        assert get["path"] == "/healthz"
        assert ports.get(get["port"], get["port"]) == 8081
        assert container[probe]["periodSeconds"] > 0


@pytest.mark.integration
def test_metrics_service(default_docs: Docs) -> None:
    service = only(default_docs, "Service")
    deployment = only(default_docs, "Deployment")
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    (port,) = service["spec"]["ports"]
    assert port["name"] == "metrics"
    assert port["targetPort"] == "metrics"


@pytest.mark.integration
def test_cluster_wide_rbac(default_docs: Docs) -> None:
    assert_no_wildcards(default_docs)
    assert not of_kind(default_docs, "Role")
    assert not of_kind(default_docs, "RoleBinding")
    role = only(default_docs, "ClusterRole")
    granted = grants(role["rules"])
    assert_covers(granted, REQUIRED_NAMESPACED)
    assert_covers(granted, {("apiextensions.k8s.io", "customresourcedefinitions"): READ})
    # kopf serving the whole cluster never lists namespaces
    assert ("", "namespaces") not in granted
    # least privilege: nothing beyond what the operator does
    allowed = {**REQUIRED_NAMESPACED, ("apiextensions.k8s.io", "customresourcedefinitions"): READ}
    allowed.update({("modelops.dev", f"{plural}/finalizers"): {"update"} for plural in KINDS})
    for key, verbs in granted.items():
        assert key in allowed, f"unexpected grant {key}"
        assert verbs <= allowed[key], f"{key}: unexpected verbs {sorted(verbs - allowed[key])}"
    assert granted[("", "secrets")] == {"get"}  # never list/watch: the operator must not hold every Secret

    binding = only(default_docs, "ClusterRoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": role["metadata"]["name"],
    }
    sa = only(default_docs, "ServiceAccount")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": RELEASE_NAMESPACE}
    ]


@pytest.mark.integration
def test_namespaced_rbac(namespaced_docs: Docs) -> None:
    assert_no_wildcards(namespaced_docs)
    sa = only(namespaced_docs, "ServiceAccount")["metadata"]["name"]

    roles = {d["metadata"]["namespace"]: d for d in of_kind(namespaced_docs, "Role")}
    bindings = {d["metadata"]["namespace"]: d for d in of_kind(namespaced_docs, "RoleBinding")}
    assert sorted(roles) == ["a", "b"]
    assert sorted(bindings) == ["a", "b"]
    for namespace, role in roles.items():
        assert_covers(grants(role["rules"]), REQUIRED_NAMESPACED)
        binding = bindings[namespace]
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": role["metadata"]["name"],
        }
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa, "namespace": RELEASE_NAMESPACE}]

    # the ClusterRole keeps only cluster-scoped reads, none of the namespaced resources:
    # CRDs (kopf scans them) and namespaces (kopf learns which watched namespaces exist)
    (cluster_role,) = of_kind(namespaced_docs, "ClusterRole")
    assert grants(cluster_role["rules"]) == {
        ("apiextensions.k8s.io", "customresourcedefinitions"): READ,
        ("", "namespaces"): {"list", "watch"},
    }

    (container,) = only(namespaced_docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    argv = container["args"]
    assert "--all-namespaces" not in argv
    watched = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--namespace"]
    assert watched == ["a", "b"]


@pytest.mark.integration
def test_secrets_grant_can_be_dropped(helm: Helm) -> None:
    for args in ((), NAMESPACED):
        docs = render(helm, "--set", "prometheus.readSecrets=false", *args)
        for role in of_kind(docs, "ClusterRole") + of_kind(docs, "Role"):
            assert ("", "secrets") not in grants(role["rules"])


@pytest.mark.integration
def test_namespaced_mode_needs_namespaces(helm: Helm) -> None:
    proc = template(helm, "--set", "watch.allNamespaces=false", check=False)
    assert proc.returncode != 0
    assert "watch.namespaces" in proc.stderr


@pytest.mark.integration
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("replicaCount=2", "replicaCount must be 1"),
        ("logFormat=xml", "logFormat must be json or text"),
        ("logLevel=verbose", "logLevel must be"),
        ("metrics.service.enabled=false,metrics.serviceMonitor.enabled=true", "needs metrics.service"),
        ("health.port=8080", "must differ"),
    ],
)
def test_invalid_values_fail(helm: Helm, value: str, message: str) -> None:
    proc = template(helm, "--set", value, check=False)
    assert proc.returncode != 0
    assert message in proc.stderr


@pytest.mark.integration
def test_service_monitor(helm: Helm, default_docs: Docs) -> None:
    assert not of_kind(default_docs, "ServiceMonitor")
    docs = render(
        helm,
        "--set",
        "metrics.serviceMonitor.enabled=true",
        "--set",
        "metrics.serviceMonitor.labels.release=kps",
    )
    monitor = only(docs, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kps"
    service_labels = only(docs, "Service")["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service_labels.items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [RELEASE_NAMESPACE]}
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == "metrics"
    assert endpoint["path"] == "/metrics"


WIRED_VALUES = [
    "image.digest=sha256:" + "a" * 64,
    "prometheus.url=http://prometheus.monitoring.svc:9090",
    "logFormat=text",
    "logLevel=debug",
    "servingImage=registry.example.com/model-server:2",
    "serviceAccount.name=custom-sa",
    "priorityClassName=system-cluster-critical",
    "extraEnv[0].name=HTTPS_PROXY,extraEnv[0].value=http://proxy:3128",
    "podAnnotations.team=ml",
    "imagePullSecrets[0].name=regcred",
]


@pytest.mark.integration
def test_values_are_wired(helm: Helm) -> None:
    docs = render(helm, *(arg for value in WIRED_VALUES for arg in ("--set", value)))
    pod = only(docs, "Deployment")["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    assert container["image"] == "ghcr.io/modelops/modelops@sha256:" + "a" * 64
    argv = container["args"]
    assert argv[argv.index("--prometheus-url") + 1] == "http://prometheus.monitoring.svc:9090"
    assert argv[argv.index("--log-format") + 1] == "text"
    assert argv[argv.index("--log-level") + 1] == "DEBUG"
    assert argv[argv.index("--serving-image") + 1] == "registry.example.com/model-server:2"
    assert container["env"] == [{"name": "HTTPS_PROXY", "value": "http://proxy:3128"}]
    assert pod["metadata"]["annotations"] == {"team": "ml"}
    assert pod["spec"]["serviceAccountName"] == "custom-sa"
    assert only(docs, "ServiceAccount")["metadata"]["name"] == "custom-sa"
    assert only(docs, "ClusterRoleBinding")["subjects"][0]["name"] == "custom-sa"
    assert pod["spec"]["priorityClassName"] == "system-cluster-critical"
    assert pod["spec"]["imagePullSecrets"] == [{"name": "regcred"}]


def _leaf_keys(values: dict[str, Any], prefix: str = "") -> Iterator[str]:
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            yield from _leaf_keys(value, f"{path}.")
        else:
            yield path


def test_every_value_is_documented() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    readme = (CHART / "README.md").read_text()
    for key in _leaf_keys(values):
        parts = key.split(".")
        prefixes = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
        assert any(f"| `{p}` |" in readme for p in prefixes), f"{key} is not in the README's values table"


def test_chart_ships_exactly_the_three_crds() -> None:
    shipped = {p.name for p in (CHART / "crds").iterdir()} if (CHART / "crds").is_dir() else set()
    assert shipped == CRD_FILES
    for name in sorted(CRD_FILES):
        crd = yaml.safe_load((CHART / "crds" / name).read_text())
        assert crd["kind"] == "CustomResourceDefinition"
        assert crd["spec"]["group"] == "modelops.dev"
        assert crd["spec"]["scope"] == "Namespaced"
        plural = crd["spec"]["names"]["plural"]
        assert name == f"modelops.dev_{plural}.yaml"
        assert crd["metadata"]["name"] == f"{plural}.modelops.dev"
        served = [v["name"] for v in crd["spec"]["versions"] if v["served"]]
        assert "v1alpha1" in served
        # the chart's copy is the generated file at the repository top
        assert filecmp.cmp(CHART / "crds" / name, REPO / "crds" / name, shallow=False), (
            f"charts/modelops-operator/crds/{name} differs from crds/{name}"
        )
