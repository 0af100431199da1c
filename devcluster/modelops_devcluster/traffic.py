"""Inference traffic for the local data plane, routed the way the cluster's network would.

The dev cluster has no Service proxy or mesh: Kubernetes refuses loopback addresses in
EndpointSlices, so Services never get endpoints and nothing implements HTTPRoutes or
VirtualServices. `TrafficGenerator` plays their part by reading the routing objects from
the API server (every `refresh_s`, so weight changes during a rollout take effect) and
sending each request straight to a pod IP:

- ``Service(name)``: uniform over the Service's Running and Ready pods (so the replica ratio
  decides the split, as with kube-proxy);
- ``HTTPRoute(name)`` (gateway.networking.k8s.io/v1): the first rule's backendRefs by weight
  (default 1) over their Services' pods; a RequestMirror filter sends a copy to the mirrored
  Service (its response is counted apart and otherwise ignored);
- ``VirtualService(name)`` (networking.istio.io/v1): the first http route's destinations by
  weight, plus ``mirror``/``mirrorPercentage`` (or ``mirrors``).

Faults are chosen by the generator per request with its own seeded RNG, keyed by the chosen
pod's ``modelops.dev/version`` label, and sent as the ``x-modelops-fault`` header (the
server honours it with ``--allow-fault-injection``). Every request goes to 127.0.0.0/8 only
(anything else raises), proxies from the environment are ignored, each call has a timeout,
and a run stops at `count` requests or `max_seconds`, whichever comes first.

Ground truth (`labels=Labels(delay_s=...)`): each request carries its own `id`, and the labels of
the dataset rows it sent are posted to the answering pod's `POST .../feedback` about `delay_s`
after the answer (as `<id>:<row>`), in batches, by one background thread. The labels come from the
dataset, so a dataset generated with concept drift (`Drift(concept=...)`) changes the labels and
not the features. The delay is bounded (`MAX_LABEL_DELAY_S`), so is the queue of labels waiting
(`max_pending`, the oldest dropped and counted first), and feedback goes to loopback only, like
every request.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np

from modelops.train.dataset import Dataset
from modelops_devcluster.cluster import DevCluster
from modelops_devcluster.dataplane import NonLoopbackError, require_loopback

FAULT_HEADER = "x-modelops-fault"
RENAMED_INPUT = "renamed-input"  # a fault the generator makes in the body (Fault.renamed_input_rate)
MODEL_LABEL = "modelops.dev/model"
VERSION_LABEL = "modelops.dev/version"
VARIANT_LABEL = "modelops.dev/variant"
_CLUSTER_DOMAIN = ".svc.cluster.local"
MAX_LABEL_DELAY_S = 600.0  # labels arrive late, but a test waits for them: ten minutes at most


class RoutingError(RuntimeError):
    """A routing object is missing or uses something the local data plane cannot route."""


@dataclass(frozen=True)
class Service:
    """Route to a Service's ready pods, uniformly."""

    name: str


@dataclass(frozen=True)
class HTTPRoute:
    """Route by a Gateway API HTTPRoute's first rule."""

    name: str


@dataclass(frozen=True)
class VirtualService:
    """Route by an Istio VirtualService's first http route."""

    name: str


Target = Service | HTTPRoute | VirtualService


@dataclass(frozen=True)
class Fault:
    """Per-request fault odds for one version: a 500 with `error_rate`, plus `latency_s` on every request.

    `renamed_input_rate`: the share of requests to the version whose first input is sent under another
    name (`<name>_v2`), as a client of a changed input schema would; the real server refuses them
    (400, `unknown_input`). Done by the generator, not the server; the fault string records it.
    """

    error_rate: float = 0.0
    latency_s: float = 0.0
    renamed_input_rate: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.error_rate <= 1.0 or not 0.0 <= self.renamed_input_rate <= 1.0 or self.latency_s < 0:
            raise ValueError("error_rate and renamed_input_rate must be within [0, 1] and latency_s >= 0")


