"""In-memory stand-ins for what controllers talk to: the Kubernetes API (the `Kube` protocol),
Prometheus (an httpx transport answering /api/v1/query), and kopf's watch indexes.

Good enough for one reconcile pass at a time: objects are stored as applied (the status kept
across applies, like server-side apply of a spec), status patches are RFC 7386 merges with the
API server's resourceVersion precondition (a stale version is a Conflict), lists
filter by `k=v` label selectors, and every write and event is recorded for the test to check.
"""

from __future__ import annotations

import copy
import itertools
import re
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import httpx
import kopf

from modelops.api.names import DEPLOYMENT_LABEL, VERSION_LABEL
from modelops.controllers.config import OperatorConfig
from modelops.controllers.watch import CHILD_KINDS, Child, index_name
from modelops.kube import Conflict, KindNotInstalled, Kube
from modelops.render.children import HASH_ANNOTATION

Key = tuple[str, str, str, str]  # (apiVersion, kind, namespace, name)
PROMETHEUS_URL = "http://prometheus.test:9090"


def merge(target: dict[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """RFC 7386: nulls delete, dicts merge, anything else replaces."""
    for k, value in patch.items():
        if value is None:
            target.pop(k, None)
        elif isinstance(value, Mapping) and isinstance(target.get(k), dict):
            merge(target[k], value)
        else:
            target[k] = copy.deepcopy(value)
    return target


@dataclass(frozen=True)
class PostedEvent:
    kind: str
    name: str
    type: str
    reason: str
    message: str


@dataclass
class FakeKube:
    """The `Kube` protocol over a dict. `missing_kinds` are kinds whose CRD is 'not installed'."""

    objects: dict[Key, dict[str, Any]] = field(default_factory=dict)
    missing_kinds: set[str] = field(default_factory=set)
    applied: list[dict[str, Any]] = field(default_factory=list)
    deleted: list[Key] = field(default_factory=list)
    status_patches: list[tuple[Key, dict[str, Any]]] = field(default_factory=list)
    conflicts: list[tuple[Key, str]] = field(default_factory=list)  # (object, the stale version a write carried)
    events: list[PostedEvent] = field(default_factory=list)
    secrets: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    _uids: Iterator[int] = field(default_factory=itertools.count)

    @staticmethod
    def key(body: Mapping[str, Any]) -> Key:
        meta = body["metadata"]
        return (body["apiVersion"], body["kind"], meta.get("namespace", ""), meta["name"])

    def put(self, body: dict[str, Any]) -> dict[str, Any]:
        """Store an object as if a user (or another controller) had created it."""
        stored = copy.deepcopy(body)
        meta = stored.setdefault("metadata", {})
        meta.setdefault("uid", f"uid-{next(self._uids)}")
        meta.setdefault("generation", 1)
        meta["resourceVersion"] = str(int(meta.get("resourceVersion") or 0) + 1)
        self.objects[self.key(stored)] = stored
        return copy.deepcopy(stored)

    def find(self, kind: str, name: str) -> dict[str, Any] | None:
        return next((o for (_, k, _, n), o in self.objects.items() if k == kind and n == name), None)

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for (_, k, _, _), o in self.objects.items() if k == kind]

    def reasons(self) -> list[str]:
        return [e.reason for e in self.events]

    async def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        if kind in self.missing_kinds:  # as ClusterKube: discovery does not know the kind
            raise KindNotInstalled(f"{kind}.{api_version} is not served by this cluster")
        found = self.objects.get((api_version, kind, namespace, name))
        return copy.deepcopy(found) if found is not None else None

    async def list(self, api_version: str, kind: str, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        wanted = dict(term.split("=", 1) for term in label_selector.split(",") if term)
        return [
            copy.deepcopy(o)
            for (v, k, ns, _), o in self.objects.items()
            if (v, k, ns) == (api_version, kind, namespace)
            and all((o["metadata"].get("labels") or {}).get(lk) == lv for lk, lv in wanted.items())
        ]

    async def apply(self, body: dict[str, Any]) -> dict[str, Any]:
        if body["kind"] in self.missing_kinds:
            raise KindNotInstalled(f"{body['kind']}.{body['apiVersion']} is not served by this cluster")
        self.applied.append(copy.deepcopy(body))
        before = self.objects.get(self.key(body))
        stored = copy.deepcopy(body)
        if before is not None:
            stored["metadata"] = {**before["metadata"], **stored["metadata"]}
            if "status" in before:
                stored["status"] = before["status"]
        return self.put(stored)

    async def delete(self, api_version: str, kind: str, namespace: str, name: str) -> bool:
        self.deleted.append((api_version, kind, namespace, name))
        return self.objects.pop((api_version, kind, namespace, name), None) is not None

    async def patch_status(
        self,
        api_version: str,
        kind: str,
        namespace: str,
        name: str,
        status: dict[str, Any],
        *,
        resource_version: str | None = None,
    ) -> dict[str, Any]:
        """As the API server: with `resource_version`, 409 (Conflict) unless the object is still at it;
        every write moves the version on."""
        key = (api_version, kind, namespace, name)
        stored = self.objects[key]
        meta = stored.setdefault("metadata", {})
        if resource_version is not None and resource_version != meta.get("resourceVersion"):
            self.conflicts.append((key, resource_version))
            raise Conflict(f"{kind} {namespace}/{name} is at {meta.get('resourceVersion')}, not {resource_version}")
        self.status_patches.append((key, copy.deepcopy(status)))
        merge(stored.setdefault("status", {}), status)
        meta["resourceVersion"] = str(int(meta.get("resourceVersion") or 0) + 1)
        return copy.deepcopy(stored)

    async def secret_data(self, namespace: str, name: str) -> tuple[str, dict[str, str]] | None:
        data = self.secrets.get((namespace, name))
        return None if data is None else ("1", dict(data))

    def event(self, obj: Mapping[str, Any], type: str, reason: str, message: str) -> None:
        self.events.append(PostedEvent(obj["kind"], obj["metadata"]["name"], type, reason, message))


def _typed(fake: FakeKube) -> Kube:
    return fake  # the fake satisfies the protocol (mypy checks this line)


Answer = Callable[[str], list[tuple[dict[str, str], float]] | None]


@dataclass
class FakePrometheus:
    """Answers instant queries with `answer(query)` -> [(labels, value)] (None: no series),
    series lookups with `series`, and records every query it was asked."""

    answer: Answer = lambda query: None
    series: list[dict[str, str]] = field(default_factory=list)
    down: bool = False
    queries: list[str] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            return httpx.Response(503, text="down")
        form = parse_qs(request.content.decode())
        if request.url.path == "/api/v1/series":
            return httpx.Response(200, json={"status": "success", "data": self.series})
        query = form["query"][0]
        self.queries.append(query)
        found = self.answer(query) or []
        result = [{"metric": labels, "value": [0, repr(float(value))]} for labels, value in found]
        return httpx.Response(200, json={"status": "success", "data": {"resultType": "vector", "result": result}})

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)


def by_pattern(table: Mapping[str, float]) -> Answer:
    """One sample of `value` for the first regex of `table` the query matches; no series otherwise."""

    def answer(query: str) -> list[tuple[dict[str, str], float]] | None:
        for pattern, value in table.items():
            if re.search(pattern, query):
                return [({}, value)]
        return None

    return answer


def memo(kube: FakeKube, prometheus: FakePrometheus | None = None, **extra: Any) -> kopf.Memo:
    """What the operator's start-up puts in kopf's memo, with the fakes in place."""
    m = kopf.Memo()
    m["kube"] = kube
    m["config"] = OperatorConfig(prometheus_url=PROMETHEUS_URL if prometheus is not None else None)
    m["prometheus"] = {}
    m["drift_references"] = OrderedDict()
    if prometheus is not None:
        m["prometheus_transport"] = prometheus.transport
    m.update(extra)
    return m


def indexes(kube: FakeKube) -> dict[str, Any]:
    """kopf's child indexes as the watch handlers would build them from the fake's objects."""
    plurals = {kind: plural for _, _, plural, _, kind in CHILD_KINDS}
    out: dict[str, dict[tuple[str, str], list[Child]]] = {}
    for (api_version, kind, namespace, name), body in kube.objects.items():
        labels = body["metadata"].get("labels") or {}
        owner = labels.get(DEPLOYMENT_LABEL)
        if kind not in plurals or owner is None:
            continue
        annotations = body["metadata"].get("annotations") or {}
        ready = int((body.get("status") or {}).get("readyReplicas") or 0) if kind == "Deployment" else 0
        applied_hash, version, uid = (
            annotations.get(HASH_ANNOTATION),
            labels.get(VERSION_LABEL),
            body["metadata"]["uid"],
        )
        child = Child(api_version, kind, name, applied_hash, version, ready, uid)
        out.setdefault(index_name(plurals[kind]), {}).setdefault((namespace, owner), []).append(child)
    return out
