"""Shared fixtures: one real dev cluster per session, and throwaway Prometheus servers.

The unit tier (`pytest -m "not integration"`) never builds the control-plane binaries: a test
that needs them (through a fixture below or `build.build()`) must be marked integration, and
an unmarked one fails at collection or when it calls the build, instead of starting a
20-minute compile.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from modelops_devcluster import build
from modelops_devcluster.cluster import DevCluster
from modelops_devcluster.prometheus import PrometheusServer

# Property tests judge results, not speed (bench/ measures speed): Hypothesis's default 200 ms
# deadline per example failed a telemetry property test on a loaded 2-core machine.
settings.register_profile("modelops", deadline=None)
settings.load_profile("modelops")

# fixtures that run the built control plane, Prometheus, or the built helm (tests/chart)
INTEGRATION_FIXTURES = frozenset({"cluster", "prometheus_factory", "helm"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    unmarked = []
    for item in items:
        needs = INTEGRATION_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        if needs and item.get_closest_marker("integration") is None:
            unmarked.append(f"{item.nodeid} (uses {', '.join(sorted(needs))})")
    if unmarked:
        listed = "\n  ".join(unmarked)
        raise pytest.UsageError(f"tests that need built binaries or Prometheus must be marked integration:\n  {listed}")


def _refuse_build(force: bool = False) -> Path:
    raise AssertionError("a unit test asked for the control-plane binaries: mark it integration")


@pytest.fixture(autouse=True)
def _unit_tier_builds_nothing(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside the integration tier, `build.build()` fails instead of compiling (~20 min cold)."""
    if request.node.get_closest_marker("integration") is None:
        monkeypatch.setattr(build, "build", _refuse_build)


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
