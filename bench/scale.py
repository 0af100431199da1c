#!/usr/bin/env python3
"""Scale benchmark: one operator, N ModelDeployments (default 1,000) on the dev cluster.

    PYTHONPATH=operator .venv/bin/python bench/scale.py [--count 1000] [--quiet-seconds 180]

Starts a DevCluster (real etcd, apiserver, controller-manager, scheduler; kwok marks the
pods Running and Ready), a real Prometheus that scrapes the operator, and `modelops
operator` as a subprocess pointed at that Prometheus. Then:

  create    N ModelDeployments (replicas 1, one version each), spread over --namespaces
            namespaces, with `kubectl apply --server-side` of multi-document YAML in
            batches of --batch
  ramp      one list of every ModelDeployment per second (`GET .../modeldeployments`,
            not one request per object) until every one has status.phase == Available:
            the time to Available counts from the first create request
  settle    --settle-seconds, so the last pods' readiness has reached every status
  quiet     --quiet-seconds with nothing changing: the operator's
            modelops_api_writes_total (every write it sends: apply, delete, status
            patch) before/after -> writes per minute; the apiserver's own
            apiserver_request_total for mutating verbs, by resource (whoever wrote:
            kopf, controllers, kwok); and the resourceVersion of every ModelDeployment
            and child before/after (an object that changed was written by someone)
  restart   (unless --no-restart) the operator is stopped and a fresh one started: it
            re-reads all N objects and reconciles each once; the writes it sends while
            doing so (goal: zero, content hashes match) and its own peak RSS

Throughout, a thread reads the operator's VmRSS and CPU time from /proc every second
(peak RSS is also the kernel's VmHWM high-water mark), and the CPU time of every control
plane component. Prometheus queries per analysis interval are read from Prometheus
itself (prometheus_http_requests_total{handler="/api/v1/query"|"/api/v1/query_range"},
read from its /metrics, which does not count as a query) before/after each phase.
Reconciles per second come from modelops_reconcile_total. Results: a table on stdout
and bench/results/scale-<date>.json. The whole run is bounded by --max-seconds.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import os
import platform
import statistics
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from modelops.api.durations import parse_duration
from modelops.api.names import MANAGED_BY
from modelops.api.v1alpha1 import GROUP, MODEL_DEPLOYMENT, VERSION, ModelDeploymentSpec
from modelops_devcluster import build
from modelops_devcluster import crds as extra_crds
from modelops_devcluster.cluster import DevCluster
from modelops_devcluster.kwok import PROBES_PASS_ANNOTATION
from modelops_devcluster.operator import OperatorProcess
from modelops_devcluster.prometheus import PrometheusServer

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
RUN_LABEL = "bench.modelops.dev/run"
RUN_VALUE = "scale"
RSS_GOAL_MB = 500.0
WRITES_GOAL_PER_MINUTE = 0.0
MUTATING = {"POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION"}
QUERY_HANDLERS = ("/api/v1/query", "/api/v1/query_range")
MD_PATH = f"/apis/{GROUP}/{VERSION}/{MODEL_DEPLOYMENT.plural}"
# what the operator renders for a replicas-router ModelDeployment without autoscaling
CHILD_PATHS = {
    "Deployment": "/apis/apps/v1/deployments",
    "Service": "/api/v1/services",
    "PodDisruptionBudget": "/apis/policy/v1/poddisruptionbudgets",
}
MAX_PAGES = 10_000
MB = 1024 * 1024
CLOCK_TICK = os.sysconf("SC_CLK_TCK")

Sample = tuple[str, dict[str, str], float]


class BenchError(RuntimeError):
    """The benchmark could not reach a phase's end (timeout, operator died)."""


# -- metrics text ------------------------------------------------------------------------


def parse_metrics(text: str, prefixes: tuple[str, ...]) -> list[Sample]:
    """Samples whose names start with one of `prefixes` (other lines are never parsed: the apiserver's are MBs)."""
    lines = "\n".join(line for line in text.splitlines() if line.startswith(prefixes))
    return [(s.name, dict(s.labels), float(s.value)) for f in text_string_to_metric_families(lines) for s in f.samples]


def scrape(url: str, prefixes: tuple[str, ...], timeout: float = 20.0) -> list[Sample]:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return parse_metrics(resp.read().decode(errors="replace"), prefixes)


def total(samples: Iterable[Sample], name: str, **labels: str) -> float:
    return sum(v for n, lab, v in samples if n == name and all(lab.get(k) == x for k, x in labels.items()))


