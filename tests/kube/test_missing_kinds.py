"""A kind the cluster does not serve is looked up once a minute, not on every call: each miss makes the
dynamic client rediscover the whole API."""

from __future__ import annotations

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
    assert dynamic.resources.lookups == 3