@dataclass(frozen=True)
class Labels:
    """Send each answered request's ground truth back to the pod that answered, `delay_s` later.

    `share` of the requests get labels (drawn with the generator's RNG); `batch` labels at most per
    feedback request; `max_pending` labels at most wait for their time (the oldest are dropped beyond)."""

    delay_s: float = 2.0
    share: float = 1.0
    batch: int = 1000
    max_pending: int = 200_000

    def __post_init__(self) -> None:
        if not 0.0 <= self.delay_s <= MAX_LABEL_DELAY_S:
            raise ValueError(f"delay_s must be within [0, {MAX_LABEL_DELAY_S:g}], got {self.delay_s}")
        if not 0.0 < self.share <= 1.0 or not 1 <= self.batch <= 10_000 or self.max_pending < 1:
            raise ValueError("share in (0, 1], batch in [1, 10000], max_pending >= 1")


@dataclass
class LabelCounts:
    """What the label sender did: labels posted, per server result, dropped from the queue, failed posts."""

    posted: int = 0
    results: Counter[str] = field(default_factory=Counter)
    dropped: int = 0
    failed_posts: int = 0
    errors: list[str] = field(default_factory=list)  # the first few failures


@dataclass(frozen=True)
class _Pending:
    due: float  # time.monotonic()
    ip: str
    port: int
    model: str
    items: tuple[tuple[str, int], ...]  # (prediction id, label)


class _LabelSender:
    """One thread posting due labels in batches to the pods that made the predictions."""

    def __init__(self, labels: Labels, timeout_s: float) -> None:
        self.labels = labels
        self.timeout_s = timeout_s
        self.counts = LabelCounts()
        self._queue: deque[_Pending] = deque()
        self._queued = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, pending: _Pending) -> None:
        with self._lock:
            self._queue.append(pending)
            self._queued += len(pending.items)
            while self._queued > self.labels.max_pending and self._queue:
                old = self._queue.popleft()
                self._queued -= len(old.items)
                self.counts.dropped += len(old.items)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="modelops-labels", daemon=True)
                self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout_s + 5)

    def _due(self) -> list[_Pending]:
        now = time.monotonic()
        out: list[_Pending] = []
        with self._lock:  # the queue is in send order, so in due order (one delay for all)
            while self._queue and self._queue[0].due <= now:
                item = self._queue.popleft()
                self._queued -= len(item.items)
                out.append(item)
        return out

    def _loop(self) -> None:
        with httpx.Client(timeout=self.timeout_s, trust_env=False) as client:
            while not self._stop.wait(0.2):
                by_pod: dict[tuple[str, int, str], list[tuple[str, int]]] = {}
                for p in self._due():
                    by_pod.setdefault((p.ip, p.port, p.model), []).extend(p.items)
                for (ip, port, model), items in by_pod.items():
                    for start in range(0, len(items), self.labels.batch):
                        self._post(client, ip, port, model, items[start : start + self.labels.batch])

    def _post(self, client: httpx.Client, ip: str, port: int, model: str, items: list[tuple[str, int]]) -> None:
        url = f"http://{require_loopback(ip)}:{port}/v2/models/{model}/feedback"
        body = {"labels": [{"id": i, "label": label} for i, label in items]}
        try:
            response = client.post(url, json=body)
            response.raise_for_status()
            answer = response.json()
        except (httpx.HTTPError, ValueError) as error:
            with self._lock:
                self.counts.failed_posts += 1
                if len(self.counts.errors) < 10:
                    self.counts.errors.append(f"{type(error).__name__}: {error}"[:200])
            return
        with self._lock:
            self.counts.posted += len(items)
            for result in ("accepted", "duplicate", "unmatched", "wrong_version"):
                self.counts.results[result] += int(answer.get(result, 0))


@dataclass(frozen=True)
class Endpoint:
    """One ready pod behind a Service, on its loopback pod IP."""

    pod: str
    ip: str
    port: int
    labels: Mapping[str, str]

    @property
    def version(self) -> str:
        return self.labels.get(VERSION_LABEL, "")

    @property
    def variant(self) -> str:
        return self.labels.get(VARIANT_LABEL, "")


@dataclass(frozen=True)
class Backend:
    """A Service and its share: `weight` for primary backends, `fraction` (0..1) for mirrors."""

    service: str  # namespace/name
    endpoints: tuple[Endpoint, ...]
    weight: float = 1.0