def grouped(samples: Iterable[Sample], name: str, keys: tuple[str, ...]) -> dict[str, float]:
    out: dict[str, float] = {}
    for n, labels, value in samples:
        if n == name:
            key = "/".join(labels.get(k, "") for k in keys)
            out[key] = out.get(key, 0.0) + value
    return out


def delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    keys = sorted(set(after) | set(before))
    return {
        k: round(after.get(k, 0.0) - before.get(k, 0.0), 3) for k in keys if after.get(k, 0.0) != before.get(k, 0.0)
    }


OPERATOR_PREFIXES = ("modelops_api_writes_total", "modelops_reconcile_total", "modelops_reconcile_duration_seconds")


@dataclass(frozen=True)
class OperatorCounters:
    writes: dict[str, float]  # "verb/kind" -> count
    reconciles: dict[str, float]  # result -> count
    reconcile_seconds_sum: float

    @property
    def writes_total(self) -> float:
        return sum(self.writes.values())

    @property
    def reconciles_total(self) -> float:
        return sum(self.reconciles.values())

    @classmethod
    def read(cls, operator: OperatorProcess) -> OperatorCounters:
        samples = scrape(operator.metrics_url, OPERATOR_PREFIXES)
        md = MODEL_DEPLOYMENT.kind
        reconciles = {
            labels["result"]: v for n, labels, v in samples if n == "modelops_reconcile_total" and labels["kind"] == md
        }
        return cls(
            writes=grouped(samples, "modelops_api_writes_total", ("verb", "kind")),
            reconciles=reconciles,
            reconcile_seconds_sum=total(samples, "modelops_reconcile_duration_seconds_sum", kind=md),
        )


def apiserver_writes(cluster: DevCluster) -> dict[str, float]:
    """Mutating requests the apiserver has served, by verb/resource[/subresource] (all clients)."""
    status, text = cluster.api("GET", "/metrics")
    if status != 200 or not isinstance(text, str):
        raise BenchError(f"apiserver /metrics answered {status}")
    out: dict[str, float] = {}
    for name, labels, value in parse_metrics(text, ("apiserver_request_total{",)):
        if name == "apiserver_request_total" and labels.get("verb") in MUTATING:
            sub = labels.get("subresource", "")
            key = f"{labels['verb']} {labels.get('resource', '')}{'/' + sub if sub else ''}"
            out[key] = out.get(key, 0.0) + value
    return out


def prometheus_queries(prometheus: PrometheusServer | None) -> float | None:
    """Queries Prometheus has answered (its /metrics: reading it is not a query)."""
    if prometheus is None:
        return None
    samples = scrape(f"{prometheus.url}/metrics", ("prometheus_http_requests_total",))
    return sum(total(samples, "prometheus_http_requests_total", handler=h) for h in QUERY_HANDLERS)


# -- /proc sampling ------------------------------------------------------------------------


def _proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM in bytes (empty if the process is gone)."""
    out: dict[str, int] = {}
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return out
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(rest.split()[0]) * 1024
    return out


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of one process (None if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK


@dataclass
class RssSample:
    t: float  # seconds since the benchmark's start
    label: str  # which operator process ("first", "restarted")
    rss: int
    cpu: float


class Sampler(threading.Thread):
    """Reads the current operator's VmRSS and CPU time every `interval` seconds."""

    def __init__(self, started: float, interval: float = 1.0) -> None:
        super().__init__(name="rss-sampler", daemon=True)
        self.started = started
        self.interval = interval
        self.samples: list[RssSample] = []
        self.hwm: dict[str, int] = {}
        self._target: tuple[str, int] | None = None
        self._lock = threading.Lock()
        self._stop_event = threading.Event()

    def follow(self, label: str, pid: int | None) -> None:
        with self._lock:
            self._target = (label, pid) if pid is not None else None

    def sample(self) -> None:
        with self._lock:
            target = self._target
        if target is None:
            return
        label, pid = target
        status, cpu = _proc_status(pid), cpu_seconds(pid)
        if "VmRSS" not in status or cpu is None:
            return
        with self._lock:
            self.samples.append(RssSample(round(time.monotonic() - self.started, 2), label, status["VmRSS"], cpu))
            self.hwm[label] = max(self.hwm.get(label, 0), status.get("VmHWM", 0))

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            self.sample()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)

    def peak(self, label: str | None = None, since: float = 0.0, until: float = float("inf")) -> int:
        with self._lock:
            rss = [s.rss for s in self.samples if (label is None or s.label == label) and since <= s.t <= until]
        return max(rss, default=0)

    def last(self, label: str) -> RssSample | None:
        with self._lock:
            mine = [s for s in self.samples if s.label == label]
        return mine[-1] if mine else None


