"""Server-side apply and friends for any kind, off the event loop.

The operator owns its children through server-side apply with one field manager: it only
ever asserts the fields it renders, so fields other controllers set (an HPA's replica count,
a mesh's annotations) are left alone, and an object a user created under the same name is
detected (no owner reference of ours) and never taken over.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, cast

import kopf
from kubernetes import client
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import DynamicApiError, NotFoundError, ResourceNotFoundError
from prometheus_client import Counter

from modelops.errors import ModelopsError

FIELD_MANAGER = "modelops-operator"
# A kind the cluster did not serve is not looked up again for this long: every miss makes the
# dynamic client rediscover the whole API, and a PrometheusRule (or route) per object without its CRD
# would rediscover on every pass of every object.
MISSING_KIND_SECONDS = 60.0
API_WRITES = Counter(
    "modelops_api_writes",
    "Write requests the operator sent to the Kubernetes API, by verb and kind (zero once a fleet has settled).",
    ["verb", "kind"],
)


class KindNotInstalled(ModelopsError, LookupError):
    """The cluster does not serve this kind (e.g. the Gateway API CRDs are missing)."""


class Conflict(ModelopsError, RuntimeError):
    """HTTP 409: the object changed since the version a write was computed from (someone else wrote).
    Re-read and decide again; never retry the same write."""


class NotLeader(ModelopsError, RuntimeError):
    """A write refused before it was sent: this replica does not hold the leader Lease (any more)."""


class ReadRefused(ModelopsError, RuntimeError):
    """The API server refused or failed a read (RBAC, an outage); the message holds its status, never a body."""


class ClusterKube:
    """The operator's handle on the API for children and status (kopf watches; this writes).

    Implements the `Kube` protocol; events go through kopf's poster (its naming and reporting
    component), not a write of ours."""

    def __init__(
        self, api: client.ApiClient, field_manager: str = FIELD_MANAGER, fence: Callable[[], None] | None = None
    ) -> None:
        """`fence`: called on the worker thread right before every write is sent; it raises
        NotLeader when this replica may not write (leader election), so a deposed leader's
        queued writes never leave the process."""
        self.api = api
        self.fence = fence
        self.field_manager = field_manager
        self._dynamic: DynamicClient | None = None
        self._lock = threading.Lock()
        self._missing: dict[tuple[str, str], float] = {}  # (apiVersion, kind) -> when it was not served
        self._found: dict[tuple[str, str], Any] = {}  # (apiVersion, kind) -> its discovered resource
        # The client's discovery cache is not thread-safe: a miss (a kind not installed) empties it while
        # another worker thread reads it, and that read failed with KeyError 'resources' (4-5 failed passes
        # per 1,000-object benchmark run). One lookup at a time, and a kind once found is not looked up again.
        self._discovery = threading.Lock()
        self.writes = 0  # apply/patch/delete calls sent, for the benchmark's writes-per-minute

    def _client(self) -> DynamicClient:
        with self._lock:  # discovery happens once, lazily, on a worker thread
            if self._dynamic is None:
                self._dynamic = DynamicClient(self.api)
            return self._dynamic

    def _resource(self, api_version: str, kind: str) -> Any:
        why = f"{kind}.{api_version} is not served by this cluster (is its CRD installed?)"
        with self._lock:
            since = self._missing.get((api_version, kind))
        if since is not None and time.monotonic() - since < MISSING_KIND_SECONDS:
            raise KindNotInstalled(why)
        known = self._found.get((api_version, kind))
        if known is not None:
            return known
        dynamic = self._client()
        try:
            with self._discovery:
                found = self._found.get((api_version, kind)) or dynamic.resources.get(
                    api_version=api_version, kind=kind
                )
        except ResourceNotFoundError as error:
            with self._lock:
                self._missing[(api_version, kind)] = time.monotonic()
            raise KindNotInstalled(why) from error
        with self._lock:
            self._missing.pop((api_version, kind), None)
            self._found[(api_version, kind)] = found
        return found

    def _apply(self, body: dict[str, Any]) -> dict[str, Any]:
        resource = self._resource(body["apiVersion"], body["kind"])
        meta = body["metadata"]
        self._fence()
        self.writes += 1
        API_WRITES.labels("apply", body["kind"]).inc()
        result = resource.server_side_apply(
            body=body,
            name=meta["name"],
            namespace=meta.get("namespace"),
            field_manager=self.field_manager,
            force_conflicts=True,
        )
        return cast(dict[str, Any], result.to_dict())

    async def apply(self, body: dict[str, Any]) -> dict[str, Any]:
        return await asyncio.to_thread(self._apply, body)

    def _get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            obj = self._resource(api_version, kind).get(name=name, namespace=namespace)
        except NotFoundError:
            return None
        return cast(dict[str, Any], obj.to_dict())

    async def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return await asyncio.to_thread(self._get, api_version, kind, namespace, name)

    def _secret_data(self, namespace: str, name: str) -> tuple[str, dict[str, str]] | None:
        try:
            obj = self._resource("v1", "Secret").get(name=name, namespace=namespace)
        except NotFoundError:
            return None
        except DynamicApiError as error:  # only the status line: the body is not ours to log
            raise ReadRefused(f"HTTP {error.status} {error.reason}") from None
        return str(obj.metadata.resourceVersion or ""), dict(obj.to_dict().get("data") or {})

    async def secret_data(self, namespace: str, name: str) -> tuple[str, dict[str, str]] | None:
        """(resourceVersion, data) of a Secret, values still base64 as the API serves them; None when
        it does not exist. Raises ReadRefused when the server will not say (403 without RBAC on secrets)."""
        return await asyncio.to_thread(self._secret_data, namespace, name)

    def _list(self, api_version: str, kind: str, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        found = self._resource(api_version, kind).get(namespace=namespace, label_selector=label_selector)
        return [cast(dict[str, Any], item.to_dict()) for item in found.items]

    async def list(self, api_version: str, kind: str, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self._list, api_version, kind, namespace, label_selector)

    def _delete(self, api_version: str, kind: str, namespace: str, name: str) -> bool:
        resource = self._resource(api_version, kind)
        self._fence()
        self.writes += 1
        API_WRITES.labels("delete", kind).inc()
        try:
            resource.delete(name=name, namespace=namespace)
        except NotFoundError:
            return False
        return True

    async def delete(self, api_version: str, kind: str, namespace: str, name: str) -> bool:
        return await asyncio.to_thread(self._delete, api_version, kind, namespace, name)

    def _patch_status(
        self,
        api_version: str,
        kind: str,
        namespace: str,
        name: str,
        status: dict[str, Any],
        *,
        resource_version: str | None,
    ) -> dict[str, Any]:
        resource = self._resource(api_version, kind).subresources["status"]
        body: dict[str, Any] = {"status": status}
        if resource_version:  # a precondition: 409 if the object changed since the status was read
            body["metadata"] = {"resourceVersion": resource_version}
        self._fence()
        self.writes += 1
        API_WRITES.labels("patch-status", kind).inc()
        try:
            result = resource.patch(
                body=body, name=name, namespace=namespace, content_type="application/merge-patch+json"
            )
        except DynamicApiError as error:
            if error.status == 409:
                raise Conflict(f"{kind} {namespace}/{name} changed since version {resource_version}") from None
            raise
        return cast(dict[str, Any], result.to_dict())

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
        patch = functools.partial(self._patch_status, resource_version=resource_version)
        return await asyncio.to_thread(patch, api_version, kind, namespace, name, status)

    def _fence(self) -> None:
        if self.fence is not None:
            self.fence()

    def event(self, obj: Mapping[str, Any], type: str, reason: str, message: str) -> None:
        self._fence()  # a deposed leader announces nothing either
        kopf.event(kopf.Body(cast(kopf.RawBody, obj)), type=type, reason=reason, message=message)