@dataclass(frozen=True)
class Routes:
    """Where requests go right now."""

    backends: tuple[Backend, ...]
    mirrors: tuple[Backend, ...] = ()

    def pick(self, rng: random.Random) -> Endpoint | str:
        """A pod for the next request, or why there is none (what a proxy would answer 5xx for)."""
        weighted = [b for b in self.backends if b.weight > 0]
        if not weighted:
            return "no backend has a weight above 0"
        point = rng.random() * sum(b.weight for b in weighted)
        chosen = weighted[-1]
        for backend in weighted:
            point -= backend.weight
            if point < 0:
                chosen = backend
                break
        if not chosen.endpoints:
            return f"no ready pods behind Service {chosen.service}"
        return chosen.endpoints[rng.randrange(len(chosen.endpoints))]


# -- resolving routing objects -----------------------------------------------------------


class _Resolver:
    """Reads Services, pods and route objects through the API server (as the admin)."""

    def __init__(self, cluster: DevCluster, namespace: str) -> None:
        self.cluster = cluster
        self.namespace = namespace

    def routes(self, target: Target) -> Routes:
        if isinstance(target, Service):
            return Routes((Backend(f"{self.namespace}/{target.name}", self.endpoints(self.namespace, target.name)),))
        if isinstance(target, HTTPRoute):
            return self._httproute(target.name)
        return self._virtualservice(target.name)

    def _get(self, path: str, what: str) -> dict[str, Any]:
        status, body = self.cluster.api("GET", path)
        if status != 200:
            raise RoutingError(f"{what}: GET {path} answered {status}: {body}")
        result: dict[str, Any] = body
        return result

    def endpoints(self, namespace: str, service: str, port: int | None = None) -> tuple[Endpoint, ...]:
        """The Service's Running, Ready, non-terminating pods on the resolved target port."""
        svc = self._get(f"/api/v1/namespaces/{namespace}/services/{service}", f"Service {namespace}/{service}")
        ports = svc["spec"].get("ports", [])
        named = [p for p in ports if p.get("name") == "http"]
        chosen = (named or ports)[:1] if port is None else [p for p in ports if p["port"] == port]
        if not chosen:
            raise RoutingError(f"Service {namespace}/{service} has no port {port if port is not None else ''}".strip())
        target_port = chosen[0].get("targetPort", chosen[0]["port"])
        selector = svc["spec"].get("selector") or {}
        if not selector:
            return ()  # selector-less Services get hand-made EndpointSlices, which cannot hold loopback IPs
        labels = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
        pods = self._get(f"/api/v1/namespaces/{namespace}/pods?labelSelector={labels}", f"pods of {service}")
        found = []
        for pod in pods.get("items", []):
            ip = pod.get("status", {}).get("podIP")
            if not ip or not _ready(pod):
                continue
            number = _container_port(pod, target_port)
            if number is not None:
                found.append(Endpoint(pod["metadata"]["name"], require_loopback(ip), number, pod["metadata"]["labels"]))
        return tuple(sorted(found, key=lambda e: e.pod))

    def _httproute(self, name: str) -> Routes:
        path = f"/apis/gateway.networking.k8s.io/v1/namespaces/{self.namespace}/httproutes/{name}"
        route = self._get(path, f"HTTPRoute {name}")
        rules = route["spec"].get("rules") or []
        if not rules:
            raise RoutingError(f"HTTPRoute {name} has no rules")
        rule = rules[0]
        backends = tuple(self._backend_ref(ref, float(ref.get("weight", 1))) for ref in rule.get("backendRefs", []))
        mirrors = []
        for f in rule.get("filters", []):
            if f.get("type") == "RequestMirror":
                spec = f["requestMirror"]
                if "fraction" in spec:
                    share = spec["fraction"]["numerator"] / spec["fraction"].get("denominator", 100)
                else:
                    share = spec.get("percent", 100) / 100
                mirrors.append(self._backend_ref(spec["backendRef"], share))
        return Routes(backends, tuple(mirrors))

    def _backend_ref(self, ref: Mapping[str, Any], weight: float) -> Backend:
        if ref.get("group", "") != "" or ref.get("kind", "Service") != "Service":
            raise RoutingError(f"backendRef {ref.get('name')}: only core Services are routable locally")
        namespace = ref.get("namespace", self.namespace)
        return Backend(f"{namespace}/{ref['name']}", self.endpoints(namespace, ref["name"], ref.get("port")), weight)

    def _virtualservice(self, name: str) -> Routes:
        path = f"/apis/networking.istio.io/v1/namespaces/{self.namespace}/virtualservices/{name}"
        http = self._get(path, f"VirtualService {name}")["spec"].get("http") or []
        if not http:
            raise RoutingError(f"VirtualService {name} has no http routes")
        route = http[0]
        destinations = route.get("route") or []
        default_weight = 100 if len(destinations) == 1 else 0
        backends = tuple(self._destination(d["destination"], d.get("weight", default_weight)) for d in destinations)
        mirrors = []
        if "mirror" in route:
            percent = route.get("mirrorPercentage", {}).get("value", 100.0)
            mirrors.append(self._destination(route["mirror"], percent / 100))
        for mirror in route.get("mirrors", []):
            percent = mirror.get("percentage", {}).get("value", 100.0)
            mirrors.append(self._destination(mirror["destination"], percent / 100))
        return Routes(backends, tuple(mirrors))

    def _destination(self, destination: Mapping[str, Any], weight: float) -> Backend:
        if destination.get("subset"):
            raise RoutingError(
                f"destination {destination['host']}: subsets (DestinationRules) are not routable locally"
            )
        namespace, service = _service_of_host(destination["host"], self.namespace)
        port = destination.get("port", {}).get("number")
        return Backend(f"{namespace}/{service}", self.endpoints(namespace, service, port), float(weight))