def operator_pid(operator: OperatorProcess) -> int:
    # OperatorProcess has no public pid; its ManagedProcess is the python process itself (no shell)
    return operator._process.pid


def component_cpu(cluster: DevCluster, prometheus: PrometheusServer | None) -> dict[str, float]:
    pids = dict(cluster.pids)
    if prometheus is not None:
        pids["prometheus"] = prometheus.pid
    return {name: cpu for name, pid in pids.items() if (cpu := cpu_seconds(pid)) is not None}


# -- cluster ---------------------------------------------------------------------------------


def list_all(cluster: DevCluster, path: str, selector: str, page: int = 500) -> list[dict[str, Any]]:
    """Every object of a list, paginated (a bounded number of pages)."""
    items: list[dict[str, Any]] = []
    token = ""
    for _ in range(MAX_PAGES):
        query = {"labelSelector": selector, "limit": str(page), **({"continue": token} if token else {})}
        status, body = cluster.api("GET", f"{path}?{urllib.parse.urlencode(query)}")
        if status != 200 or not isinstance(body, dict):
            raise BenchError(f"GET {path} answered {status}: {str(body)[:300]}")
        items.extend(body.get("items") or [])
        token = (body.get("metadata") or {}).get("continue") or ""
        if not token:
            return items
    raise BenchError(f"GET {path}: more than {MAX_PAGES} pages")


def md_selector() -> str:
    return f"{RUN_LABEL}={RUN_VALUE}"


def child_selector() -> str:
    return ",".join(f"{k}={v}" for k, v in MANAGED_BY.items())


def resource_versions(cluster: DevCluster, namespaces: set[str]) -> dict[str, str]:
    """kind/namespace/name -> resourceVersion of every benchmark ModelDeployment and child."""
    out: dict[str, str] = {}
    paths = {MODEL_DEPLOYMENT.kind: (MD_PATH, md_selector())}
    paths.update({kind: (path, child_selector()) for kind, path in CHILD_PATHS.items()})
    for kind, (path, selector) in paths.items():
        for obj in list_all(cluster, path, selector):
            meta = obj["metadata"]
            if meta["namespace"] in namespaces:
                out[f"{kind}/{meta['namespace']}/{meta['name']}"] = meta["resourceVersion"]
    return out


def manifests(
    count: int, namespaces: list[str], *, version: str = "v1", rollout: dict[str, Any] | None = None, first: int = 0
) -> list[dict[str, Any]]:
    """ModelDeployments m<first>..m<first+count-1> serving `version` (a second version starts a rollout).

    Their pods play a kubelet whose probes pass at once (kwok's annotation): no data plane serves them."""
    bodies = []
    for i in range(first, first + count):
        name = f"m{i:05d}"
        spec: dict[str, Any] = {
            "model": {"name": name, "version": version, "uri": f"file:///models/{name}/{version}/model.npz"},
            "replicas": 1,
            "runtime": {"podTemplate": {"metadata": {"annotations": {PROBES_PASS_ANNOTATION: "true"}}}},
        }
        if rollout is not None:
            spec["rollout"] = rollout
        bodies.append(
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": MODEL_DEPLOYMENT.kind,
                "metadata": {
                    "name": name,
                    "namespace": namespaces[i % len(namespaces)],
                    "labels": {RUN_LABEL: RUN_VALUE},
                },
                "spec": spec,
            }
        )
    return bodies


def prometheus_config(operator: OperatorProcess, scrape_interval: str) -> dict[str, Any]:
    target = urllib.parse.urlsplit(operator.metrics_url).netloc
    return {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
        "scrape_configs": [{"job_name": "modelops-operator", "static_configs": [{"targets": [target]}]}],
    }


def log_summary(operator: OperatorProcess, keep: int = 8) -> dict[str, Any]:
    """Warnings and errors in the operator's JSON log (kopf's formatter: one object a line), distinct messages."""
    levels: Counter[str] = Counter()
    messages: Counter[str] = Counter()
    for line in operator.logs().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            levels["unparsed"] += 1
            continue
        level = str(record.get("severity") or record.get("levelname") or "?").upper()
        levels[level] += 1
        if level in ("WARN", "WARNING", "ERROR", "CRITICAL"):
            messages[f"{level}: {str(record.get('message'))[:160]}"] += 1
    return {"lines_by_level": dict(levels), "warnings_and_errors": dict(messages.most_common(keep))}


