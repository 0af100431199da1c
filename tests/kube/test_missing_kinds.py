"""A kind the cluster does not serve is looked up once a minute, not on every call: each miss makes the
dynamic client rediscover the whole API."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from kubernetes import client
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from modelops.kube import KindNotInstalled
from modelops.kube import resources as kube_resources
from modelops.kube.resources import ClusterKube


class Resources:
    def __init__(self) -> None:
        self.lookups = 0
        self.served = False

    def get(self, **_: Any) -> object:
        self.lookups += 1
        if not self.served:
            raise ResourceNotFoundError("No matches found")
        return object()


class Dynamic:
    def __init__(self) -> None:
        self.resources = Resources()


def test_a_missing_kind_is_remembered_for_a_while(monkeypatch: pytest.MonkeyPatch) -> None:
    kube = ClusterKube(client.ApiClient())
    dynamic = Dynamic()
    kube._dynamic = dynamic  # type: ignore[assignment]
    now = [1000.0]
    monkeypatch.setattr(kube_resources.time, "monotonic", lambda: now[0])
    for _ in range(5):
        with pytest.raises(KindNotInstalled, match="is not served by this cluster"):
            kube._resource("monitoring.coreos.com/v1", "PrometheusRule")
    assert dynamic.resources.lookups == 1
    dynamic.resources.served = True  # the CRD is installed
    now[0] += kube_resources.MISSING_KIND_SECONDS
    assert kube._resource("monitoring.coreos.com/v1", "PrometheusRule") is not None
    assert kube._resource("monitoring.coreos.com/v1", "PrometheusRule") is not None
    assert dynamic.resources.lookups == 2  # a kind once found is not looked up again


class Unsafe(Resources):
    """The dynamic client's discovery: a lookup while another runs reads a cache being emptied."""

    def __init__(self) -> None:
        super().__init__()
        self.inside = 0
        self.overlaps = 0

    def get(self, **kwargs: Any) -> object:
        self.inside += 1
        self.overlaps += self.inside > 1
        time.sleep(0.002)
        try:
            return super().get(**kwargs)
        finally:
            self.inside -= 1


def test_lookups_from_worker_threads_never_overlap() -> None:
    kube = ClusterKube(client.ApiClient())
    dynamic = Dynamic()
    dynamic.resources = Unsafe()
    dynamic.resources.served = True
    kube._dynamic = dynamic  # type: ignore[assignment]
    kinds = [("v1", f"Kind{i % 8}") for i in range(64)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        found = list(pool.map(lambda k: kube._resource(*k), kinds))
    assert all(f is not None for f in found)
    assert dynamic.resources.overlaps == 0 and dynamic.resources.lookups == 8
