"""Canary analysis against a real Prometheus scraping real model servers (issue 4's evidence).

Stable v1 (2 replicas) and canary v2 (1 replica) of the reference server run on the local
data plane behind one Service, so every pod takes a third of the traffic (the replica ratio
decides the split, as with kube-proxy). Prometheus finds the pods through the API server and
scrapes them every second. A trial is one analysis interval (WINDOW) of seeded dataset
traffic, judged by `modelops.prom.canary.analyze` with the default AnalysisSpec, the way the
rollout controller calls it. Each interval is queried SETTLE_S after it ends, so its last
scrape has landed, and consecutive intervals never share a sample (non-overlapping windows).

At RATE requests/s the canary gets about 225 requests per interval and passes MIN_REQUESTS
after about 7 s. The 100-trial false-fail measurement is bench/canary_false_fail.py, which
builds the same objects with the functions below.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import yaml

from modelops.analysis.checks import Analysis, Verdict
from modelops.analysis.slo import error_budget
from modelops.api.v1alpha1.baseline import Baseline, FeatureBaseline
from modelops.api.v1alpha1.modeldeployment import AnalysisSpec
from modelops.models.base import FeatureSpec, Signature
from modelops.models.numpy_linear import NumpyLinearModel
from modelops.prom.canary import Variant, analyze
from modelops.prom.client import PrometheusClient
from modelops.train.dataset import COUNTRIES, Dataset, generate
from modelops_devcluster.cluster import DevCluster
from modelops_devcluster.dataplane import DataPlane, LocalPod
from modelops_devcluster.prometheus import PrometheusServer
from modelops_devcluster.scrape import PodDiscovery, prometheus_config
from modelops_devcluster.traffic import Fault, Service, TrafficGenerator, TrafficReport

pytestmark = pytest.mark.integration

NAMESPACE = "analysis-tests"
MODEL = "fraud"
IMAGE = "ghcr.io/modelops/modelops:0.1.0"
WINDOW = timedelta(seconds=15)  # 15 scrapes per interval: increase() always has two samples or more
RATE = 45.0  # requests/s over 3 pods: 15/s per pod, ~225 canary requests per interval
MIN_REQUESTS = 100
SETTLE_S = 2.0  # two scrape intervals
WAIT_S = 30.0
SPEC = AnalysisSpec()  # the defaults: availability + latency SLOs, both vs-stable checks, prediction drift
Factory = Callable[[dict[str, Any] | str], PrometheusServer]


# -- shared with bench/canary_false_fail.py: model, manifests, traffic windows, analysis ------


@dataclass(frozen=True)
class Artifacts:
    uri: str
    sha256: str
    baseline: Baseline
    traffic: Dataset


def make_artifacts(directory: Path) -> Artifacts:
    """A fraud model file, its decile baseline and 3,000 rows of production-like traffic."""
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
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "model.npz"
    model.save(path)
    baseline = []
    for i, name in enumerate(train.numeric_names):
        column = train.numeric[:, i]
        edges = sorted({float(f"{q:.6g}") for q in np.quantile(column, np.arange(1, 10) / 10)})
        counts = np.bincount(np.searchsorted(edges, column, side="left"), minlength=len(edges) + 1)
        baseline.append(FeatureBaseline(name=name, edges=edges, counts=[int(c) for c in counts]))
    countries = Counter(str(c) for c in train.categorical["country"])
    baseline.append(FeatureBaseline(name="country", type="categorical", categories=dict(countries)))
    return Artifacts(
        uri=f"file://{path}",
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        baseline=Baseline(model=MODEL, version="v1", features=baseline),
        traffic=generate(3000, seed=12),
    )


def deployment(artifacts: Artifacts, version: str, variant: str, replicas: int) -> dict[str, Any]:
    """A model-server Deployment shaped the way the operator renders them (as in test_dataplane)."""
    labels = {"modelops.dev/model": MODEL, "modelops.dev/version": version, "modelops.dev/variant": variant}
    env = {"MODELOPS_MODEL_NAME": MODEL, "MODELOPS_MODEL_VERSION": version, "MODELOPS_VARIANT": variant}
    env |= {"MODELOPS_MODEL_URI": artifacts.uri, "MODELOPS_MODEL_SHA256": artifacts.sha256}
    annotations = {"prometheus.io/scrape": "true", "prometheus.io/port": "8080", "prometheus.io/path": "/metrics"}
    fetch = ["fetch-model", "--uri", artifacts.uri, "--sha256", artifacts.sha256, "--dest", "/models"]
    serve = ["serve", "--model-dir", "/models", "--baseline", "/etc/modelops/baseline/baseline.json"]
    mounts = [
        {"name": "models", "mountPath": "/models"},
        {"name": "baseline", "mountPath": "/etc/modelops/baseline"},
    ]
    pod = {
        "initContainers": [
            {"name": "fetch", "image": IMAGE, "command": ["modelops"], "args": fetch, "volumeMounts": mounts[:1]}
        ],
        "containers": [
            {
                "name": "model",
                "image": IMAGE,
                "command": ["modelops"],
                "args": serve,
                "env": [{"name": k, "value": v} for k, v in env.items()],
                "ports": [{"name": "http", "containerPort": 8080}],
                "volumeMounts": mounts,
            }
        ],
        "volumes": [
            {"name": "models", "emptyDir": {}},
            {"name": "baseline", "configMap": {"name": f"{MODEL}-baseline"}},
        ],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"{MODEL}-{version}", "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels, "annotations": annotations}, "spec": pod},
        },
    }


def manifests(artifacts: Artifacts, variants: Sequence[tuple[str, str, int]]) -> list[dict[str, Any]]:
    """The baseline ConfigMap, one Deployment per (version, variant, replicas), one Service over all of them."""
    baseline = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{MODEL}-baseline"}}
    baseline["data"] = {"baseline.json": artifacts.baseline.model_dump_json()}
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": MODEL},
        "spec": {
            "selector": {"modelops.dev/model": MODEL},
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
        },
    }
    return [baseline, *(deployment(artifacts, *v) for v in variants), service]


def apply(cluster: DevCluster, namespace: str, objects: Sequence[dict[str, Any]]) -> None:
    manifest = json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)})
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=manifest)


def _listening_inodes(ip: str, port: int) -> set[str]:
    """Inodes of the IPv4 sockets listening on ip:port (/proc/net/tcp writes addresses in host byte order)."""
    local = f"{int.from_bytes(ipaddress.IPv4Address(ip).packed, 'little'):08X}:{port:04X}"
    rows = (line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:])
    return {row[9] for row in rows if row[1] == local and row[3] == "0A"}


def _holds(pid: int, inodes: set[str]) -> bool:
    held: set[str] = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                held.add(os.readlink(fd).removeprefix("socket:[").removesuffix("]"))
    return bool(held & inodes)


def require_own_servers(dataplane: DataPlane, pods: Sequence[LocalPod], timeout: float = WAIT_S) -> None:
    """Wait until each pod's address is held by the server this data plane started for it.

    If anything else already listens there (a server left over from an earlier run, say), ours
    fails to bind while readiness probes and traffic reach the stranger, and no analysis of that
    traffic would mean anything: this fails, saying so.
    """
    deadline = time.monotonic() + timeout
    waiting = list(pods)
    while waiting and time.monotonic() < deadline:
        for pod in list(waiting):
            now = dataplane.status(pod.name, pod.namespace)
            if now is None or now.phase != "running" or now.pid is None or now.port is None:
                why = now.message if now else "gone"
                hint = "is another process listening on its pod IP?"
                raise AssertionError(f"pod {pod.name} ({pod.ip}) is not running: {why}; {hint}")
            if _holds(now.pid, _listening_inodes(now.ip, now.port)):
                waiting.remove(pod)
        time.sleep(0.2)
    assert not waiting, f"{[p.name for p in waiting]}: their servers do not hold their pod addresses after {timeout}s"


def scrape_config(cluster: DevCluster, namespace: str, discovery: PodDiscovery) -> dict[str, Any]:
    return prometheus_config(cluster, namespaces=[namespace], scrape_interval="1s", discovery_url=discovery.url)


def wait_scraped(url: str, namespace: str, pods: Sequence[LocalPod], timeout: float = WAIT_S) -> None:
    """Until Prometheus has scraped every one of `pods` successfully (bounded by `timeout`)."""
    query = f'up{{namespace="{namespace}"}} == 1'
    deadline = time.monotonic() + timeout
    wanted = {p.name for p in pods}
    up: set[str] = set()
    while time.monotonic() < deadline:
        try:
            body = httpx.get(f"{url}/api/v1/query", params={"query": query}, timeout=5, trust_env=False).json()
            up = {r["metric"].get("pod", "") for r in body.get("data", {}).get("result", [])}
        except httpx.HTTPError:
            up = set()
        if wanted <= up:
            return
        time.sleep(0.5)
    raise AssertionError(f"Prometheus at {url} did not scrape {sorted(wanted - up)} within {timeout:.0f}s")


def traffic_window(
    cluster: DevCluster,
    namespace: str,
    dataset: Dataset,
    *,
    seed: int,
    window: timedelta = WINDOW,
    rate: float = RATE,
    faults: Mapping[str, Fault] | None = None,
) -> tuple[datetime, TrafficReport]:
    """One interval of seeded traffic to the Service; returns when it ended and what was sent."""
    seconds = window.total_seconds()
    generator = TrafficGenerator(
        cluster, namespace, target=Service(MODEL), dataset=dataset, rate_per_s=rate, seed=seed, faults=faults
    )
    report = generator.run(int(rate * seconds) + 1, max_seconds=seconds)
    return datetime.now(UTC), report


def window_ends(ends: Sequence[datetime], window: timedelta = WINDOW) -> list[datetime]:
    """Analysis times: each run's end, pushed later if needed so that no two windows overlap."""
    out: list[datetime] = []
    for end in ends:
        out.append(max(end, out[-1] + window) if out else end)
    return out


