"""The Helm chart: lints strictly, renders least-privilege RBAC and a locked-down Deployment.

The rendering tests run the pinned helm binary built by ``modelops_devcluster.build``
(cached; built on first use), so they are in the integration tier; the file checks are unit
tests. No cluster and no network are needed.
"""

from __future__ import annotations

import filecmp
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.chart.rbac_needs import as_grants, cluster_needs, leader_election_needs, namespaced_needs

from modelops.api import names
from modelops.api.names import Owner
from modelops.api.v1alpha1 import ModelDeploymentSpec
from modelops.render.serving import VersionPlan, deployment
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
OPERATOR_ROLE = "modelops-operator"  # the release's full name
AGGREGATE_ROLES = ("modelops-view", "modelops-edit")

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


def operator_role(docs: Docs) -> dict[str, Any]:
    """The operator's own ClusterRole (the chart also renders the aggregated roles for people)."""
    (role,) = [d for d in of_kind(docs, "ClusterRole") if d["metadata"]["name"] == OPERATOR_ROLE]
    return role


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
    expected = ["ServiceAccount", "ClusterRoleBinding", "Deployment", "Service"]
    expected += ["ClusterRole"] * 3 + ["CustomResourceDefinition"] * 3
    expected += ["Role", "RoleBinding", "PodDisruptionBudget"]  # leader election, two replicas
    assert kinds == sorted(expected), kinds
    for doc in default_docs:
        labels = doc["metadata"]["labels"]
        if doc["kind"] == "CustomResourceDefinition":  # the generated files' labels, unchanged
            assert labels == {"app.kubernetes.io/name": "modelops", "app.kubernetes.io/part-of": "modelops"}
            continue
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
    assert spec["replicas"] == 2  # one leader, one standby
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
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
    """Exactly what the code calls (tests/chart/rbac_needs.py derives it), in every namespace."""
    assert_no_wildcards(default_docs)
    check_leader_election_rbac(default_docs)
    role = operator_role(default_docs)
    assert grants(role["rules"]) == as_grants(namespaced_needs() | cluster_needs(all_namespaces=True))
    assert grants(role["rules"])[("", "secrets")] == {"get"}  # never list/watch: not every Secret

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


LEADER_ELECTION_ROLE = f"{OPERATOR_ROLE}-leader-election"