def _ready(pod: Mapping[str, Any]) -> bool:
    if pod["metadata"].get("deletionTimestamp") or pod.get("status", {}).get("phase") != "Running":
        return False
    conditions = pod["status"].get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def _container_port(pod: Mapping[str, Any], target: int | str) -> int | None:
    """A Service targetPort on this pod: a number, or a named container port (None if absent)."""
    if isinstance(target, int) or str(target).isdigit():
        return int(target)
    for container in pod["spec"].get("containers", []):
        for port in container.get("ports", []):
            if port.get("name") == target:
                return int(port["containerPort"])
    return None


def _service_of_host(host: str, namespace: str) -> tuple[str, str]:
    """An Istio host (`svc`, `svc.ns`, `svc.ns.svc`, `svc.ns.svc.cluster.local`) as (namespace, Service)."""
    short = host.removesuffix(_CLUSTER_DOMAIN).removesuffix(".svc")
    parts = short.split(".")
    if len(parts) > 2 or not all(parts):
        raise RoutingError(f"host {host!r} is not a Service of this cluster")
    return (parts[1] if len(parts) == 2 else namespace), parts[0]


def resolve_routes(cluster: DevCluster, namespace: str, target: Target) -> Routes:
    """Where `target` sends requests right now (raises NonLoopbackError for any non-loopback pod IP)."""
    return _Resolver(cluster, namespace).routes(target)


# -- the report --------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestRecord:
    """One request: where it went, what came back, which dataset rows it carried.

    `rows` index the dataset that was current when it was sent (`generation` counts
    `set_dataset` calls). `code` is None when no HTTP answer came (`error` says why).
    `fault` is the fault-injection header it carried; `ip` the pod IP it went to;
    `sent_at` when it was sent (`time.monotonic()`); `mirror` marks a mirrored copy.
    """

    pod: str
    version: str
    variant: str
    code: int | None
    latency_s: float
    rows: tuple[int, ...]
    generation: int
    fault: str = ""
    error: str = ""
    ip: str = ""
    sent_at: float = 0.0
    mirror: bool = False

    @property
    def injected_error(self) -> bool:
        """A failure that is meant: the request asked its server for a 500, or carried a renamed input (the
        server refuses it with a 400), by fault injection."""
        return bool({"error", RENAMED_INPUT} & set(self.fault.split(",")))

    @property
    def failed(self) -> bool:
        """No answer, or a 4xx/5xx answer."""
        return self.code is None or self.code >= 400

    @property
    def unexpected_failure(self) -> bool:
        """A failure fault injection did not ask for: no answer at all, or a 4xx/5xx without an injected error."""
        return self.code is None or (self.code >= 400 and not self.injected_error)