def settle(at: datetime) -> None:
    """Sleep until the scrapes covering a window ending at `at` have landed."""
    time.sleep(max(0.0, (at - datetime.now(UTC)).total_seconds() + SETTLE_S))


def judge(
    url: str,
    namespace: str,
    canary: str,
    at: datetime,
    *,
    stable: str = "v1",
    window: timedelta = WINDOW,
    min_requests: int = MIN_REQUESTS,
    spec: AnalysisSpec = SPEC,
    started: datetime | None = None,
) -> Analysis:
    """`analyze` for one interval ending at `at`, canary version vs stable version (and the rollout
    since `started`)."""

    async def run() -> Analysis:
        async with PrometheusClient(url, timeout=5.0) as client:
            return await analyze(
                client,
                spec,
                at=at,
                interval=window,
                min_requests=min_requests,
                started=started,
                canary=Variant(namespace, MODEL, canary),
                stable=Variant(namespace, MODEL, stable),
            )

    return asyncio.run(run())


def describe(analysis: Analysis) -> str:
    lines = [f"{analysis.verdict} at {analysis.time:%H:%M:%S}"]
    lines += [f"  {c.name}: {c.verdict} ({c.samples} samples) {c.reason}" for c in analysis.checks]
    return "\n".join(lines)


def analyze_cli(url: str, at: datetime, *args: str) -> subprocess.CompletedProcess[str]:
    """`modelops analyze -f` on a ModelDeployment file for the window ending at `at`."""
    document = {
        "apiVersion": "modelops.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": MODEL, "namespace": NAMESPACE},
        "spec": {
            "model": {"name": MODEL, "version": "v2", "uri": "file:///models/v2", "sha256": "0" * 64},
            "rollout": {"minRequests": MIN_REQUESTS},
        },
    }
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        yaml.safe_dump(document, f)
    try:
        window = ("--interval", f"{WINDOW.total_seconds():.0f}s", "--at", at.isoformat())
        argv = [sys.executable, "-m", "modelops.cli.main", "analyze", "-f", f.name, "--prometheus", url, *window, *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    finally:
        os.unlink(f.name)


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Artifacts:
    return make_artifacts(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def namespace(cluster: DevCluster) -> Iterator[str]:
    cluster.kubectl("create", "namespace", NAMESPACE)
    yield NAMESPACE
    cluster.kubectl("delete", "namespace", NAMESPACE, "--wait=false")


@pytest.fixture(scope="module")
def pods(cluster: DevCluster, namespace: str, artifacts: Artifacts) -> Iterator[list[LocalPod]]:
    """Stable v1 with 2 replicas and canary v2 with 1, ready on their pod IPs."""
    with DataPlane(cluster, [namespace], allow_fault_injection=True) as dataplane:
        apply(cluster, namespace, manifests(artifacts, [("v1", "stable", 2), ("v2", "canary", 1)]))
        stable = dataplane.wait_ready({"modelops.dev/version": "v1"}, timeout=WAIT_S, count=2)
        canary = dataplane.wait_ready({"modelops.dev/version": "v2"}, timeout=WAIT_S, count=1)
        require_own_servers(dataplane, [*stable, *canary])
        yield [*stable, *canary]


@pytest.fixture(scope="module")
def discovery(cluster: DevCluster, namespace: str) -> Iterator[PodDiscovery]:
    with PodDiscovery(cluster, [namespace]) as sd:
        yield sd


@pytest.fixture(scope="module")
def prometheus(cluster: DevCluster, namespace: str, discovery: PodDiscovery, pods: list[LocalPod]) -> Iterator[str]:
    """The URL of a Prometheus scraping every pod each second (already scraped each once)."""
    with PrometheusServer(scrape_config(cluster, namespace, discovery)) as prom:
        wait_scraped(prom.url, namespace, pods)
        yield prom.url


# -- (a) a canary with 10% errors fails within one interval ------------------------------------


def test_canary_with_ten_percent_errors_fails_within_one_interval(
    cluster: DevCluster, prometheus: str, artifacts: Artifacts
) -> None:
    end, report = traffic_window(cluster, NAMESPACE, artifacts.traffic, seed=101, faults={"v2": Fault(error_rate=0.1)})
    settle(end)
    analysis = judge(prometheus, NAMESPACE, "v2", end)
    print(describe(analysis))
    canary = report.counts[("v2", "canary")]
    assert report.requests("v2") >= MIN_REQUESTS, f"the canary got only {report.requests('v2')} requests"
    assert analysis.verdict is Verdict.FAIL, describe(analysis)

    checks = {c.name: c for c in analysis.checks}
    availability, versus = checks["availability"], checks["errors-vs-stable"]
    assert availability.verdict is Verdict.FAIL and versus.verdict is Verdict.FAIL, describe(analysis)
    assert availability.samples is not None and availability.samples >= MIN_REQUESTS
    assert availability.value is not None and availability.value > SPEC.max_burn_rate
    assert "bad (" in availability.reason and "confidently above" in availability.reason
    assert "canary" in versus.reason and "vs stable" in versus.reason and "p=" in versus.reason
    # Prometheus' bad ratio (increase() over the interval) agrees with what the servers answered
    seen = availability.value * float(error_budget(SPEC.slo.availability.objective))
    sent = canary.get(500, 0) / report.requests("v2")
    assert abs(seen - sent) < 0.03, f"Prometheus saw a {seen:.3f} bad ratio, the servers answered {sent:.3f}"
    assert report.counts[("v1", "stable")] == {200: report.requests("v1")}

    # `modelops analyze` (what on call runs) reaches the same verdict with the same numbers
    answer = analyze_cli(prometheus, end, "--canary-version", "v2", "--stable-version", "v1", "-o", "json")
    assert answer.returncode == 1, answer.stderr  # 1 = Fail
    printed = json.loads(answer.stdout)
    assert printed["verdict"] == "Fail"
    assert {c["name"]: c["verdict"] for c in printed["checks"]} == {c.name: str(c.verdict) for c in analysis.checks}
    assert next(c for c in printed["checks"] if c["name"] == "availability")["value"] == availability.value
    table = analyze_cli(prometheus, end, "--canary-version", "v2", "--stable-version", "v1")
    assert table.returncode == 1 and "CHECK" in table.stdout and "availability" in table.stdout
    assert "confidently above" in table.stdout


# -- (a2) a canary 20 ms slower fails latency-vs-stable, well inside the latency SLO ----------------


def test_canary_twenty_ms_slower_fails_the_comparison_not_the_slo(
    cluster: DevCluster, prometheus: str, artifacts: Artifacts
) -> None:
    slow = {"v2": Fault(latency_s=0.02)}
    end, report = traffic_window(cluster, NAMESPACE, artifacts.traffic, seed=151, faults=slow)
    settle(end)
    analysis = judge(prometheus, NAMESPACE, "v2", end)
    print(describe(analysis))
    assert report.requests("v2") >= MIN_REQUESTS and not report.errors
    checks = {c.name: c for c in analysis.checks}
    versus = checks["latency-vs-stable"]
    assert versus.verdict is Verdict.FAIL, describe(analysis)
    assert checks["latency"].verdict is Verdict.PASS, describe(analysis)  # 20 ms is far under 250 ms
    # the means come from the histograms' _sum/_count: stable under a few ms, the canary at 20 ms or more
    mean = re.match(r"mean ([0-9.]+)ms vs stable ([0-9.]+)ms", versus.reason)
    assert mean is not None, versus.reason
    assert float(mean.group(1)) >= 20 and float(mean.group(2)) < 10, versus.reason


# -- (b) an identical canary passes ------------------------------------------------------------------


def test_identical_canary_passes(cluster: DevCluster, prometheus: str, artifacts: Artifacts) -> None:
    trials = 3  # 100 trials: bench/canary_false_fail.py
    rows = int(RATE * WINDOW.total_seconds()) + 1  # each trial sends its own rows
    runs = [
        traffic_window(cluster, NAMESPACE, artifacts.traffic.slice(k * rows, (k + 1) * rows), seed=200 + k)
        for k in range(trials)
    ]
    ends = window_ends([end for end, _ in runs])
    settle(ends[-1])
    analyses = [judge(prometheus, NAMESPACE, "v2", at) for at in ends]
    for analysis in analyses:
        print(describe(analysis))
    for (_, report), analysis in zip(runs, analyses, strict=True):
        assert report.requests("v2") >= MIN_REQUESTS and not report.errors
        assert {c.name for c in analysis.checks} == {
            "availability",
            "latency",
            "errors-vs-stable",
            "latency-vs-stable",
            "invalid-vs-stable",
            "prediction-drift",
        }
        assert analysis.verdict is not Verdict.UNKNOWN, describe(analysis)  # enough traffic: decided
    failed = [a for a in analyses if a.verdict is Verdict.FAIL]
    assert len(failed) <= 1, "\n".join(describe(a) for a in failed)


# -- (b2) the rollout-long window adds up every interval ------------------------------------------


def test_the_since_start_checks_count_every_interval_of_the_rollout(
    cluster: DevCluster, prometheus: str, artifacts: Artifacts
) -> None:
    """Three intervals of a canary with 5% errors: the rollout-long window (increase() over 45 s and
    more) holds all three intervals' requests and errors, as the servers answered them."""
    started = datetime.now(UTC)
    rows = int(RATE * WINDOW.total_seconds()) + 1
    faults, traffic = {"v2": Fault(error_rate=0.05)}, artifacts.traffic
    runs = [
        traffic_window(cluster, NAMESPACE, traffic.slice(k * rows, (k + 1) * rows), seed=250 + k, faults=faults)
        for k in range(3)
    ]
    end = runs[-1][0]
    settle(end)
    analysis = judge(prometheus, NAMESPACE, "v2", end, started=started)
    print(describe(analysis))
    checks = {c.name: c for c in analysis.checks}
    since, interval = checks["availability-since-start"], checks["availability"]
    sent = sum(report.requests("v2") for _, report in runs)
    errors = sum(report.counts[("v2", "canary")].get(500, 0) for _, report in runs)
    assert since.samples is not None and interval.samples is not None and since.value is not None
    assert abs(since.samples - sent) <= 0.1 * sent, f"Prometheus counted {since.samples}, the servers {sent}"
    assert since.samples > 2 * interval.samples
    seen = since.value * float(error_budget(SPEC.slo.availability.objective))
    assert abs(seen - errors / sent) < 0.02, f"Prometheus saw a {seen:.3f} bad ratio, the servers {errors / sent:.3f}"
    assert "since the rollout began" in since.reason and "latency-since-start" in checks

    # `modelops analyze --since` (what on call runs) shows the same window and numbers
    versions = ("--canary-version", "v2", "--stable-version", "v1")
    answer = analyze_cli(prometheus, end, *versions, "--since", started.isoformat(), "-o", "json")
    printed = {c["name"]: c for c in json.loads(answer.stdout)["checks"]}
    assert printed["availability-since-start"]["value"] == since.value, answer.stdout


# -- (c) Prometheus down: every check is Unknown, never Pass -------------------------------------


def test_prometheus_stopped_mid_test_makes_every_check_unknown(
    cluster: DevCluster,
    prometheus_factory: Factory,
    discovery: PodDiscovery,
    pods: list[LocalPod],
    artifacts: Artifacts,
) -> None:
    prom = prometheus_factory(scrape_config(cluster, NAMESPACE, discovery))
    url = prom.url
    wait_scraped(url, NAMESPACE, pods)
    end, report = traffic_window(cluster, NAMESPACE, artifacts.traffic, seed=301)
    settle(end)
    before = judge(url, NAMESPACE, "v2", end)
    print(describe(before))
    assert report.requests("v2") >= MIN_REQUESTS
    assert before.verdict is not Verdict.UNKNOWN, describe(before)  # decided from data while it is up

    prom.stop()
    started = time.monotonic()
    after = judge(url, NAMESPACE, "v2", end)
    print(describe(after), f"\n  (answered in {time.monotonic() - started:.1f}s)")
    assert after.verdict is Verdict.UNKNOWN
    assert [c.name for c in after.checks] == [c.name for c in before.checks]
    for check in after.checks:
        assert check.verdict is Verdict.UNKNOWN and check.value is None
        assert "Prometheus unavailable" in check.reason and url in check.reason, check.reason
    assert "Prometheus" in after.failing() and url in after.failing()


# -- (d) too little traffic: Unknown, not Pass ------------------------------------------------------


def test_too_little_traffic_is_unknown(cluster: DevCluster, prometheus: str, artifacts: Artifacts) -> None:
    end, report = traffic_window(cluster, NAMESPACE, artifacts.traffic, seed=401, rate=3.0)
    settle(end)
    analysis = judge(prometheus, NAMESPACE, "v2", end)
    print(describe(analysis))
    assert 0 < report.requests("v2") < MIN_REQUESTS
    assert analysis.verdict is Verdict.UNKNOWN
    checks = {c.name: c for c in analysis.checks}
    assert all(c.verdict is Verdict.UNKNOWN for c in analysis.checks), describe(analysis)
    assert f"fewer than minRequests {MIN_REQUESTS}" in checks["availability"].reason
    assert checks["availability"].samples is not None and 0 < checks["availability"].samples < MIN_REQUESTS
    for name in ("errors-vs-stable", "latency-vs-stable", "invalid-vs-stable", "prediction-drift"):
        assert f"fewer than {MIN_REQUESTS}" in checks[name].reason, checks[name].reason


# -- (e) a canary that refuses inputs stable accepts --------------------------------------------------


def test_canary_refusing_inputs_fails_and_one_refusing_what_stable_refuses_passes(
    cluster: DevCluster, prometheus: str, artifacts: Artifacts
) -> None:
    """A changed input schema: 30% of the canary's requests carry an input under a name it does not take,
    and the real server refuses them (400, unknown_input). Errors count 5xx only and pass; the refused
    share, canary vs stable, fails. Then both versions refuse 20% (a client sending an old field name to
    every version): the canary refuses no more than stable, and passes."""
    rows = int(RATE * WINDOW.total_seconds()) + 1
    schema, shared = {"v2": Fault(renamed_input_rate=0.3)}, Fault(renamed_input_rate=0.2)
    runs = [
        traffic_window(cluster, NAMESPACE, artifacts.traffic.slice(0, rows), seed=501, faults=schema),
        traffic_window(
            cluster, NAMESPACE, artifacts.traffic.slice(rows, 2 * rows), seed=502, faults={"v1": shared, "v2": shared}
        ),
    ]
    ends = window_ends([end for end, _ in runs])
    settle(ends[-1])
    changed, same = (judge(prometheus, NAMESPACE, "v2", at) for at in ends)
    print(describe(changed), describe(same), sep="\n")

    report = runs[0][1]
    refused, received = report.counts[("v2", "canary")].get(400, 0), report.requests("v2")
    assert received >= MIN_REQUESTS and report.counts[("v1", "stable")] == {200: report.requests("v1")}
    checks = {c.name: c for c in changed.checks}
    invalid = checks["invalid-vs-stable"]
    assert changed.verdict is Verdict.FAIL and invalid.verdict is Verdict.FAIL, describe(changed)
    for name in ("availability", "errors-vs-stable"):  # what existed before: blind to 400s
        assert checks[name].verdict is Verdict.PASS, describe(changed)
    # Prometheus' counts agree with what the servers answered: every request received, refusals included
    assert invalid.samples is not None and abs(invalid.samples - received) <= 0.1 * received, (invalid, received)
    assert invalid.value is not None and abs(invalid.value - refused / received) < 0.05, (invalid, refused, received)
    assert "unknown_input" in invalid.reason and "vs stable 0/" in invalid.reason

    report = runs[1][1]
    for version, variant in (("v1", "stable"), ("v2", "canary")):
        share = report.counts[(version, variant)].get(400, 0) / report.requests(version)
        assert 0.1 < share < 0.3, (version, report.counts)
    invalid = {c.name: c for c in same.checks}["invalid-vs-stable"]
    assert invalid.verdict is Verdict.PASS, describe(same)
    assert invalid.value is not None and abs(invalid.value) < 0.1

    # `modelops analyze` (what on call runs) lists it like every other check
    table = analyze_cli(prometheus, ends[0], "--canary-version", "v2", "--stable-version", "v1")
    assert table.returncode == 1, table.stderr  # 1 = Fail
    line = next(row for row in table.stdout.splitlines() if row.startswith("invalid-vs-stable"))
    assert "Fail" in line and "canary refused" in line, table.stdout