def operator_kinds(writes: dict[str, float]) -> float:
    """apiserver writes to ModelDeployments and the kinds the operator renders, whoever sent them."""
    kinds = ("modeldeployments", "deployments", "services", "poddisruptionbudgets", "horizontalpodautoscalers")
    return sum(v for k, v in writes.items() if k.split(" ", 1)[1].split("/")[0] in kinds)


def child_patches(writes: dict[str, float]) -> float:
    """Plain PATCHes of children (not /status): the operator applies (APPLY) and controllers PUT status, so
    these are kopf's own annotation patches (diff-base storage), which modelops_api_writes_total does not count."""
    return sum(writes.get(f"PATCH {kind}", 0.0) for kind in ("deployments", "services", "poddisruptionbudgets"))


# -- the run -----------------------------------------------------------------------------------


@dataclass
class Run:
    args: argparse.Namespace
    cluster: DevCluster
    prometheus: PrometheusServer | None
    operator: OperatorProcess
    sampler: Sampler
    started: float
    deadline: float
    namespaces: list[str]
    operators: list[OperatorProcess]  # every one started, to stop them all
    timeline: list[dict[str, Any]] = field(default_factory=list)

    def now(self) -> float:
        return round(time.monotonic() - self.started, 2)

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def check_operator(self) -> None:
        if cpu_seconds(operator_pid(self.operator)) is None or not self.operator._process.running():
            raise BenchError(f"the operator exited; log tail:\n{self.operator.logs()[-3000:]}")

    def poll(self) -> list[dict[str, Any]]:
        return list_all(self.cluster, MD_PATH, md_selector(), page=self.args.count + 1)

    def tick(self, phase: str, available: int, counters: OperatorCounters | None) -> None:
        self.sampler.sample()
        last = self.sampler.last("first")
        self.timeline.append(
            {
                "t": self.now(),
                "phase": phase,
                "available": available,
                "reconciles": counters.reconciles_total if counters else None,
                "writes": counters.writes_total if counters else None,
                "rss_mb": round(last.rss / MB, 1) if last else None,
                "cpu_s": round(last.cpu, 2) if last else None,
            }
        )

    def wait(self, seconds: float, phase: str, every: float) -> list[int]:
        """Sleep `seconds` (bounded by the deadline), listing the objects every `every` s; Available counts seen."""
        end = min(time.monotonic() + seconds, self.deadline)
        seen: list[int] = []
        while time.monotonic() < end:
            time.sleep(min(every, max(0.0, end - time.monotonic())))
            self.check_operator()
            available = sum(1 for o in self.poll() if (o.get("status") or {}).get("phase") == "Available")
            seen.append(available)
            self.tick(phase, available, OperatorCounters.read(self.operator))
        return seen


def create(run: Run, bodies: list[dict[str, Any]] | None = None) -> float:
    """Server-side apply `bodies` (default: the run's N ModelDeployments) in batches; seconds taken."""
    bodies = manifests(run.args.count, run.namespaces) if bodies is None else bodies
    t0 = time.monotonic()
    for start in range(0, len(bodies), run.args.batch):
        batch = bodies[start : start + run.args.batch]
        timeout = max(30.0, min(600.0, run.remaining()))
        apply = ("apply", "--server-side", "--field-manager=bench-scale", "-f", "-")
        run.cluster.kubectl(*apply, input=yaml.safe_dump_all(batch), timeout=timeout)
    return time.monotonic() - t0


def ramp(run: Run, created_at: float) -> dict[str, Any]:
    """Poll once a second until every ModelDeployment is Available."""
    count = run.args.count
    first_available: dict[str, float] = {}
    phases: Counter[str] = Counter()
    last_counters = OperatorCounters.read(run.operator)
    last_scrape = time.monotonic()
    peak_rate = 0.0
    end = min(run.deadline, created_at + run.args.available_timeout)
    while True:
        tick = time.monotonic()
        if tick > end:
            raise BenchError(f"only {len(first_available)}/{count} Available after {tick - created_at:.0f}s: {phases}")
        run.check_operator()
        objects = run.poll()
        phases = Counter((o.get("status") or {}).get("phase", "<none>") for o in objects)
        for obj in objects:
            key = f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
            if (obj.get("status") or {}).get("phase") == "Available" and key not in first_available:
                first_available[key] = time.monotonic() - created_at
        done = len(objects) == count and phases.get("Available", 0) == count
        if done or time.monotonic() - last_scrape >= run.args.scrape_every:
            counters = OperatorCounters.read(run.operator)
            elapsed = time.monotonic() - last_scrape
            peak_rate = max(peak_rate, (counters.reconciles_total - last_counters.reconciles_total) / elapsed)
            last_counters, last_scrape = counters, time.monotonic()
            run.tick("ramp", phases.get("Available", 0), counters)
            print(
                f"  {time.monotonic() - created_at:7.1f}s  available {phases.get('Available', 0):5d}/{count}  "
                f"reconciles {counters.reconciles_total:8.0f}  writes {counters.writes_total:7.0f}  "
                f"phases {dict(phases)}",
                flush=True,
            )
        if done:
            break
        time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
    times = sorted(first_available.values())
    return {
        "seconds_to_all_available": round(time.monotonic() - created_at, 1),
        "available_seconds_p50": round(statistics.median(times), 1),
        "available_seconds_p90": round(times[int(0.9 * (len(times) - 1))], 1),
        "peak_reconciles_per_second": round(peak_rate, 1),
    }