@dataclass(frozen=True)
class TrafficReport:
    """What a run sent and got back; `counts` and `mirrored` are (version, variant) -> code -> n.

    `sent` counts every primary request, including those no pod could take (in `errors`);
    `records` lists them in completion order, `mirrored_records` the mirrored copies.
    """

    sent: int
    counts: dict[tuple[str, str], dict[int, int]]
    errors: dict[str, int]
    latency_s: dict[str, float]  # p50, p90, p99 of answered primary requests
    mirrored: dict[tuple[str, str], dict[int, int]]
    duration_s: float
    records: list[RequestRecord] = field(repr=False)
    mirrored_records: list[RequestRecord] = field(default_factory=list, repr=False)

    def requests(self, version: str) -> int:
        """Answered primary requests to `version`, any code."""
        return sum(n for (v, _), codes in self.counts.items() if v == version for n in codes.values())

    def rows_by_variant(self, generation: int = 0) -> dict[tuple[str, str], list[int]]:
        """Dataset rows of 2xx answers per (version, variant): what the servers' feature histograms saw."""
        rows: dict[tuple[str, str], list[int]] = {}
        for r in self.records:
            if r.code is not None and 200 <= r.code < 300 and r.generation == generation:
                rows.setdefault((r.version, r.variant), []).extend(r.rows)
        return rows


def _report(records: list[RequestRecord], mirrored: list[RequestRecord], duration: float) -> TrafficReport:
    def by_code(rs: Sequence[RequestRecord]) -> dict[tuple[str, str], dict[int, int]]:
        out: dict[tuple[str, str], dict[int, int]] = {}
        for r in rs:
            if r.code is not None:
                codes = out.setdefault((r.version, r.variant), {})
                codes[r.code] = codes.get(r.code, 0) + 1
        return out

    answered = [r.latency_s for r in records if r.code is not None]
    percentiles = np.percentile(answered, [50, 90, 99]) if answered else [float("nan")] * 3
    return TrafficReport(
        sent=len(records),
        counts=by_code(records),
        errors=dict(Counter(r.error for r in records if r.error)),
        latency_s={k: float(v) for k, v in zip(("p50", "p90", "p99"), percentiles, strict=True)},
        mirrored=by_code(mirrored),
        duration_s=duration,
        records=records,
        mirrored_records=mirrored,
    )


# -- the generator -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Request:
    endpoint: Endpoint | None
    unroutable: str
    rows: tuple[int, ...]
    generation: int
    dataset: Dataset
    fault: str
    mirrors: tuple[tuple[Endpoint, str], ...]
    id: str = ""  # the request's id, when its labels are to be sent back


