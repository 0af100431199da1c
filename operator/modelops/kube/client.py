"""Read and patch modelops custom resources with the official client."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from modelops.api.v1alpha1 import GROUP, VERSION, KindInfo
from modelops.errors import ModelopsError


class NotFoundError(ModelopsError, LookupError):
    """The named resource does not exist."""


def load(
    kubeconfig: str | None = None, context: str | None = None, *, user_agent: str | None = None
) -> client.ApiClient:
    """In-cluster credentials when running in a pod, else the kubeconfig (like kubectl).

    `user_agent`: what the API server's audit log records as the client (the operator's replicas
    name themselves, so an audit says which one wrote)."""
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config(config_file=kubeconfig, context=context)
    api = client.ApiClient()
    if user_agent:
        api.user_agent = user_agent
    return api


def current_namespace() -> str:
    """The kubeconfig context's namespace, else default (what kubectl would use)."""
    try:
        _, active = config.list_kube_config_contexts()
        return cast(str, active.get("context", {}).get("namespace") or "default")
    except (config.ConfigException, FileNotFoundError, TypeError):
        return "default"


@dataclass
class CustomResources:
    """Get and merge-patch one kind of modelops resource."""

    api: client.ApiClient
    info: KindInfo

    def _custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    def get(self, namespace: str, name: str) -> dict[str, Any]:
        try:
            obj = self._custom().get_namespaced_custom_object(GROUP, VERSION, namespace, self.info.plural, name)
        except ApiException as error:
            if error.status == 404:
                raise NotFoundError(f"{self.info.kind} {namespace}/{name} not found") from error
            raise
        return cast(dict[str, Any], obj)

    def patch_spec(self, namespace: str, name: str, spec_patch: dict[str, Any]) -> dict[str, Any]:
        body = {"spec": spec_patch}
        obj = self._custom().patch_namespaced_custom_object(GROUP, VERSION, namespace, self.info.plural, name, body)
        return cast(dict[str, Any], obj)

    def list(self, namespace: str | None) -> list[dict[str, Any]]:
        """Every object of the kind in a namespace, or in all namespaces when `namespace` is None."""
        custom, plural = self._custom(), self.info.plural
        if namespace is None:
            found = custom.list_cluster_custom_object(GROUP, VERSION, plural)
        else:
            found = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, plural)
        return cast(list[dict[str, Any]], cast(dict[str, Any], found).get("items") or [])

    def watch(
        self, namespace: str, name: str, *, resource_version: str | None, timeout_seconds: int
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """(event type, object) for one object, from `resource_version` on (None: start with its
        current state as ADDED); ends after `timeout_seconds` (the server closes the watch).
        A version too old to resume from (HTTP 410 Gone) ends it with one ("ERROR", {}): start
        again from None."""
        stream = watch.Watch().stream(
            self._custom().list_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            self.info.plural,
            field_selector=f"metadata.name={name}",
            resource_version=resource_version,
            timeout_seconds=max(1, timeout_seconds),
            allow_watch_bookmarks=False,
        )
        try:
            for event in stream:
                yield str(event["type"]), cast(dict[str, Any], event["object"])
        except ApiException as error:
            if error.status != 410:
                raise
            yield "ERROR", {}