def restart(run: Run) -> dict[str, Any]:
    """A fresh operator re-reads everything: every object reconciled once, nothing written."""
    run.operator.stop()
    operator = OperatorProcess(
        run.cluster.env,
        run.namespaces,
        prometheus_url=run.prometheus.url if run.prometheus else None,
        log_dir=run.operator.log_dir,
    )
    if run.prometheus is not None:
        run.prometheus.reload(prometheus_config(operator, run.args.scrape_interval))
    api_before, queries_before = apiserver_writes(run.cluster), prometheus_queries(run.prometheus)
    t0 = time.monotonic()
    run.operators.append(operator)
    operator.start(timeout=min(120.0, run.remaining()))
    run.operator = operator
    run.sampler.follow("restarted", operator_pid(operator))
    healthy = time.monotonic() - t0
    counters = OperatorCounters.read(operator)
    swept: float | None = None
    end = min(run.deadline, time.monotonic() + run.args.restart_seconds)
    while time.monotonic() < end:
        run.check_operator()
        counters = OperatorCounters.read(operator)
        if swept is None and counters.reconciles_total >= run.args.count:
            swept = time.monotonic() - t0
            end = min(end, time.monotonic() + run.args.settle_seconds)  # then a little longer for stragglers
        time.sleep(1.0)
    cpu = cpu_seconds(operator_pid(operator))
    queries_after = prometheus_queries(run.prometheus)
    return {
        "seconds_to_healthy": round(healthy, 1),
        "seconds_to_reconcile_all": round(swept, 1) if swept is not None else None,
        "reconciles": counters.reconciles,
        "operator_writes": counters.writes,
        "operator_writes_total": counters.writes_total,
        "mean_reconcile_ms": round(1000 * counters.reconcile_seconds_sum / counters.reconciles_total, 1)
        if counters.reconciles_total
        else None,
        "apiserver_writes": delta(apiserver_writes(run.cluster), api_before),
        "prometheus_queries": None
        if queries_after is None or queries_before is None
        else queries_after - queries_before,
        "peak_rss_mb": round(run.sampler.peak("restarted") / MB, 1),
        "vm_hwm_mb": round(run.sampler.hwm.get("restarted", 0) / MB, 1),
        "cpu_seconds": round(cpu, 1) if cpu is not None else None,
        "log": log_summary(operator),
    }