class TrafficGenerator:
    """`TrafficGenerator(cluster, "ns", target=Service("fraud"), dataset=ds, rate_per_s=100, seed=1).run(500, 30)`."""

    def __init__(
        self,
        cluster: DevCluster,
        namespace: str,
        *,
        target: Target,
        dataset: Dataset,
        rate_per_s: float,
        seed: int,
        batch: int = 1,
        faults: Mapping[str, Fault] | None = None,
        timeout_s: float = 5.0,
        concurrency: int = 4,
        refresh_s: float = 0.5,
        labels: Labels | None = None,
    ) -> None:
        if rate_per_s <= 0 or batch < 1 or concurrency < 1 or timeout_s <= 0 or dataset.rows == 0:
            raise ValueError("rate_per_s, timeout_s > 0; batch, concurrency >= 1; a non-empty dataset")
        self.target = target
        self.rate_per_s = rate_per_s
        self.batch = batch
        self.faults = dict(faults or {})
        self.timeout_s = timeout_s
        self.concurrency = concurrency
        self.refresh_s = refresh_s
        self._resolver = _Resolver(cluster, namespace)
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._dataset = dataset
        self._cursor = 0
        self._generation = 0
        self._routes: Routes | None = None  # the last routes resolved, kept across runs
        self.route_errors: list[tuple[float, str]] = []  # (time.monotonic(), why) of each failed resolution
        self.labels = labels
        self._labels = _LabelSender(labels, timeout_s) if labels is not None else None
        self._ids = itertools.count(1)
        self._id_prefix = f"tg{seed}-{random.Random().getrandbits(32):08x}"  # unique across generators and runs

    @property
    def label_counts(self) -> LabelCounts:
        """What the label sender did so far (all zero without `labels`)."""
        return self._labels.counts if self._labels is not None else LabelCounts()

    def close(self) -> None:
        """Stop sending labels (those not yet due are dropped)."""
        if self._labels is not None:
            self._labels.close()

    def set_dataset(self, dataset: Dataset) -> None:
        """Switch to other (e.g. drifted) rows from the next request on, starting at its row 0."""
        if dataset.rows == 0:
            raise ValueError("empty dataset")
        with self._lock:
            self._dataset, self._cursor = dataset, 0
            self._generation += 1

    def routes(self) -> Routes:
        return self._resolver.routes(self.target)

    def run(self, count: int, max_seconds: float) -> TrafficReport:
        """Send up to `count` requests at `rate_per_s`, for at most `max_seconds` (plus in-flight timeouts)."""
        if count < 0 or max_seconds <= 0:
            raise ValueError("count >= 0 and max_seconds > 0")
        start = time.monotonic()
        deadline = start + max_seconds
        routes, refreshed = self._refresh(self._routes), start
        if routes is None:  # nothing resolved yet, ever: nothing to send to
            raise RoutingError(f"no routes for {self.target}: {self.route_errors[-1][1]}")
        records: list[RequestRecord] = []
        mirrored: list[RequestRecord] = []
        slots = threading.BoundedSemaphore(self.concurrency)
        futures: list[Future[None]] = []
        limits = httpx.Limits(max_connections=self.concurrency * 2, max_keepalive_connections=self.concurrency * 2)
        with (
            httpx.Client(timeout=self.timeout_s, trust_env=False, limits=limits) as client,
            ThreadPoolExecutor(self.concurrency, thread_name_prefix="modelops-traffic") as pool,
        ):
            for k in range(count):
                send_at = start + k / self.rate_per_s
                if send_at >= deadline:
                    break
                time.sleep(max(0.0, send_at - time.monotonic()))
                if time.monotonic() - refreshed >= self.refresh_s:
                    routes, refreshed = self._refresh(routes) or routes, time.monotonic()
                if not slots.acquire(timeout=max(0.0, deadline - time.monotonic())):
                    break
                request = self._next_request(routes)
                futures.append(pool.submit(self._send, client, request, records, mirrored, slots))
            for future in futures:
                future.result()  # each request is bounded by the client timeout
        return _report(records, mirrored, time.monotonic() - start)

    def _refresh(self, current: Routes | None) -> Routes | None:
        """New routes; when they cannot be resolved (a Service not created yet, the API server restarting),
        keep the last ones and record why in `route_errors` (a non-loopback pod IP still raises)."""
        try:
            routes = self.routes()
        except NonLoopbackError:
            raise
        except (RoutingError, OSError, ValueError, KeyError, TypeError) as error:
            with self._lock:
                self.route_errors.append((time.monotonic(), f"{type(error).__name__}: {error}"))
            return current
        self._routes = routes
        return routes

    def _next_request(self, routes: Routes) -> _Request:
        """Everything random about one request, drawn here in one thread so a seed replays a run."""
        picked = routes.pick(self._rng)
        endpoint = picked if isinstance(picked, Endpoint) else None
        fault = self._fault(endpoint) if endpoint else ""
        mirrors = []
        for mirror in routes.mirrors:
            if mirror.endpoints and self._rng.random() < mirror.weight:
                target = mirror.endpoints[self._rng.randrange(len(mirror.endpoints))]
                mirrors.append((target, self._fault(target)))
        with self._lock:
            dataset, generation = self._dataset, self._generation
            rows = tuple((self._cursor + j) % dataset.rows for j in range(self.batch))
            self._cursor = (self._cursor + self.batch) % dataset.rows
        unroutable = picked if isinstance(picked, str) else ""
        labelled = self.labels is not None and (self.labels.share >= 1.0 or self._rng.random() < self.labels.share)
        request_id = f"{self._id_prefix}-{next(self._ids)}" if labelled else ""
        return _Request(endpoint, unroutable, rows, generation, dataset, fault, tuple(mirrors), request_id)

    def _queue_labels(self, request: _Request, endpoint: Endpoint, record: RequestRecord) -> None:
        assert self._labels is not None
        truth = request.dataset.labels
        items = tuple((f"{request.id}:{i}", int(truth[row])) for i, row in enumerate(request.rows))
        due = record.sent_at + record.latency_s + self._labels.labels.delay_s
        model = endpoint.labels.get(MODEL_LABEL, "")
        self._labels.add(_Pending(due, endpoint.ip, endpoint.port, model, items))

    def _fault(self, endpoint: Endpoint) -> str:
        fault = self.faults.get(endpoint.version)
        if fault is None:
            return ""
        parts = ["error"] if self._rng.random() < fault.error_rate else []
        if fault.latency_s > 0:
            parts.append(f"latency={fault.latency_s:g}")
        if fault.renamed_input_rate > 0 and self._rng.random() < fault.renamed_input_rate:  # no draw otherwise
            parts.append(RENAMED_INPUT)
        return ",".join(parts)

    def _send(
        self,
        client: httpx.Client,
        request: _Request,
        records: list[RequestRecord],
        mirrored: list[RequestRecord],
        slots: threading.BoundedSemaphore,
    ) -> None:
        try:
            if request.endpoint is None:
                unroutable = RequestRecord(
                    pod="",
                    version="",
                    variant="",
                    code=None,
                    latency_s=0.0,
                    rows=request.rows,
                    generation=request.generation,
                    error=request.unroutable,
                    sent_at=time.monotonic(),
                )
                records.append(unroutable)
                return
            body: dict[str, Any] = {"inputs": _take(request.dataset, request.rows).inference_inputs()}
            if request.id:
                body["id"] = request.id
            record = _post(client, request.endpoint, body, request)
            records.append(record)
            if request.id and self._labels is not None and record.code is not None and 200 <= record.code < 300:
                self._queue_labels(request, request.endpoint, record)
            for endpoint, fault in request.mirrors:
                mirrored.append(_post(client, endpoint, body, request, fault, mirror=True))
        finally:
            slots.release()


