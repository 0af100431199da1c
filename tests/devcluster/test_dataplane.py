"""The local data plane runs model-server pods on their loopback IPs, Prometheus finds them through
the API server, and routed traffic lands where Services, HTTPRoutes and VirtualServices say.

Counters are compared exactly: every test reads Prometheus before sending (after it has scraped
every pod at least once, with no traffic in flight), sends, and waits until Prometheus shows
the old value plus what was sent.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import math
import os
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from scipy.stats import binom

from modelops.api.v1alpha1.baseline import Baseline, FeatureBaseline
from modelops.models.base import FeatureSpec, Signature
from modelops.models.numpy_linear import NumpyLinearModel
from modelops.train.dataset import COUNTRIES, Dataset, generate
from modelops_devcluster import crds
from modelops_devcluster.cluster import DevCluster
from modelops_devcluster.dataplane import DataPlane, LocalPod, NonLoopbackError, require_loopback
from modelops_devcluster.prometheus import PrometheusServer
from modelops_devcluster.scrape import PodDiscovery, prometheus_config
from modelops_devcluster.traffic import Fault, HTTPRoute, Service, TrafficGenerator, VirtualService, resolve_routes

pytestmark = pytest.mark.integration

NAMESPACE = "dataplane-tests"
MODEL = "fraud"
IMAGE = "ghcr.io/modelops/modelops:0.1.0"
WAIT_S = 30.0
RATE = 250.0
Factory = Callable[[dict[str, Any] | str], PrometheusServer]
Scraping = Callable[[list[LocalPod]], PrometheusServer]


# -- artifacts: a model file, its baseline, production-like traffic ------------------------


@dataclass(frozen=True)
class Artifacts:
    uri: str
    sha256: str
    baseline: Baseline
    traffic: Dataset


def _baseline(train: Dataset) -> Baseline:
    """Decile edges of the training data; counts with Prometheus `le` semantics."""
    features = []
    for i, name in enumerate(train.numeric_names):
        column = train.numeric[:, i]
        edges = sorted({float(f"{q:.6g}") for q in np.quantile(column, np.arange(1, 10) / 10)})
        counts = np.bincount(np.searchsorted(edges, column, side="left"), minlength=len(edges) + 1)
        features.append(FeatureBaseline(name=name, edges=edges, counts=[int(c) for c in counts]))
    countries = Counter(str(c) for c in train.categorical["country"])
    features.append(FeatureBaseline(name="country", type="categorical", categories=dict(countries)))
    return Baseline(model=MODEL, version="v1", features=features)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Artifacts:
    train = generate(5000, seed=11)
    features = (*(FeatureSpec(n) for n in train.numeric_names), FeatureSpec("country", "categorical", COUNTRIES))
    n = len(train.numeric_names)
    model = NumpyLinearModel(
        Signature(features),
        means=train.numeric.mean(axis=0),
        scales=train.numeric.std(axis=0),
        coef=np.concatenate([np.linspace(-1.0, 1.0, n), np.zeros(len(COUNTRIES))]),
        intercept=-2.5,
    )
    path = tmp_path_factory.mktemp("model") / "model.npz"
    model.save(path)
    return Artifacts(
        uri=f"file://{path}",
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        baseline=_baseline(train),
        traffic=generate(3000, seed=12),
    )


# -- the cluster side: namespace, data plane, Deployments, Services, routes -----------------


def _apply(cluster: DevCluster, *objects: dict[str, Any]) -> None:
    manifest = json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)})
    cluster.kubectl("apply", "-n", NAMESPACE, "-f", "-", input=manifest)


def _labels(version: str, variant: str) -> dict[str, str]:
    return {"modelops.dev/model": MODEL, "modelops.dev/version": version, "modelops.dev/variant": variant}


def _deployment(name: str, version: str, variant: str, *, replicas: int, uri: str, sha256: str) -> dict[str, Any]:
    """A model-server Deployment shaped the way the operator renders them."""
    labels = _labels(version, variant)
    env = {"MODELOPS_MODEL_NAME": MODEL, "MODELOPS_MODEL_VERSION": version, "MODELOPS_VARIANT": variant}
    env |= {"MODELOPS_MODEL_URI": uri, "MODELOPS_MODEL_SHA256": sha256}
    annotations = {"prometheus.io/scrape": "true", "prometheus.io/port": "8080", "prometheus.io/path": "/metrics"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels, "annotations": annotations},
                "spec": {
                    "initContainers": [
                        {
                            "name": "fetch",
                            "image": IMAGE,
                            "command": ["modelops"],
                            "args": ["fetch-model", "--uri", uri, "--sha256", sha256, "--dest", "/models"],
                            "volumeMounts": [{"name": "models", "mountPath": "/models"}],
                        }
                    ],
                    "containers": [
                        {
                            "name": "model",
                            "image": IMAGE,
                            "command": ["modelops"],
                            "args": [
                                "serve",
                                "--model-dir",
                                "/models",
                                "--baseline",
                                "/etc/modelops/baseline/baseline.json",
                            ],
                            "env": [{"name": k, "value": v} for k, v in env.items()],
                            "ports": [{"name": "http", "containerPort": 8080}],
                            "volumeMounts": [
                                {"name": "models", "mountPath": "/models"},
                                {"name": "baseline", "mountPath": "/etc/modelops/baseline"},
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": "models", "emptyDir": {}},
                        {"name": "baseline", "configMap": {"name": f"{MODEL}-baseline"}},
                    ],
                },
            },
        },
    }


def _service(version: str) -> dict[str, Any]:
    selector = {"modelops.dev/model": MODEL, "modelops.dev/version": version}
    ports = [{"name": "http", "port": 80, "targetPort": "http"}]  # a named targetPort, resolved per pod
    spec = {"selector": selector, "ports": ports}
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"{MODEL}-{version}"}, "spec": spec}


@pytest.fixture(scope="module")
def namespace(cluster: DevCluster) -> Iterator[str]:
    cluster.kubectl("create", "namespace", NAMESPACE)
    yield NAMESPACE
    cluster.kubectl("delete", "namespace", NAMESPACE, "--wait=false")


@pytest.fixture(scope="module")
def dataplane(cluster: DevCluster, namespace: str) -> Iterator[DataPlane]:
    with DataPlane(cluster, [namespace], allow_fault_injection=True) as dp:
        yield dp


@pytest.fixture(scope="module")
def stable(cluster: DevCluster, dataplane: DataPlane, artifacts: Artifacts) -> list[LocalPod]:
    """v1, stable, 2 replicas behind Service fraud-v1."""
    baseline = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{MODEL}-baseline"}}
    baseline["data"] = {"baseline.json": artifacts.baseline.model_dump_json()}
    deployment = _deployment(f"{MODEL}-v1", "v1", "stable", replicas=2, uri=artifacts.uri, sha256=artifacts.sha256)
    _apply(cluster, baseline, deployment, _service("v1"))
    return dataplane.wait_ready({"modelops.dev/version": "v1"}, timeout=WAIT_S, count=2)


@pytest.fixture(scope="module")
def canary(cluster: DevCluster, dataplane: DataPlane, artifacts: Artifacts, stable: list[LocalPod]) -> list[LocalPod]:
    """v2, canary, 1 replica behind Service fraud-v2, and HTTPRoute fraud splitting 80/20."""
    crds.install(cluster, crds.gateway_api_crds())
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": MODEL},
        "spec": {
            "parentRefs": [{"name": "modelops-gateway"}],
            "rules": [
                {
                    "backendRefs": [
                        {"name": f"{MODEL}-v1", "port": 80, "weight": 80},
                        {"name": f"{MODEL}-v2", "port": 80, "weight": 20},
                    ]
                }
            ],
        },
    }
    deployment = _deployment(f"{MODEL}-v2", "v2", "canary", replicas=1, uri=artifacts.uri, sha256=artifacts.sha256)
    _apply(cluster, deployment, _service("v2"), route)
    return dataplane.wait_ready({"modelops.dev/version": "v2"}, timeout=WAIT_S, count=1)


# -- Prometheus -----------------------------------------------------------------------------


def _query(prom: PrometheusServer, promql: str) -> list[dict[str, Any]]:
    url = f"{prom.url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    body = httpx.get(url, timeout=5, trust_env=False).json()
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def _by(prom: PrometheusServer, promql: str, label: str) -> dict[str, float]:
    return {r["metric"].get(label, ""): float(r["value"][1]) for r in _query(prom, promql)}


def _wait_for(prom: PrometheusServer, promql: str, label: str, expected: dict[str, float]) -> dict[str, float]:
    """Poll until the query (grouped by `label`) shows `expected` for every key in it."""
    deadline = time.monotonic() + WAIT_S
    while True:
        got = _by(prom, promql, label)
        if all(math.isclose(got.get(k, 0.0), v) for k, v in expected.items()) or time.monotonic() > deadline:
            return got
        time.sleep(0.5)


@pytest.fixture(scope="module")
def discovery(cluster: DevCluster, namespace: str) -> Iterator[PodDiscovery]:
    """kubernetes_sd's pod role over HTTP SD: Debian's Prometheus is built without Kubernetes discovery."""
    with PodDiscovery(cluster, [namespace]) as sd:
        yield sd


@pytest.fixture
def scraping(
    prometheus_factory: Factory, cluster: DevCluster, discovery: PodDiscovery
) -> Callable[[list[LocalPod]], PrometheusServer]:
    """Start a fresh Prometheus and wait until it has scraped every one of `pods` successfully."""

    def start(pods: list[LocalPod]) -> PrometheusServer:
        config = prometheus_config(cluster, namespaces=[NAMESPACE], scrape_interval="1s", discovery_url=discovery.url)
        prom = prometheus_factory(config)
        expected = {p.name: 1.0 for p in pods}
        up = _wait_for(prom, f'up{{namespace="{NAMESPACE}"}}', "pod", expected)
        assert {k: v for k, v in up.items() if k in expected} == expected, f"not all pods scraped: {up}"
        return prom

    return start


REQUESTS = f'sum by (version) (modelops_requests_total{{namespace="{NAMESPACE}"}})'
ERRORS = f'sum by (version) (modelops_requests_total{{namespace="{NAMESPACE}", code=~"5.."}})'


def _binomial_ok(successes: int, trials: int, p: float) -> bool:
    low, high = binom.interval(0.999, trials, p)
    return bool(low <= successes <= high)


# -- (a) pods run on their loopback IPs ------------------------------------------------------


def test_two_replicas_serve_on_their_pod_ips(cluster: DevCluster, dataplane: DataPlane, stable: list[LocalPod]) -> None:
    api_pods = json.loads(
        cluster.kubectl("get", "pods", "-n", NAMESPACE, "-l", "modelops.dev/version=v1", "-o", "json").stdout
    )
    api_ips = {p["metadata"]["name"]: p["status"]["podIP"] for p in api_pods["items"]}
    assert {p.name: p.ip for p in stable} == api_ips
    assert len({p.ip for p in stable}) == 2
    for pod in stable:
        assert ipaddress.ip_address(pod.ip) in ipaddress.ip_network(cluster.pod_cidr)
        assert pod.pid is not None and _alive(pod.pid)  # a live local process
        metadata = httpx.get(f"http://{pod.ip}:{pod.port}/v2/models/{MODEL}", timeout=5, trust_env=False).json()
        assert metadata["versions"] == ["v1"]
        assert "loaded" in dataplane.logs(pod.name, container="model")
        assert '"verified": true' in dataplane.logs(pod.name, container="fetch")


# -- (b) Prometheus discovers the pods through the API server --------------------------------


def test_prometheus_discovers_and_scrapes_both_pods(
    cluster: DevCluster, scraping: Scraping, stable: list[LocalPod]
) -> None:
    prom = scraping(stable)
    targets = {r["metric"]["pod"]: r["metric"]["instance"] for r in _query(prom, f'up{{namespace="{NAMESPACE}"}}')}
    assert {p.name: f"{p.ip}:8080" for p in stable}.items() <= targets.items()


# -- (c) counts over a Service are exact ---------------------------------------------------


def test_service_traffic_counts_and_feature_buckets_are_exact(
    cluster: DevCluster, scraping: Scraping, stable: list[LocalPod], artifacts: Artifacts
) -> None:
    n = 200
    prom = scraping(stable)
    series = f'namespace="{NAMESPACE}", version="v1", variant="stable"'
    buckets = f'sum by (le) (modelops_feature_value_bucket{{{series}, feature="amount"}})'
    countries = f'sum by (category) (modelops_feature_category_total{{{series}, feature="country"}})'
    before = (_by(prom, REQUESTS, "version"), _by(prom, buckets, "le"), _by(prom, countries, "category"))

    generator = TrafficGenerator(
        cluster, NAMESPACE, target=Service(f"{MODEL}-v1"), dataset=artifacts.traffic, rate_per_s=RATE, seed=1
    )
    report = generator.run(n, max_seconds=20)
    assert report.sent == n and not report.errors
    assert report.counts == {("v1", "stable"): {200: n}}
    assert len({r.pod for r in report.records}) == 2  # both replicas served

    rows = report.rows_by_variant()[("v1", "stable")]
    assert sorted(rows) == list(range(n))
    edges = artifacts.baseline.feature("amount").edges  # type: ignore[union-attr]
    amount = artifacts.traffic.numeric[rows, artifacts.traffic.numeric_names.index("amount")]
    cumulative = np.cumsum(np.bincount(np.searchsorted(edges, amount, side="left"), minlength=len(edges) + 1))
    expected_buckets = {
        le: before[1].get(le, 0.0) + c for le, c in zip([*map(_le, edges), "+Inf"], cumulative, strict=True)
    }
    sent_countries = Counter(str(c) for c in artifacts.traffic.categorical["country"][rows])
    expected_countries = {k: before[2].get(k, 0.0) + v for k, v in sent_countries.items()}

    assert (
        _wait_for(prom, REQUESTS, "version", {"v1": before[0].get("v1", 0.0) + n})["v1"] == before[0].get("v1", 0.0) + n
    )
    assert _wait_for(prom, buckets, "le", expected_buckets) == expected_buckets
    got_countries = _wait_for(prom, countries, "category", expected_countries)
    assert {k: v for k, v in got_countries.items() if k in expected_countries} == expected_countries


def _le(edge: float) -> str:
    """An edge as Prometheus' `le` label spells it (prometheus_client's floatToGoString)."""
    from prometheus_client.utils import floatToGoString

    spelled: str = floatToGoString(edge)  # type: ignore[no-untyped-call]
    return spelled


# -- (d) an HTTPRoute splits by weight --------------------------------------------------------


def test_httproute_splits_80_20(
    cluster: DevCluster,
    scraping: Scraping,
    stable: list[LocalPod],
    canary: list[LocalPod],
    artifacts: Artifacts,
) -> None:
    n = 1000
    prom = scraping([*stable, *canary])
    before = _by(prom, REQUESTS, "version")
    generator = TrafficGenerator(
        cluster, NAMESPACE, target=HTTPRoute(MODEL), dataset=artifacts.traffic, rate_per_s=RATE, seed=2
    )
    report = generator.run(n, max_seconds=30)
    assert report.sent == n and not report.errors
    v2 = report.requests("v2")
    assert report.requests("v1") + v2 == n
    assert _binomial_ok(v2, n, 0.2), f"v2 got {v2}/{n} of the traffic"
    print(f"HTTPRoute 80/20: v2 share {v2 / n:.3f} of {n}; p50 {report.latency_s['p50'] * 1000:.1f} ms")

    expected = {v: before.get(v, 0.0) + report.requests(v) for v in ("v1", "v2")}
    assert _wait_for(prom, REQUESTS, "version", expected) == expected


# -- (e) faults by version ---------------------------------------------------------------------


def test_faults_hit_only_the_faulty_version(
    cluster: DevCluster,
    scraping: Scraping,
    stable: list[LocalPod],
    canary: list[LocalPod],
    artifacts: Artifacts,
) -> None:
    n = 600
    prom = scraping([*stable, *canary])
    before = _by(prom, ERRORS, "version")
    generator = TrafficGenerator(
        cluster,
        NAMESPACE,
        target=HTTPRoute(MODEL),
        dataset=artifacts.traffic,
        rate_per_s=RATE,
        seed=3,
        faults={"v2": Fault(error_rate=0.5)},
    )
    report = generator.run(n, max_seconds=30)
    assert report.sent == n and not report.errors
    v2_errors = report.counts[("v2", "canary")].get(500, 0)
    assert report.counts[("v1", "stable")] == {200: report.requests("v1")}
    assert _binomial_ok(v2_errors, report.requests("v2"), 0.5)
    print(f"faults: v2 answered 500 to {v2_errors}/{report.requests('v2')}; v1 none of {report.requests('v1')}")

    expected = {"v2": before.get("v2", 0.0) + v2_errors}
    errors = _wait_for(prom, ERRORS, "version", expected)
    assert errors.get("v2") == expected["v2"]
    assert errors.get("v1", 0.0) == before.get("v1", 0.0) == 0.0


# -- VirtualService routing and mirroring ---------------------------------------------------


def test_virtualservice_weights_and_mirror(
    cluster: DevCluster, stable: list[LocalPod], canary: list[LocalPod], artifacts: Artifacts
) -> None:
    crds.install(cluster, [crds.istio_virtualservice_crd()])
    host = f"{MODEL}-v2.{NAMESPACE}.svc.cluster.local"
    route = {
        "route": [
            {"destination": {"host": f"{MODEL}-v1"}, "weight": 50},
            {"destination": {"host": host, "port": {"number": 80}}, "weight": 50},
        ],
        "mirror": {"host": f"{MODEL}-v2"},
        "mirrorPercentage": {"value": 25.0},
    }
    vs = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": MODEL},
        "spec": {"hosts": [MODEL], "http": [route]},
    }
    _apply(cluster, vs)
    routes = resolve_routes(cluster, NAMESPACE, VirtualService(MODEL))
    assert [(b.service, b.weight, len(b.endpoints)) for b in routes.backends] == [
        (f"{NAMESPACE}/{MODEL}-v1", 50.0, 2),
        (f"{NAMESPACE}/{MODEL}-v2", 50.0, 1),
    ]
    assert [(m.service, m.weight) for m in routes.mirrors] == [(f"{NAMESPACE}/{MODEL}-v2", 0.25)]

    n = 400
    generator = TrafficGenerator(
        cluster, NAMESPACE, target=VirtualService(MODEL), dataset=artifacts.traffic, rate_per_s=RATE, seed=4
    )
    report = generator.run(n, max_seconds=30)
    assert report.sent == n and not report.errors
    assert _binomial_ok(report.requests("v2"), n, 0.5)
    mirrored = sum(report.mirrored.get(("v2", "canary"), {}).values())
    assert _binomial_ok(mirrored, n, 0.25)
    print(f"VirtualService 50/50: v2 {report.requests('v2')}/{n}; mirrored {mirrored}/{n} at 25%")


# -- bounds and refusals ------------------------------------------------------------------------


def test_traffic_is_bounded_by_time(cluster: DevCluster, stable: list[LocalPod], artifacts: Artifacts) -> None:
    generator = TrafficGenerator(
        cluster, NAMESPACE, target=Service(f"{MODEL}-v1"), dataset=artifacts.traffic, rate_per_s=20, seed=5
    )
    started = time.monotonic()
    report = generator.run(10_000, max_seconds=1.0)
    assert time.monotonic() - started < 3.0
    assert 15 <= report.sent <= 21


@pytest.mark.parametrize("address", ["10.96.0.1", "192.168.1.10", "::1", "localhost"])
def test_non_loopback_addresses_are_refused(address: str) -> None:
    with pytest.raises(NonLoopbackError):
        require_loopback(address)


# -- pods the data plane does not start -------------------------------------------------------


def test_failed_init_container_and_foreign_containers_are_reported(
    cluster: DevCluster, dataplane: DataPlane, artifacts: Artifacts, stable: list[LocalPod]
) -> None:
    bad = _deployment(f"{MODEL}-bad", "bad", "stable", replicas=1, uri=artifacts.uri, sha256="0" * 64)
    foreign = _deployment("web", "web", "stable", replicas=1, uri=artifacts.uri, sha256=artifacts.sha256)
    foreign["spec"]["template"]["spec"] = {"containers": [{"name": "web", "image": "nginx:1.27"}]}
    _apply(cluster, bad, foreign)

    deadline = time.monotonic() + WAIT_S
    while True:
        phases = {p.version: p for p in dataplane.pods() if p.version in ("bad", "web")}
        if {k: p.phase for k, p in phases.items()} == {"bad": "failed", "web": "skipped"}:
            break
        assert time.monotonic() < deadline, f"not reported as failed/skipped: {phases}"
        time.sleep(0.3)
    assert "fetch exited with code 2" in phases["bad"].message
    assert "sha256 mismatch" in phases["bad"].message
    assert phases["bad"].pid is None  # the server never started
    assert "modelops" in phases["web"].message
    cluster.kubectl("delete", "deployment", "-n", NAMESPACE, f"{MODEL}-bad", "web")


# -- (e2) claims: local directories of the dev provisioner, nothing else ------------------------


def _claim(name: str, storage_class: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Mi"}}}
    if storage_class is not None:
        spec["storageClassName"] = storage_class
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name}, "spec": spec}


def _pod_with_claim(name: str, claim: str) -> dict[str, Any]:
    container = {
        "name": "model",
        "image": IMAGE,
        "command": ["modelops"],
        "args": ["serve", "--model-dir", "/m", "--name", MODEL, "--version", name],
        "volumeMounts": [{"name": "m", "mountPath": "/m", "readOnly": True}],
    }
    volume = {"name": "m", "persistentVolumeClaim": {"claimName": claim, "readOnly": True}}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [container], "volumes": [volume]},
    }


def test_claims_are_provisioned_reclaimed_and_foreign_volumes_refused(
    cluster: DevCluster, dataplane: DataPlane
) -> None:
    def get(path: str) -> dict[str, Any]:
        status, body = cluster.api("GET", path)
        return dict(body) if status == 200 else {}

    _apply(cluster, _claim("scratch"))
    claims = f"/api/v1/namespaces/{NAMESPACE}/persistentvolumeclaims"
    deadline = time.monotonic() + WAIT_S
    while get(f"{claims}/scratch").get("status", {}).get("phase") != "Bound":
        assert time.monotonic() < deadline, get(f"{claims}/scratch")
        time.sleep(0.3)
    pv = get(f"/api/v1/persistentvolumes/{get(f'{claims}/scratch')['spec']['volumeName']}")
    directory = Path(pv["spec"]["hostPath"]["path"])
    assert directory.is_dir() and directory.is_relative_to(dataplane.workdir)

    # a claim bound to a volume the dev provisioner did not make: the pod fails, saying why
    foreign = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": f"{NAMESPACE}-foreign"},
        "spec": {
            "capacity": {"storage": "1Mi"},
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": "manual",
            "hostPath": {"path": "/nonexistent/modelops-foreign"},
            "claimRef": {"namespace": NAMESPACE, "name": "foreign"},
        },
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(foreign))
    _apply(cluster, _claim("foreign", "manual"), _pod_with_claim("uses-foreign", "foreign"))
    deadline = time.monotonic() + WAIT_S
    while (pod := dataplane.status("uses-foreign", NAMESPACE)) is None or pod.phase != "failed":
        assert time.monotonic() < deadline, pod
        time.sleep(0.3)
    assert "not a local directory of the data plane's provisioner" in pod.message, pod.message
    assert not Path("/nonexistent/modelops-foreign").exists()

    # a deleted claim releases its volume, which the provisioner deletes with its directory
    cluster.kubectl("delete", "-n", NAMESPACE, "pod/uses-foreign", "pvc/foreign", "pvc/scratch", "--wait=false")
    deadline = time.monotonic() + WAIT_S
    while get(f"/api/v1/persistentvolumes/{pv['metadata']['name']}") or directory.exists():
        assert time.monotonic() < deadline, get(f"/api/v1/persistentvolumes/{pv['metadata']['name']}").get("status")
        time.sleep(0.3)
    cluster.kubectl("delete", "pv", f"{NAMESPACE}-foreign", "--wait=false")


# -- (f) deleting a Deployment stops its processes --------------------------------------------


def test_deleting_a_deployment_stops_its_processes(
    cluster: DevCluster, dataplane: DataPlane, stable: list[LocalPod], canary: list[LocalPod]
) -> None:
    pids = [p.pid for p in dataplane.pods() if p.version == "v1"]
    assert len(pids) == 2 and None not in pids
    cluster.kubectl("delete", "deployment", "-n", NAMESPACE, f"{MODEL}-v1")

    deadline = time.monotonic() + WAIT_S
    while any(p.version == "v1" for p in dataplane.pods()) or any(_alive(pid) for pid in pids if pid):
        assert time.monotonic() < deadline, f"v1 processes still running: {dataplane.pods()}"
        time.sleep(0.3)
    # the canary is untouched
    assert [p.pid for p in dataplane.wait_ready({"modelops.dev/version": "v2"}, timeout=5)] == [canary[0].pid]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists()