def measure(run: Run) -> dict[str, Any]:
    args, cluster = run.args, run.cluster
    defaults = ModelDeploymentSpec.model_validate({"model": {"name": "x", "version": "v", "uri": "file:///m"}})
    interval = parse_duration(defaults.rollout.interval).total_seconds()
    result: dict[str, Any] = {}
    idle = OperatorCounters.read(run.operator)
    cpu0, comp0 = cpu_seconds(operator_pid(run.operator)) or 0.0, component_cpu(cluster, run.prometheus)
    api0, queries0 = apiserver_writes(cluster), prometheus_queries(run.prometheus)
    rss_idle = run.sampler.peak("first")

    print(f"creating {args.count} ModelDeployments in {len(run.namespaces)} namespace(s)", flush=True)
    created_at = time.monotonic()
    t_ramp0 = run.now()
    create_seconds = create(run)
    print(f"  created in {create_seconds:.1f}s", flush=True)
    ramp_out = ramp(run, created_at)
    t_ramp1 = run.now()
    ramped = OperatorCounters.read(run.operator)
    cpu1, comp1 = cpu_seconds(operator_pid(run.operator)) or 0.0, component_cpu(cluster, run.prometheus)
    api1, queries1 = apiserver_writes(cluster), prometheus_queries(run.prometheus)
    ramp_seconds = ramp_out["seconds_to_all_available"]
    reconciles = ramped.reconciles_total - idle.reconciles_total
    result["ramp"] = {
        "create_seconds": round(create_seconds, 1),
        **ramp_out,
        "reconciles": delta(ramped.reconciles, idle.reconciles),
        "reconciles_per_second": round(reconciles / ramp_seconds, 1),
        "reconciles_per_object": round(reconciles / args.count, 2),
        "mean_reconcile_ms": round(1000 * (ramped.reconcile_seconds_sum - idle.reconcile_seconds_sum) / reconciles, 1)
        if reconciles
        else None,
        "operator_writes": delta(ramped.writes, idle.writes),
        "operator_writes_per_object": round((ramped.writes_total - idle.writes_total) / args.count, 2),
        "apiserver_writes": delta(api1, api0),
        "apiserver_writes_to_operator_kinds": operator_kinds(delta(api1, api0)),
        "kopf_child_patches": child_patches(delta(api1, api0)),
        "prometheus_queries": None if queries1 is None or queries0 is None else queries1 - queries0,
        "operator_cpu_seconds": round(cpu1 - cpu0, 1),
        "operator_cpu_percent_of_one_core": round(100 * (cpu1 - cpu0) / ramp_seconds, 1),
        "component_cpu_seconds": delta(comp1, comp0),
        "peak_rss_mb": round(run.sampler.peak("first", t_ramp0, t_ramp1) / MB, 1),
    }

    print(f"all Available after {ramp_seconds:.1f}s; settling {args.settle_seconds:.0f}s", flush=True)
    settle_seen = run.wait(args.settle_seconds, "settle", args.scrape_every)
    settled = OperatorCounters.read(run.operator)
    result["settle"] = {
        "seconds": args.settle_seconds,
        "operator_writes": delta(settled.writes, ramped.writes),
        "reconciles": settled.reconciles_total - ramped.reconciles_total,
        "min_available": min(settle_seen, default=None),
    }

    print(f"quiet period: {args.quiet_seconds:.0f}s", flush=True)
    rv0 = resource_versions(cluster, set(run.namespaces))
    api2, queries2 = apiserver_writes(cluster), prometheus_queries(run.prometheus)
    cpu2, comp2 = cpu_seconds(operator_pid(run.operator)) or 0.0, component_cpu(cluster, run.prometheus)
    q0 = time.monotonic()
    quiet_seen = run.wait(args.quiet_seconds, "quiet", max(args.scrape_every, 5.0))
    quiet_seconds = time.monotonic() - q0
    quiet = OperatorCounters.read(run.operator)
    cpu3, comp3 = cpu_seconds(operator_pid(run.operator)) or 0.0, component_cpu(cluster, run.prometheus)
    api3, queries3 = apiserver_writes(cluster), prometheus_queries(run.prometheus)
    rv1 = resource_versions(cluster, set(run.namespaces))
    changed = sorted(k for k in rv0.keys() | rv1.keys() if rv0.get(k) != rv1.get(k))
    writes = quiet.writes_total - settled.writes_total
    queries = None if queries3 is None or queries2 is None else queries3 - queries2
    result["quiet"] = {
        "seconds": round(quiet_seconds, 1),
        "operator_writes": delta(quiet.writes, settled.writes),
        "operator_writes_per_minute": round(60 * writes / quiet_seconds, 2),
        "reconciles": quiet.reconciles_total - settled.reconciles_total,
        "apiserver_writes": delta(api3, api2),
        "apiserver_writes_to_operator_kinds": operator_kinds(delta(api3, api2)),
        "objects_watched": len(rv1),
        "objects_changed": len(changed),
        "objects_changed_examples": changed[:10],
        "min_available": min(quiet_seen, default=None),
        "analysis_interval_seconds": interval,
        "prometheus_queries": queries,
        "prometheus_queries_per_interval": None if queries is None else round(queries * interval / quiet_seconds, 2),
        "operator_cpu_percent_of_one_core": round(100 * (cpu3 - cpu2) / quiet_seconds, 2),
        "component_cpu_seconds": delta(comp3, comp2),
    }
    first_hwm = run.sampler.hwm.get("first", 0)
    result["memory"] = {
        "idle_rss_mb": round(rss_idle / MB, 1),
        "peak_rss_mb": round(run.sampler.peak("first") / MB, 1),
        "vm_hwm_mb": round(first_hwm / MB, 1),
        "settled_rss_mb": round((run.sampler.last("first") or RssSample(0, "", 0, 0)).rss / MB, 1),
        "samples": len([s for s in run.sampler.samples if s.label == "first"]),
    }
    result["log"] = log_summary(run.operator)
    if args.restart:
        print("restarting the operator", flush=True)
        result["restart"] = restart(run)
    return result