def _post(
    client: httpx.Client,
    endpoint: Endpoint,
    body: dict[str, Any],
    request: _Request,
    fault: str | None = None,
    *,
    mirror: bool = False,
) -> RequestRecord:
    fault = request.fault if fault is None else fault
    url = (
        f"http://{require_loopback(endpoint.ip)}:{endpoint.port}/v2/models/{endpoint.labels.get(MODEL_LABEL, '')}/infer"
    )
    headers = {FAULT_HEADER: fault} if fault else {}
    if RENAMED_INPUT in fault.split(","):  # the server ignores this token; the body carries the fault
        first, *rest = body["inputs"]
        body = {**body, "inputs": [{**first, "name": f"{first['name']}_v2"}, *rest]}
    sent_at = time.monotonic()
    started = time.perf_counter()
    code, error = None, ""
    try:
        code = client.post(url, json=body, headers=headers).status_code
    except httpx.HTTPError as e:
        error = f"{type(e).__name__}: {e}"[:200]  # e.g. "ConnectError: [Errno 111] Connection refused"
    latency = time.perf_counter() - started
    return RequestRecord(
        pod=endpoint.pod,
        version=endpoint.version,
        variant=endpoint.variant,
        code=code,
        latency_s=latency,
        rows=request.rows,
        generation=request.generation,
        fault=fault,
        error=error,
        ip=endpoint.ip,
        sent_at=sent_at,
        mirror=mirror,
    )


def _take(dataset: Dataset, rows: tuple[int, ...]) -> Dataset:
    index = np.asarray(rows, dtype=np.int64)
    return Dataset(
        dataset.numeric_names,
        dataset.numeric[index],
        {k: v[index] for k, v in dataset.categorical.items()},
        dataset.labels[index],
    )
