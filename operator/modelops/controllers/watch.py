"""Watch caches of the operator's children, and wake-ups for the objects that own them.

kopf indexes keep, per (namespace, ModelDeployment), what each child looks like: its
content hash and, for Deployments, the version and ready replicas. Reconciles read these
instead of the API, and a change to any child wakes its owner's daemon at once.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import kopf

from modelops.api.names import DEPLOYMENT_LABEL, MANAGED_BY, VERSION_LABEL
from modelops.render.children import HASH_ANNOTATION

Key = tuple[str, str]  # (namespace, owner name)


@dataclass(frozen=True)
class Child:
    api_version: str
    kind: str
    name: str
    applied_hash: str | None
    version: str | None = None
    ready: int = 0
    uid: str | None = None


# (group, version, plural, apiVersion, kind) of every kind the operator renders
CHILD_KINDS: tuple[tuple[str, str, str, str, str], ...] = (
    ("apps", "v1", "deployments", "apps/v1", "Deployment"),
    ("", "v1", "services", "v1", "Service"),
    ("autoscaling", "v2", "horizontalpodautoscalers", "autoscaling/v2", "HorizontalPodAutoscaler"),
    ("policy", "v1", "poddisruptionbudgets", "policy/v1", "PodDisruptionBudget"),
    ("gateway.networking.k8s.io", "v1", "httproutes", "gateway.networking.k8s.io/v1", "HTTPRoute"),
    ("networking.istio.io", "v1", "virtualservices", "networking.istio.io/v1", "VirtualService"),
    ("monitoring.coreos.com", "v1", "prometheusrules", "monitoring.coreos.com/v1", "PrometheusRule"),
)


class Wakers:
    """One asyncio.Event per owner: set when its children or its own object change."""

    def __init__(self) -> None:
        self._events: dict[Key, asyncio.Event] = {}

    def event(self, key: Key) -> asyncio.Event:
        return self._events.setdefault(key, asyncio.Event())

    def wake(self, key: Key) -> None:
        event = self._events.get(key)
        if event is not None:
            event.set()

    def forget(self, key: Key) -> None:
        self._events.pop(key, None)


WAKERS = Wakers()


def index_name(plural: str) -> str:
    return f"children_{plural}"


def _register(group: str, version: str, plural: str, api_version: str, kind: str) -> None:
    async def index(
        *,
        namespace: str | None,
        name: str,
        labels: kopf.Labels,
        annotations: kopf.Annotations,
        status: kopf.Status,
        uid: str,
        **_: Any,
    ) -> dict[Key, Child] | None:
        owner = labels.get(DEPLOYMENT_LABEL)
        if owner is None:
            return None
        key = (namespace or "", owner)
        WAKERS.wake(key)  # runs on the event loop (async handler), so setting the event is safe
        ready = int(status.get("readyReplicas") or 0) if kind == "Deployment" else 0
        return {
            key: Child(api_version, kind, name, annotations.get(HASH_ANNOTATION), labels.get(VERSION_LABEL), ready, uid)
        }

    resource = f"{plural}.{group}" if group else plural
    kopf.index(resource, labels=dict(MANAGED_BY), id=index_name(plural))(index)
    del version  # kopf resolves the preferred version of the resource itself

    # A raw-event handler, not on.delete: kopf's change-detecting handlers (create/update/delete)
    # store a last-handled-configuration annotation, i.e. one extra PATCH of every child we own.
    @kopf.on.event(resource, labels=dict(MANAGED_BY), id=f"wake_{plural}")
    async def changed(type: str | None, namespace: str | None, labels: kopf.Labels, **_: Any) -> None:
        owner = labels.get(DEPLOYMENT_LABEL)
        if owner is not None and type == "DELETED":  # the index handler wakes on every other change
            WAKERS.wake((namespace or "", owner))


for _group, _version, _plural, _api_version, _kind in CHILD_KINDS:
    _register(_group, _version, _plural, _api_version, _kind)


def children_of(key: Key, indexes: dict[str, Any]) -> list[Child]:
    """Every cached child of one owner, across kinds (kinds the cluster lacks are simply absent)."""
    out: list[Child] = []
    for _, _, plural, _, _ in CHILD_KINDS:
        store = indexes.get(index_name(plural))
        if store is not None and key in store:
            out.extend(store[key])
    return out