def goals(result: dict[str, Any]) -> dict[str, bool]:
    peaks = [result["memory"]["vm_hwm_mb"], result["memory"]["peak_rss_mb"]]
    if "restart" in result:
        peaks += [result["restart"]["vm_hwm_mb"], result["restart"]["peak_rss_mb"]]
    out = {
        "all_available": True,  # the run raises otherwise
        "zero_writes_when_quiet": result["quiet"]["operator_writes_per_minute"] <= WRITES_GOAL_PER_MINUTE
        and result["quiet"]["objects_changed"] == 0,
        "peak_rss_under_500mb": max(peaks) < RSS_GOAL_MB,
        "zero_queries_without_rollouts": result["quiet"]["prometheus_queries"] == 0,
    }
    if "restart" in result:
        out["zero_writes_on_restart"] = result["restart"]["operator_writes_total"] == 0
    return out


def table(result: dict[str, Any]) -> str:
    ramp, quiet, mem = result["ramp"], result["quiet"], result["memory"]
    n = result["config"]["count"]
    queries = quiet["prometheus_queries_per_interval"]
    rows: list[tuple[str, str, str]] = [
        ("ModelDeployments", f"{n}", ""),
        ("create (kubectl apply)", f"{ramp['create_seconds']:.1f} s", ""),
        (
            "time until every one is Available",
            f"{ramp['seconds_to_all_available']:.1f} s",
            f"p50 {ramp['available_seconds_p50']:.1f} s, p90 {ramp['available_seconds_p90']:.1f} s",
        ),
        (
            "reconciles/s during the ramp",
            f"{ramp['reconciles_per_second']:.1f}",
            f"peak {ramp['peak_reconciles_per_second']:.1f}/s; {ramp['reconciles_per_object']:.2f} per object; "
            f"{ramp['mean_reconcile_ms']} ms mean",
        ),
        (
            "operator writes during the ramp",
            f"{ramp['operator_writes_per_object']:.2f} per object",
            f"+ {ramp['kopf_child_patches'] / n:.2f} kopf annotation PATCHes per object, not in the operator's counter",
        ),
        ("operator CPU during the ramp", f"{ramp['operator_cpu_percent_of_one_core']:.0f}% of a core", ""),
        (
            "API writes/min when quiet",
            f"{quiet['operator_writes_per_minute']:.2f}",
            f"goal 0; {quiet['objects_changed']}/{quiet['objects_watched']} objects changed in {quiet['seconds']:.0f} "
            f"s, {quiet['apiserver_writes_to_operator_kinds']:.0f} apiserver writes to their kinds",
        ),
        ("reconciles when quiet", f"{quiet['reconciles']:.0f}", f"in {quiet['seconds']:.0f} s"),
        (
            "Prometheus queries per analysis interval",
            "n/a" if queries is None else f"{queries:g}",
            f"interval {quiet['analysis_interval_seconds']:.0f} s, counted by Prometheus",
        ),
        ("operator CPU when quiet", f"{quiet['operator_cpu_percent_of_one_core']:.2f}% of a core", ""),
        (
            "operator peak RSS",
            f"{max(mem['peak_rss_mb'], mem['vm_hwm_mb']):.0f} MB",
            f"goal < {RSS_GOAL_MB:.0f} MB; idle {mem['idle_rss_mb']:.0f} MB, settled {mem['settled_rss_mb']:.0f} MB",
        ),
    ]
    if "restart" in result:
        r = result["restart"]
        rows += [
            (
                "restart: reconcile all",
                f"{r['seconds_to_reconcile_all']} s",
                f"healthy after {r['seconds_to_healthy']} s",
            ),
            (
                "restart: operator writes",
                f"{r['operator_writes_total']:.0f}",
                f"goal 0; {operator_kinds(r['apiserver_writes']):.0f} apiserver writes to the operator's kinds",
            ),
            ("restart: peak RSS", f"{max(r['peak_rss_mb'], r['vm_hwm_mb']):.0f} MB", ""),
        ]
    width = max(len(r[0]) for r in rows)
    value_width = max(len(r[1]) for r in rows)
    lines = [f"{'measure':<{width}}  {'value':>{value_width}}  notes", "-" * (width + value_width + 40)]
    lines += [f"{a:<{width}}  {b:>{value_width}}  {c}" for a, b, c in rows]
    lines.append("goals: " + ", ".join(f"{k}={'yes' if v else 'NO'}" for k, v in result["goals"].items()))
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    def version(name: str) -> str | None:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return None

    load = os.getloadavg()
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3, 1),
        "kopf": version("kopf"),
        "kubernetes_client": version("kubernetes"),
        "cluster_binaries": build.bin_dir().name,
        "loadavg_at_start": [round(x, 2) for x in load],
    }


