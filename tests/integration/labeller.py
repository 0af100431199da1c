"""A labeller for the real stack: predictions with ids, then their ground truth through the feedback endpoint.

It sends one-row inference requests the way the cluster routes them (the traffic generator's route
resolution: Service endpoints, HTTPRoute or VirtualService weights), each with its own id, and
sends each prediction's label (the dataset's) to the pod that answered, `delay_s` later, in
batches: what a caller joining its outcomes to its own request log does. `flip` names versions
whose labels are inverted: concept drift for them (the same inputs, a new relation to the label),
which moves no feature and no score. `share` labels only that share of predictions.

Loopback only (pod IPs are checked by `require_loopback`); every loop is bounded by `stop()` and
by `max_seconds`.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import httpx

from modelops.train.dataset import Dataset
from modelops_devcluster.dataplane import require_loopback
from modelops_devcluster.traffic import MODEL_LABEL, Endpoint, Routes, TrafficGenerator

FEEDBACK_BATCH = 200  # labels per feedback request


@dataclass
class _Pending:
    due: float
    endpoint: Endpoint
    id: str
    label: int


@dataclass
class Labeller:
    """`Labeller(generator, dataset, rate=30).start()`, then `stop()`; counts per version in `predicted`, `labelled`."""

    generator: TrafficGenerator  # its route resolution only: the labeller sends its own requests
    dataset: Dataset
    rate: float = 30.0
    seed: int = 1
    delay_s: float = 0.0
    share: float = 1.0
    flip: set[str] = field(default_factory=set)
    max_seconds: float = 600.0
    predicted: Counter[str] = field(default_factory=Counter)  # 200 answers by version
    labelled: Counter[str] = field(default_factory=Counter)  # accepted labels by version
    results: Counter[str] = field(default_factory=Counter)  # every label's result (accepted, unmatched, ...)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Labeller:
        self._thread = threading.Thread(target=self._loop, name="labeller", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)

    def counts(self) -> tuple[dict[str, int], dict[str, int]]:
        with self._lock:
            return dict(self.predicted), dict(self.labelled)

    def _loop(self) -> None:
        rng = random.Random(self.seed)
        pending: list[_Pending] = []
        routes: Routes | None = None
        refreshed = 0.0
        start = time.monotonic()
        deadline = start + self.max_seconds
        with httpx.Client(timeout=5.0, trust_env=False) as client:
            for n in range(int(self.rate * self.max_seconds)):  # bounded: at most max_seconds of requests
                if self._stop.is_set() or time.monotonic() >= deadline:
                    break
                self._stop.wait(max(0.0, start + n / self.rate - time.monotonic()))
                if time.monotonic() - refreshed >= 0.5:
                    routes, refreshed = self._routes(routes), time.monotonic()
                if routes is not None:
                    sent = self._predict(client, routes, rng, n)
                    if sent is not None and rng.random() < self.share:
                        pending.append(sent)
                pending = self._send_due(client, pending, time.monotonic())
            self._send_due(client, pending, float("inf"))  # what is still owed, once

    def _routes(self, current: Routes | None) -> Routes | None:
        try:
            return self.generator.routes()
        except Exception as error:  # a route not there yet, the API server busy: keep the last ones
            self._error(f"routes: {type(error).__name__}: {error}")
            return current

    def _predict(self, client: httpx.Client, routes: Routes, rng: random.Random, n: int) -> _Pending | None:
        picked = routes.pick(rng)
        if not isinstance(picked, Endpoint):
            return None
        row = n % self.dataset.rows
        prediction = f"lab-{self.seed}-{n}"
        body = {"id": prediction, "inputs": self.dataset.inference_inputs(row, row + 1)}
        try:
            answer = client.post(_url(picked, "infer"), json=body)
        except httpx.HTTPError as error:
            self._error(f"infer: {type(error).__name__}: {error}")
            return None
        if answer.status_code != 200:
            self._error(f"infer: {answer.status_code} from {picked.pod}")
            return None
        with self._lock:
            self.predicted[picked.version] += 1
        label = int(self.dataset.labels[row])
        if picked.version in self.flip:
            label = 1 - label
        return _Pending(time.monotonic() + self.delay_s, picked, prediction, label)

    def _send_due(self, client: httpx.Client, pending: list[_Pending], now: float) -> list[_Pending]:
        due = [p for p in pending if p.due <= now]
        if not due:
            return pending
        by_pod: dict[str, list[_Pending]] = {}
        for p in due:
            by_pod.setdefault(p.endpoint.pod, []).append(p)
        for labels in by_pod.values():
            for batch in _chunks(labels, FEEDBACK_BATCH):
                self._feedback(client, batch)
        return [p for p in pending if p.due > now]

    def _feedback(self, client: httpx.Client, batch: list[_Pending]) -> None:
        endpoint = batch[0].endpoint
        body = {"labels": [{"id": p.id, "label": p.label} for p in batch]}
        try:
            answer = client.post(_url(endpoint, "feedback"), json=body)
        except httpx.HTTPError as error:  # the pod went away (a rollback): those labels are lost, as in life
            self._error(f"feedback: {type(error).__name__}: {error}")
            return
        if answer.status_code != 200:
            self._error(f"feedback: {answer.status_code} from {endpoint.pod}: {answer.text[:200]}")
            return
        results = answer.json().get("results") or []
        with self._lock:
            self.results.update(results)
            self.labelled[endpoint.version] += sum(1 for r in results if r == "accepted")

    def _error(self, what: str) -> None:
        with self._lock:
            if len(self.errors) < 1000:
                self.errors.append(what)


def _url(endpoint: Endpoint, path: str) -> str:
    model = endpoint.labels.get(MODEL_LABEL, "")
    return f"http://{require_loopback(endpoint.ip)}:{endpoint.port}/v2/models/{model}/{path}"


def _chunks(items: list[_Pending], size: int) -> Iterable[list[_Pending]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
