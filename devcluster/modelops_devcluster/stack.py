"""The whole product on one machine: control plane, operator, Prometheus, data plane, traffic.

Used by `make demo` and by the end-to-end tests. Everything listens on loopback and is torn
down on exit: the control plane (kwok runs the pods), the reference model servers as local
processes on the pods' 127.x IPs, Prometheus discovering them through the API server, the
operator judging rollouts from that Prometheus, and a traffic generator that routes the way
the cluster says.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from modelops.train.dataset import Dataset, generate
from modelops.train.trainer import Settings, train
from modelops_devcluster import build, crds, objects, repo
from modelops_devcluster.cluster import DevCluster
from modelops_devcluster.dataplane import DataPlane
from modelops_devcluster.operator import LeaderElection, OperatorProcess
from modelops_devcluster.prometheus import PrometheusServer
from modelops_devcluster.scrape import PodDiscovery, prometheus_config
from modelops_devcluster.traffic import Fault, Labels, RequestRecord, Target, TrafficGenerator


@dataclass(frozen=True)
class Artifact:
    """A trained model version on local disk, addressed by a file:// URI."""

    version: str
    uri: str
    sha256: str
    baseline: Path
    metrics: Mapping[str, float]


@dataclass
class Traffic:
    """Traffic in the background, in short bounded runs, until stopped (faults can change between runs).

    Every request's record is kept for the whole run (`records`: primary, `mirrored`: copies
    a mirror filter sent), so a test can count what was answered and what was not:
    `unexpected_failures()` are the requests that got no answer, or a 4xx/5xx that fault
    injection did not ask for; `failures_per_second()` shows when; `mirrored_answers()` tells
    whether a shadow answered anything, `answered()` which versions answered live requests.
    `errors` records every chunk that could not run and every route resolution that failed
    (the chunk loop keeps going with the last routes it resolved).
    """

    generator: TrafficGenerator
    faults: dict[str, Fault] = field(default_factory=dict)
    sent: int = 0
    records: list[RequestRecord] = field(default_factory=list)
    mirrored: list[RequestRecord] = field(default_factory=list)
    errors: list[tuple[float, str]] = field(default_factory=list)  # (time.monotonic(), what went wrong)
    started_at: float = 0.0
    max_records: int = 1_000_000  # a bound on memory: 40 req/s for about 7 hours
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Traffic:
        self.started_at = time.monotonic()
        self._thread = threading.Thread(target=self._loop, name="traffic", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        chunk = max(1, int(self.generator.rate_per_s))
        seen_route_errors = 0
        while not self._stop.is_set():
            self.generator.faults = dict(self.faults)
            began = time.monotonic()
            try:
                report = self.generator.run(chunk, max_seconds=1.0)
            except Exception as error:
                report = None
                with self._lock:
                    self.errors.append((began, f"chunk failed: {type(error).__name__}: {error}"))
                self._stop.wait(max(0.0, began + 1.0 - time.monotonic()))  # keep the pace of one chunk a second
            route_errors = self.generator.route_errors[seen_route_errors:]
            seen_route_errors += len(route_errors)
            with self._lock:
                self.errors.extend((at, f"routes: {why}") for at, why in route_errors)
                if report is not None:
                    self.sent += report.sent
                    if len(self.records) < self.max_records:
                        self.records.extend(report.records)
                        self.mirrored.extend(report.mirrored_records)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.generator.close()

    # ---- what was answered ----------------------------------------------------------------

    def _select(self, records: list[RequestRecord], since: float | None, until: float | None) -> list[RequestRecord]:
        with self._lock:
            chosen = list(records)
        return [r for r in chosen if (since is None or r.sent_at >= since) and (until is None or r.sent_at < until)]

    def unexpected_failures(
        self, version: str | None = None, *, since: float | None = None, until: float | None = None
    ) -> list[RequestRecord]:
        """Primary requests that got no answer, or a 4xx/5xx fault injection did not ask for.

        `version` narrows to one version (unroutable requests, which reached no pod, have version "");
        `since`/`until` are `time.monotonic()` bounds on when requests were sent.
        """
        return [
            r
            for r in self._select(self.records, since, until)
            if r.unexpected_failure and (version is None or r.version == version)
        ]

    def failures_per_second(self, *, since: float | None = None) -> dict[int, dict[str, int]]:
        """{second since `since` (default: the start): {version: unexpected failures}}, seconds with failures only."""
        origin = self.started_at if since is None else since
        out: dict[int, dict[str, int]] = {}
        for r in self.unexpected_failures(since=since):
            counts = out.setdefault(int(r.sent_at - origin), {})
            counts[r.version or "-"] = counts.get(r.version or "-", 0) + 1
        return dict(sorted(out.items()))

    def returned(self, since: float, *, timeout: float = 30.0) -> None:
        """Wait until every request in flight at `since` has come back (`time.monotonic()`).

        Chunks run one after another and record their requests when they end, so a recorded
        request sent at or after `since` means the chunk that spanned `since` is recorded too.
        """

        def recorded() -> int:
            return len(self._select(self.records, since, None))

        objects.until("a request sent after the mark is recorded", recorded, lambda n: n > 0, timeout=timeout)

    def answered(self, *, since: float | None = None, until: float | None = None) -> dict[str, int]:
        """{version: primary requests it answered (any HTTP code)}."""
        return dict(Counter(r.version for r in self._select(self.records, since, until) if r.code is not None))

    def mirrored_answers(self, *, since: float | None = None, until: float | None = None) -> dict[str, int]:
        """{version: mirrored copies it answered}: what a shadow saw (its answers never reach a client)."""
        return dict(Counter(r.version for r in self._select(self.mirrored, since, until) if r.code is not None))

    def summary(self, *, since: float | None = None) -> str:
        """One line for an assertion message: counts, failure reasons, failures per second."""
        records = self._select(self.records, since, None)
        failures = [r for r in records if r.unexpected_failure]
        reasons = Counter(r.error or str(r.code) for r in failures)
        return (
            f"{len(records)} requests, answered {self.answered(since=since)}, {len(failures)} unexpected "
            f"failures {dict(reasons)}, per second {self.failures_per_second(since=since)}, "
            f"mirrored answers {self.mirrored_answers(since=since)}, errors {self.errors[-5:]}"
        )


class Stack:
    """`with Stack("demo") as stack:` then train, apply, send traffic, watch."""

    def __init__(
        self,
        namespace: str = "demo",
        *,
        scrape_interval: str = "1s",
        log: Callable[[str], None] = print,
        crds_dir: Path | None = None,
        extra_crds: Sequence[dict[str, Any]] = (),
        prometheus_options: Mapping[str, Any] | None = None,
        replicas: int = 1,
        election: LeaderElection | None = None,
        audit_policy: str | None = None,
        fleet_namespaces: Sequence[str] = (),
        operator_args: Sequence[str] = (),
    ):
        """`extra_crds`: third-party CRDs to install besides the routes' (e.g. `crds.prometheusrule_crd()`);
        `prometheus_options`: keyword arguments of `PrometheusServer` (rules, alertmanagers, evaluation_interval).
        `replicas` > 1 or an `election` runs that many operators with --leader-elect (identities
        operator-0, operator-1, ...; the Lease in `namespace`, the election's durations);
        `audit_policy`: the API server's audit policy (DevCluster);
        `fleet_namespaces`: more namespaces the operator watches, without data plane or scraping (kwok's
        pods only: what bench/fleet_rollback.py fills with idle ModelDeployments); `operator_args`: extra
        flags of `modelops operator`."""
        if replicas > 1 and election is None:
            election = LeaderElection("operator-0")
        self.replicas = replicas
        self.election = election
        self.audit_policy = audit_policy
        self.operators: list[OperatorProcess] = []
        self.namespace = namespace
        self.fleet_namespaces = list(fleet_namespaces)
        self.operator_args = list(operator_args)
        self.extra_crds = list(extra_crds)
        self.prometheus_options = dict(prometheus_options or {})
        self.crds_dir = crds_dir  # None: the checkout's crds/ (repo.find_root), looked up at start
        self.scrape_interval = scrape_interval
        self.log = log
        self.workdir = Path(tempfile.mkdtemp(prefix="modelops-stack-"))
        self._exit = contextlib.ExitStack()
        self.cluster: DevCluster
        self.dataplane: DataPlane
        self.prometheus: PrometheusServer
        self.operator: OperatorProcess
        self.discovery: PodDiscovery

    def start(self) -> Stack:
        started = time.monotonic()
        crds_dir = self.crds_dir or repo.crds_dir()  # before the build: a missing checkout fails at once
        build.build()
        try:
            self.cluster = self._exit.enter_context(DevCluster(audit_policy=self.audit_policy))
            objects.install_crds(self.cluster, crds_dir)
            crds.install(self.cluster, [*crds.gateway_api_crds(), crds.istio_virtualservice_crd(), *self.extra_crds])
            for ns in [self.namespace, *self.fleet_namespaces]:
                self.kubectl("create", "namespace", ns)
            self.dataplane = self._exit.enter_context(
                DataPlane(self.cluster, [self.namespace], allow_fault_injection=True)
            )
            self.discovery = self._exit.enter_context(PodDiscovery(self.cluster, [self.namespace]))
            config = prometheus_config(
                self.cluster,
                namespaces=[self.namespace],
                scrape_interval=self.scrape_interval,
                discovery_url=self.discovery.url,
            )
            self.prometheus = self._exit.enter_context(PrometheusServer(config, **self.prometheus_options))
            for i in range(self.replicas):
                election = None
                if self.election is not None:
                    election = dataclasses.replace(self.election, identity=f"operator-{i}", namespace=self.namespace)
                operator = OperatorProcess(
                    self.cluster.env,
                    [self.namespace, *self.fleet_namespaces],
                    prometheus_url=self.prometheus.url,
                    log_dir=self.workdir,
                    election=election,
                    extra_args=self.operator_args,
                )
                self.operators.append(self._exit.enter_context(operator))
            self.operator = self.operators[0]
        except BaseException:
            self._exit.close()
            raise
        self.log(
            f"stack up in {time.monotonic() - started:.1f}s: API {self.cluster.server}, "
            f"Prometheus {self.prometheus.url}, operator metrics {self.operator.metrics_url}"
        )
        return self

    def stop(self) -> None:
        self._exit.close()

    def leader(self, *, timeout: float = 60.0, exclude: OperatorProcess | None = None) -> OperatorProcess:
        """The operator replica that leads (its /leader says so), waiting up to `timeout` for one."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for operator in self.operators:
                if operator is not exclude and operator.running() and operator.is_leader():
                    return operator
            time.sleep(0.05)
        raise TimeoutError(f"no operator replica leads after {timeout:.0f}s")

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ---- helpers --------------------------------------------------------------------------

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> str:
        result = self.cluster.kubectl(*args, input=input, check=check, timeout=120)
        return result.stdout + result.stderr

    def apply(self, *documents: dict[str, Any]) -> None:
        objects.apply(self.cluster, self.namespace, *documents, field_manager="demo")

    def get(self, kind: str, name: str) -> dict[str, Any]:
        return dict(json.loads(self.kubectl("get", "-n", self.namespace, kind, name, "-o", "json")))

    def status(self, name: str, kind: str = "md") -> dict[str, Any]:
        return dict(self.get(kind, name).get("status") or {})

    def wait_status(
        self, kind: str, name: str, check: Callable[[dict[str, Any]], bool], *, timeout: float
    ) -> dict[str, Any]:
        """Poll the status of any kind (a ModelDeployment: `wait`, which reports each change)."""
        return objects.until(f"{kind} {name}", lambda: self.status(name, kind), check, timeout=timeout)

    def train(self, model: str, version: str, *, rows: int = 20_000, seed: int = 1, drift: str = "") -> Artifact:
        """Train `version` with the reference trainer on synthetic data; returns its local artifact."""
        out = self.workdir / "models" / model / version
        data = f"synthetic://?rows={rows}&seed={seed}{'&' + drift if drift else ''}"
        result = train(Settings(data=data, out=out, model=model, version=version, seed=seed))
        return Artifact(
            version, f"file://{out / 'model.npz'}", result["sha256"], out / "baseline.json", result["metrics"]
        )

    def baseline_configmap(self, name: str, artifact: Artifact) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": self.namespace},
            "data": {"baseline.json": artifact.baseline.read_text()},
        }

    def traffic(
        self,
        target: Target,
        *,
        dataset: Dataset | None = None,
        rate: float = 50.0,
        seed: int = 7,
        labels: Labels | None = None,
    ) -> Traffic:
        """Traffic in the background; with `labels`, each answer's ground truth goes back to its pod later."""
        generator = TrafficGenerator(
            self.cluster,
            self.namespace,
            target=target,
            rate_per_s=rate,
            seed=seed,
            dataset=dataset or generate(5000, seed=seed),
            labels=labels,
        )
        return Traffic(generator).start()

    def wait(
        self,
        name: str,
        condition: Callable[[dict[str, Any]], bool],
        *,
        timeout: float,
        on_change: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Poll the ModelDeployment's status until `condition` holds; report each change."""
        deadline = time.monotonic() + timeout
        last: tuple[Any, ...] | None = None
        status: dict[str, Any] = {}
        while time.monotonic() < deadline:
            status = self.status(name)
            shown = (
                status.get("phase"),
                status.get("canaryWeight"),
                status.get("currentStep"),
                (status.get("lastAnalysis") or {}).get("time"),
                status.get("message"),
            )
            if shown != last and on_change is not None:
                on_change(status)
            last = shown
            if condition(status):
                return status
            time.sleep(0.5)
        key = {k: status.get(k) for k in ("phase", "message", "canaryWeight", "canary", "bake", "retiring")}
        raise TimeoutError(
            f"{name}: not reached within {timeout:.0f}s; {json.dumps(key)[:1500]}; status: {json.dumps(status)[:2000]}"
        )