def with_cluster(args: argparse.Namespace, body: Callable[[Run], dict[str, Any]]) -> dict[str, Any]:
    started = time.monotonic()
    deadline = started + args.max_seconds
    missing = build.missing()
    if missing:
        raise BenchError(f"missing {', '.join(missing)}: run `python -m modelops_devcluster build` first")
    namespaces = [f"scale-{i}" for i in range(args.namespaces)]
    sampler = Sampler(started)
    sampler.start()
    with DevCluster() as cluster:
        cluster.kubectl("apply", "--server-side", "-f", str(ROOT / "crds"))
        cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", str(ROOT / "crds"))
        try:
            extra_crds.install(cluster, extra_crds.gateway_api_crds())  # the operator watches HTTPRoutes too
        except Exception as error:  # cached Go module missing and offline: HTTPRoutes are simply not watched
            print(f"warning: Gateway API CRDs not installed ({error})", file=sys.stderr)
        for ns in namespaces:
            cluster.kubectl("create", "namespace", ns)
        prometheus = PrometheusServer({"scrape_configs": []}) if args.prometheus else None
        started_operators: list[OperatorProcess] = []
        try:
            if prometheus is not None:
                prometheus.start()
            operator = OperatorProcess(
                cluster.env,
                namespaces,
                prometheus_url=prometheus.url if prometheus else None,
                extra_args=args.operator_args,
            )
            started_operators.append(operator)
            if prometheus is not None:
                prometheus.reload(prometheus_config(operator, args.scrape_interval))
            operator.start(timeout=120)
            sampler.follow("first", operator_pid(operator))
            time.sleep(3.0)  # idle baseline
            run = Run(args, cluster, prometheus, operator, sampler, started, deadline, namespaces, started_operators)
            try:
                result = body(run)
            except BaseException:
                print(f"operator logs in {operator.log_dir}", file=sys.stderr)
                raise
            result["timeline"] = run.timeline
            result["operator_log_dir"] = str(operator.log_dir)
            return result
        finally:
            sampler.follow("", None)
            sampler.stop()
            for started_operator in started_operators:
                started_operator.stop()
            if prometheus is not None:
                prometheus.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=1000, help="ModelDeployments to create (default 1000)")
    p.add_argument("--namespaces", type=int, default=1, help="spread them over this many namespaces (default 1)")
    p.add_argument("--batch", type=int, default=100, help="objects per kubectl apply (default 100)")
    p.add_argument("--settle-seconds", type=float, default=30.0, help="after all are Available (default 30)")
    p.add_argument("--quiet-seconds", type=float, default=180.0, help="quiet period to count writes (default 180)")
    p.add_argument(
        "--restart",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="restart the operator at the end and count its writes (default on)",
    )
    p.add_argument("--restart-seconds", type=float, default=240.0, help="bound on the restart phase (default 240)")
    p.add_argument("--available-timeout", type=float, default=1200.0, help="bound on the ramp (default 1200 s)")
    p.add_argument("--max-seconds", type=float, default=1800.0, help="bound on the whole run (default 1800)")
    p.add_argument(
        "--prometheus",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run a real Prometheus (scraping the operator) and give its URL to the operator",
    )
    p.add_argument("--scrape-interval", default="15s", help="Prometheus scrape interval of the operator (15s)")
    p.add_argument("--scrape-every", type=float, default=5.0, help="read the operator's counters every S s (5)")
    p.add_argument("--operator-arg", action="append", dest="operator_args", default=[], help="extra operator flag")
    p.add_argument("--output", type=Path, help="JSON path (default bench/results/scale-<date>.json)")
    args = p.parse_args(argv)
    if args.count < 1 or args.namespaces < 1 or args.batch < 1:
        p.error("--count, --namespaces and --batch must be positive")
    date = dt.datetime.now(dt.UTC).replace(microsecond=0)
    config = {k: v for k, v in vars(args).items() if k != "output"}
    print(f"scale benchmark: {json.dumps(config)}", flush=True)
    result: dict[str, Any] = {"date": date.isoformat(), "machine": machine(), "config": config}
    result.update(with_cluster(args, measure))
    result["goals"] = goals(result)
    timeline = result.pop("timeline")
    result["timeline"] = timeline  # last in the file: the long part
    output = args.output or RESULTS / f"scale-{date.date().isoformat()}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    print()
    print(table(result))
    print(f"\nwrote {output.relative_to(ROOT) if output.is_relative_to(ROOT) else output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
