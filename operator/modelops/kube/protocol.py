"""What controllers need from the Kubernetes API, as a Protocol.

Controllers are written against this and nothing else, so a reconcile pass runs the same
against the cluster (`ClusterKube`) and against an in-memory fake in unit tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class Kube(Protocol):
    """Reads, server-side applies, status merge patches, deletes and events of any kind."""

    async def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        ...

    async def list(self, api_version: str, kind: str, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        """Objects of a kind in a namespace matching `k=v,...`."""
        ...

    async def apply(self, body: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply with the operator's field manager; raises KindNotInstalled, and
        NotLeader (before sending) when this replica may not write."""
        ...

    async def delete(self, api_version: str, kind: str, namespace: str, name: str) -> bool:
        """False when there was nothing to delete."""
        ...

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
        """A JSON merge patch of the status subresource; the object as it is now. With
        `resource_version`, only if the object is still at that version, else Conflict (409)."""
        ...

    async def secret_data(self, namespace: str, name: str) -> tuple[str, dict[str, str]] | None:
        """(resourceVersion, base64 data) of a Secret, None when absent; raises ReadRefused."""
        ...

    def event(self, obj: Mapping[str, Any], type: str, reason: str, message: str) -> None:
        """Queue an Event about `obj` (a body with apiVersion, kind and metadata)."""
        ...
