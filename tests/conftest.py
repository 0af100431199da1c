"""Shared fixtures: one real dev cluster per session, and throwaway Prometheus servers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from modelops.devcluster import build
from modelops.devcluster.cluster import DevCluster
from modelops.devcluster.prometheus import PrometheusServer


@pytest.fixture(scope="session")
def cluster() -> Iterator[DevCluster]:
    """A running control plane + kwok node, shared by the whole session (startup costs seconds)."""
    if build.missing():
        build.build()  # ~20 min cold, then cached outside the repo
    with DevCluster() as dev:
        yield dev


@pytest.fixture
def prometheus_factory() -> Iterator[Callable[[dict[str, Any] | str], PrometheusServer]]:
    """Start Prometheus servers on demand; all of them stop when the test ends."""
    servers: list[PrometheusServer] = []

    def start(config: dict[str, Any] | str) -> PrometheusServer:
        server = PrometheusServer(config)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()