def check_leader_election_rbac(docs: Docs) -> None:
    """The Lease only, in the release namespace only, bound to the operator's ServiceAccount."""
    (role,) = [d for d in of_kind(docs, "Role") if d["metadata"]["name"] == LEADER_ELECTION_ROLE]
    (binding,) = [d for d in of_kind(docs, "RoleBinding") if d["metadata"]["name"] == LEADER_ELECTION_ROLE]
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == RELEASE_NAMESPACE
    assert grants(role["rules"]) == as_grants(leader_election_needs())
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": LEADER_ELECTION_ROLE}
    sa = only(docs, "ServiceAccount")["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa, "namespace": RELEASE_NAMESPACE}]


def watched_roles(docs: Docs, kind: str) -> Docs:
    return [d for d in of_kind(docs, kind) if d["metadata"]["name"] != LEADER_ELECTION_ROLE]


@pytest.mark.integration
def test_namespaced_rbac(namespaced_docs: Docs) -> None:
    assert_no_wildcards(namespaced_docs)
    check_leader_election_rbac(namespaced_docs)
    sa = only(namespaced_docs, "ServiceAccount")["metadata"]["name"]

    roles = {d["metadata"]["namespace"]: d for d in watched_roles(namespaced_docs, "Role")}
    bindings = {d["metadata"]["namespace"]: d for d in watched_roles(namespaced_docs, "RoleBinding")}
    assert sorted(roles) == ["a", "b"]
    assert sorted(bindings) == ["a", "b"]
    for namespace, role in roles.items():
        assert grants(role["rules"]) == as_grants(namespaced_needs())
        binding = bindings[namespace]
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": role["metadata"]["name"],
        }
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa, "namespace": RELEASE_NAMESPACE}]

    # the ClusterRole keeps only cluster-scoped reads, none of the namespaced resources:
    # CRDs (kopf scans them) and namespaces (kopf learns which watched namespaces exist)
    assert grants(operator_role(namespaced_docs)["rules"]) == as_grants(cluster_needs(all_namespaces=False))

    (container,) = only(namespaced_docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    argv = container["args"]
    assert "--all-namespaces" not in argv
    watched = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--namespace"]
    assert watched == ["a", "b"]


@pytest.mark.integration
@pytest.mark.parametrize("read_secrets", [True, False])
def test_rbac_follows_read_secrets(helm: Helm, read_secrets: bool) -> None:
    docs = render(helm, "--set", f"prometheus.readSecrets={str(read_secrets).lower()}")
    expected = namespaced_needs(read_secrets=read_secrets) | cluster_needs(all_namespaces=True)
    assert grants(operator_role(docs)["rules"]) == as_grants(expected)


@pytest.mark.integration
def test_secrets_grant_can_be_dropped(helm: Helm) -> None:
    for args in ((), NAMESPACED):
        docs = render(helm, "--set", "prometheus.readSecrets=false", *args)
        for role in [operator_role(docs), *watched_roles(docs, "Role")]:
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
        ("replicaCount=0", "at '/replicaCount'"),  # values.schema.json
        ("replicaCount=2,leaderElection.enabled=false", "replicaCount > 1 needs leaderElection.enabled"),
        ("leaderElection.renewDeadline=15", "retryPeriod < renewDeadline < leaseDuration"),
        ("leaderElection.retryPeriod=10", "retryPeriod < renewDeadline < leaseDuration"),
        ("podAntiAffinity=always", "at '/podAntiAffinity'"),
        ("logFormat=xml", "at '/logFormat': value must be one of 'json', 'text'"),
        ("logLevel=verbose", "at '/logLevel'"),
        ("metrics.service.enabled=false,metrics.serviceMonitor.enabled=true", "needs metrics.service"),
        ("health.port=8080", "must differ"),
        ("metrics.port=0", "at '/metrics/port'"),
        ("watch.namespaces={Team_A}", "at '/watch/namespaces/0'"),
        ("image.pullPolicy=Sometimes", "at '/image/pullPolicy'"),
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
    assert endpoint["honorLabels"] is True  # the series' namespace is the resource's, not the operator pod's


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
    assert container["env"][-1] == {"name": "HTTPS_PROXY", "value": "http://proxy:3128"}
    assert [e["name"] for e in container["env"][:2]] == ["POD_NAME", "POD_NAMESPACE"]  # the Lease's identity
    assert pod["metadata"]["annotations"] == {"team": "ml"}
    assert pod["spec"]["serviceAccountName"] == "custom-sa"
    assert only(docs, "ServiceAccount")["metadata"]["name"] == "custom-sa"
    assert only(docs, "ClusterRoleBinding")["subjects"][0]["name"] == "custom-sa"
    assert pod["spec"]["priorityClassName"] == "system-cluster-critical"
    assert pod["spec"]["imagePullSecrets"] == [{"name": "regcred"}]


@pytest.mark.integration
def test_high_availability_by_default(default_docs: Docs) -> None:
    """Two replicas electing a leader, a PDB keeping one through drains, spread over nodes."""
    deployment = only(default_docs, "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    argv = container["args"]
    assert "--leader-elect" in argv
    for flag, value in {
        "--lease-name": "modelops-operator",
        "--lease-duration": "15",
        "--renew-deadline": "10",
        "--retry-period": "2",
    }.items():
        assert argv[argv.index(flag) + 1] == value
    pdb = only(default_docs, "PodDisruptionBudget")
    assert pdb["spec"] == {"minAvailable": 1, "selector": deployment["spec"]["selector"]}
    anti = deployment["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    (term,) = anti["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert term["podAffinityTerm"]["labelSelector"] == deployment["spec"]["selector"]


@pytest.mark.integration
def test_high_availability_values(helm: Helm) -> None:
    single = render(helm, "--set", "replicaCount=1,leaderElection.enabled=false")
    deployment = only(single, "Deployment")
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert "--leader-elect" not in deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert not of_kind(single, "Role") and not of_kind(single, "PodDisruptionBudget")
    assert not of_kind(render(helm, "--set", "replicaCount=1"), "PodDisruptionBudget")  # nothing to keep

    hard = only(render(helm, "--set", "podAntiAffinity=hard"), "Deployment")["spec"]["template"]["spec"]
    assert "requiredDuringSchedulingIgnoredDuringExecution" in hard["affinity"]["podAntiAffinity"]
    none = only(render(helm, "--set", "podAntiAffinity=none"), "Deployment")["spec"]["template"]["spec"]
    assert "affinity" not in none
    own = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": []}, "nodeAffinity": {}}
    docs = render(helm, "--set-json", f"affinity={json.dumps(own)}")
    assert only(docs, "Deployment")["spec"]["template"]["spec"]["affinity"] == own  # the user's wins

    docs = render(
        helm,
        "--set",
        "leaderElection.leaseName=ops-lease,leaderElection.leaseDuration=4,leaderElection.renewDeadline=3,leaderElection.retryPeriod=1",
    )
    argv = only(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert argv[argv.index("--lease-name") + 1] == "ops-lease"
    assert argv[argv.index("--lease-duration") + 1] == "4"
    assert {d["metadata"]["name"] for d in of_kind(docs, "Role")} == {"ops-lease-leader-election"}


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
    # not in the chart's crds/ folder, which Helm installs unconditionally and never upgrades
    assert not (CHART / "crds").exists()
    shipped = {p.name for p in (CHART / "files" / "crds").iterdir()}
    assert shipped == CRD_FILES
    for name in sorted(CRD_FILES):
        crd = yaml.safe_load((CHART / "files" / "crds" / name).read_text())
        assert crd["kind"] == "CustomResourceDefinition"
        assert crd["spec"]["group"] == "modelops.dev"
        assert crd["spec"]["scope"] == "Namespaced"
        plural = crd["spec"]["names"]["plural"]
        assert name == f"modelops.dev_{plural}.yaml"
        assert crd["metadata"]["name"] == f"{plural}.modelops.dev"
        served = [v["name"] for v in crd["spec"]["versions"] if v["served"]]
        assert "v1alpha1" in served
        # the chart's copy is the generated file at the repository top
        assert filecmp.cmp(CHART / "files" / "crds" / name, REPO / "crds" / name, shallow=False), (
            f"charts/modelops-operator/files/crds/{name} differs from crds/{name}"
        )


# --- values.schema.json: a typo fails instead of being ignored -----------------------------

SCHEMA = CHART / "values.schema.json"
TYPOS = [  # (--set, the key the schema names)
    ("metrics.servicemonitor.enabled=true", "servicemonitor"),  # case
    ("watch.allNamespace=false", "allNamespace"),  # a letter short
    ("replicas=1", "replicas"),  # a key the chart does not have
    ("modelServers.podMonitor.enable=true", "enable"),
    ("crds.instal=false", "instal"),
    ("image.tags=1.0", "tags"),
]


@pytest.mark.integration
@pytest.mark.parametrize(("typo", "key"), TYPOS)
def test_a_typo_fails_lint_and_template(helm: Helm, typo: str, key: str) -> None:
    lint = helm("lint", "--strict", "--kube-version", KUBE_VERSION, str(CHART), "--set", typo, check=False)
    assert lint.returncode != 0
    assert f"additional properties '{key}' not allowed" in lint.stdout + lint.stderr
    rendered = template(helm, "--set", typo, check=False)
    assert rendered.returncode != 0
    assert f"additional properties '{key}' not allowed" in rendered.stderr


@pytest.mark.integration
def test_a_typo_in_a_values_file_fails(helm: Helm, tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text("prometheus:\n  url: http://prometheus:9090\n  readSecret: false\n")
    proc = template(helm, "-f", str(values), check=False)
    assert proc.returncode != 0
    assert "additional properties 'readSecret' not allowed" in proc.stderr


@pytest.mark.integration
def test_valid_values_pass_the_schema(helm: Helm, tmp_path: Path) -> None:
    """Every documented knob at a non-default value, in one values file."""
    values = {
        "crds": {"install": False},
        "rbac": {"aggregateClusterRoles": False},
        "watch": {"allNamespaces": False, "namespaces": ["team-a"]},
        "prometheus": {"url": "https://prometheus.example.com", "readSecrets": False},
        "logLevel": "warning",
        "metrics": {
            "port": 9090,
            "service": {"type": "NodePort", "port": 9091, "annotations": {"a": "b"}},
            "serviceMonitor": {"enabled": True, "interval": "1m", "scrapeTimeout": "30s", "labels": {"r": "k"}},
        },
        "modelServers": {"podMonitor": {"enabled": True, "interval": "30s", "labels": {"r": "k"}, "namespace": "mon"}},
        "health": {"port": 9092},
        "livenessProbe": {"periodSeconds": 20},
        "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "2Gi"}},
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "ml", "operator": "Exists"}],
        "affinity": {"nodeAffinity": {}},
        "podLabels": {"team": "ml"},
        "tmpSizeLimit": "128Mi",
        "serviceAccount": {"create": False, "name": "existing", "annotations": {"owner": "ml-team"}},
        "terminationGracePeriodSeconds": 60,
        "replicaCount": 3,
        "leaderElection": {"leaseName": "ops", "leaseDuration": 30, "renewDeadline": 20, "retryPeriod": 4},
        "podDisruptionBudget": {"minAvailable": 2},
        "podAntiAffinity": "hard",
    }
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    helm("lint", "--strict", "--kube-version", KUBE_VERSION, str(CHART), "-f", str(path))
    docs = [doc for doc in yaml.safe_load_all(template(helm, "-f", str(path)).stdout) if doc]
    assert only(docs, "PodMonitor")["metadata"]["namespace"] == "mon"
    assert not of_kind(docs, "CustomResourceDefinition")


def _schema_keys(schema: dict[str, Any], prefix: str = "") -> Iterator[str]:
    for key, sub in schema.get("properties", {}).items():
        yield f"{prefix}{key}"
        yield from _schema_keys(sub, f"{prefix}{key}.")


def test_schema_covers_every_value_and_refuses_unknown_keys() -> None:
    schema = json.loads(SCHEMA.read_text())
    assert schema["additionalProperties"] is False
    known = set(_schema_keys(schema))
    values = yaml.safe_load((CHART / "values.yaml").read_text())

    def walk(node: dict[str, Any], sub: dict[str, Any], prefix: str) -> None:
        for key, value in node.items():
            path = f"{prefix}{key}"
            assert path in known, f"{path} is in values.yaml but not in values.schema.json"
            child = sub["properties"][key]
            # our own groups of settings are closed; Kubernetes types (resources, affinity, ...)
            # and free maps (labels, annotations) are left to the API server
            if isinstance(value, dict) and "properties" in child:
                assert child.get("additionalProperties") is False, f"{path} accepts unknown keys"
                walk(value, child, f"{path}.")

    walk(values, schema, "")


# --- CRDs: installed and upgraded with the release, or not at all -------------------------


@pytest.mark.integration
def test_crds_render_from_the_generated_files(default_docs: Docs) -> None:
    crds = {d["metadata"]["name"]: d for d in of_kind(default_docs, "CustomResourceDefinition")}
    assert sorted(crds) == sorted(f"{plural}.modelops.dev" for plural in KINDS)
    for plural in KINDS:
        rendered = crds[f"{plural}.modelops.dev"]
        # kept on uninstall: deleting a CRD deletes every object of its kind
        assert rendered["metadata"].pop("annotations") == {"helm.sh/resource-policy": "keep"}
        generated = yaml.safe_load((REPO / "crds" / f"modelops.dev_{plural}.yaml").read_text())
        assert rendered == generated


@pytest.mark.integration
def test_crds_install_false_renders_none(helm: Helm) -> None:
    docs = render(helm, "--set", "crds.install=false")
    assert not of_kind(docs, "CustomResourceDefinition")
    assert of_kind(docs, "Deployment")


# --- aggregated ClusterRoles for people -------------------------------------------------


@pytest.mark.integration
def test_aggregate_cluster_roles(default_docs: Docs) -> None:
    roles = {d["metadata"]["name"]: d for d in of_kind(default_docs, "ClusterRole")}
    view, edit = roles["modelops-view"], roles["modelops-edit"]
    aggregate = "rbac.authorization.k8s.io/aggregate-to-"
    assert {k for k, v in view["metadata"]["labels"].items() if k.startswith(aggregate) and v == "true"} == {
        aggregate + "view",
        aggregate + "edit",
        aggregate + "admin",
    }
    assert {k for k, v in edit["metadata"]["labels"].items() if k.startswith(aggregate) and v == "true"} == {
        aggregate + "edit",
        aggregate + "admin",
    }
    own = {("modelops.dev", plural) for plural in KINDS}
    view_grants = grants(view["rules"])
    assert {k: v for k, v in view_grants.items() if k in own} == {key: {"get", "list", "watch"} for key in own}
    assert set(view_grants) - own == {("modelops.dev", f"{plural}/status") for plural in KINDS}
    assert all(v == {"get"} for k, v in view_grants.items() if k not in own)
    edit_verbs = {"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
    assert all(grants(edit["rules"])[key] == edit_verbs for key in own)
    assert set(grants(edit["rules"])) == own


@pytest.mark.integration
def test_aggregate_cluster_roles_can_be_dropped(helm: Helm) -> None:
    docs = render(helm, "--set", "rbac.aggregateClusterRoles=false")
    assert [d["metadata"]["name"] for d in of_kind(docs, "ClusterRole")] == [OPERATOR_ROLE]


# --- PodMonitor for the model servers ----------------------------------------------------


def _model_server_pod() -> dict[str, Any]:
    """The pod template the operator renders for a model server (render/serving.py)."""
    spec = ModelDeploymentSpec.model_validate(
        {"model": {"name": "fraud", "version": "v2", "uri": "file:///m/v2/model.npz"}}
    )
    plan = VersionPlan("v2", "file:///m/v2/model.npz", None, 2, 1.0, "stable")
    template_: dict[str, Any] = deployment(Owner("fraud", "ml", "uid-1"), spec, plan, serving_image="img")["spec"][
        "template"
    ]
    return template_


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, op, values = expression["key"], expression["operator"], expression.get("values", [])
        ok = {
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
            "In": labels.get(key) in values,
            "NotIn": labels.get(key) not in values,
        }[op]
        if not ok:
            return False
    return True


@pytest.mark.integration
def test_pod_monitor_selects_model_server_pods(helm: Helm, default_docs: Docs) -> None:
    assert not of_kind(default_docs, "PodMonitor")  # off by default, like the ServiceMonitor
    docs = render(
        helm,
        "--set",
        "modelServers.podMonitor.enabled=true",
        "--set",
        "modelServers.podMonitor.labels.release=kps",
    )
    monitor = only(docs, "PodMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["namespace"] == RELEASE_NAMESPACE
    assert monitor["metadata"]["labels"]["release"] == "kps"
    assert monitor["spec"]["namespaceSelector"] == {"any": True}

    pod = _model_server_pod()
    selector = monitor["spec"]["selector"]
    assert _selects(selector, pod["metadata"]["labels"])
    for variant in ("canary", "shadow"):  # whatever role the version plays
        assert _selects(selector, {**pod["metadata"]["labels"], names.VARIANT_LABEL: variant})
    # not the operator's own pod, nor a pod of someone else's app that happens to share a name label
    operator_pod = only(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert not _selects(selector, operator_pod)
    assert not _selects(selector, {"app.kubernetes.io/name": "modelops-model"})

    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    ports = {p["name"] for c in pod["spec"]["containers"] for p in c.get("ports", [])}
    assert endpoint["port"] in ports
    assert endpoint["path"] == pod["metadata"]["annotations"]["prometheus.io/path"] == "/metrics"
    assert endpoint["interval"] == "15s"


@pytest.mark.integration
def test_pod_monitor_follows_watched_namespaces(helm: Helm) -> None:
    docs = render(helm, "--set", "modelServers.podMonitor.enabled=true", *NAMESPACED)
    assert only(docs, "PodMonitor")["spec"]["namespaceSelector"] == {"matchNames": ["a", "b"]}


@pytest.mark.integration
def test_lint_with_every_toggle(helm: Helm) -> None:
    toggles = ("modelServers.podMonitor.enabled=true", "crds.install=false", "rbac.aggregateClusterRoles=false")
    args = [arg for toggle in toggles for arg in ("--set", toggle)]
    proc = helm("lint", "--strict", "--kube-version", KUBE_VERSION, str(CHART), *args)
    assert "0 chart(s) failed" in proc.stdout, proc.stdout
