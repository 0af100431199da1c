"""The data plane as a kubelet, on the real control plane: Ready follows the real server, and a
deleted pod drains (NotReady, preStop sleep while it still answers, SIGTERM) before it goes.

The pod is the serving Deployment exactly as the operator renders it (fetch init container,
readiness probe every 2 s, preStop sleep 5 s, grace period 20 s), minus its owner reference.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from modelops.api.names import Owner
from modelops.api.v1alpha1 import ModelDeploymentSpec
from modelops.render.serving import DRAIN_SECONDS, VersionPlan, deployment
from modelops.train.trainer import Settings, train
from modelops_devcluster.cluster import DevCluster
from modelops_devcluster.dataplane import DataPlane
from modelops_devcluster.kwok import DATAPLANE_FINALIZER

pytestmark = pytest.mark.integration
NS = "kubelet-tests"


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    out = tmp_path_factory.mktemp("model")
    result = train(Settings(data="synthetic://?rows=2000&seed=1", out=out, model="k", version="v1", seed=1))
    return f"file://{out / 'model.npz'}", str(result["sha256"])


@pytest.fixture(scope="module")
def dataplane(cluster: DevCluster) -> Iterator[DataPlane]:
    cluster.kubectl("create", "namespace", NS)
    dp = DataPlane(cluster, [NS]).start()
    try:
        yield dp
    finally:
        dp.stop()
        # nothing is left behind our finalizer: the namespace can go
        _, pods = cluster.api("GET", f"/api/v1/namespaces/{NS}/pods")
        stuck = [
            p["metadata"]["name"] for p in pods["items"] if DATAPLANE_FINALIZER in p["metadata"].get("finalizers", [])
        ]
        cluster.kubectl("delete", "namespace", NS, "--wait=false")
        assert not stuck, stuck


def _pods(cluster: DevCluster) -> list[dict[str, Any]]:
    _, body = cluster.api("GET", f"/api/v1/namespaces/{NS}/pods")
    return list(body["items"])


def _ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))


def _answers(ip: str) -> bool:
    try:
        return httpx.get(f"http://{ip}:8080/v2/health/ready", timeout=0.5, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


def _apply(cluster: DevCluster, uri: str, sha: str) -> None:
    spec = ModelDeploymentSpec.model_validate({"model": {"name": "k", "version": "v1", "uri": uri, "sha256": sha}})
    body = deployment(
        Owner("k", NS, "none"),
        spec,
        VersionPlan("v1", uri, sha, 1, 1.0, "stable"),
        serving_image="ghcr.io/modelops/modelops:0.1.0",
    )
    del body["metadata"]["ownerReferences"]  # no ModelDeployment here: the garbage collector would take it
    cluster.kubectl("apply", "-n", NS, "-f", "-", input=json.dumps(body))


def _until_running(cluster: DevCluster, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        live = [p for p in _pods(cluster) if not p["metadata"].get("deletionTimestamp")]
        if live and live[0]["status"].get("phase") == "Running" and live[0]["status"].get("podIP"):
            return live[0]
        time.sleep(0.1)
    raise AssertionError(f"no Running pod within {timeout}s: {_pods(cluster)}")


def _watch_until_ready(cluster: DevCluster, name: str, ip: str, timeout: float = 40) -> tuple[list[bool], float, float]:
    """(Ready as seen before it turned True, when the server first answered, when the pod turned Ready)."""
    seen: list[bool] = []
    first_answer = first_ready = 0.0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not first_ready:
        now = time.monotonic()
        if not first_answer and _answers(ip):
            first_answer = now
        pod = next(p for p in _pods(cluster) if p["metadata"]["name"] == name)
        if _ready(pod):
            first_ready = now
        else:
            seen.append(False)
        time.sleep(0.1)
    assert first_ready, f"{name} not Ready within {timeout}s"
    return seen, first_answer, first_ready


def test_ready_follows_the_server_and_a_deleted_pod_drains(
    cluster: DevCluster, dataplane: DataPlane, model: tuple[str, str]
) -> None:
    _apply(cluster, *model)
    pod = _until_running(cluster)
    name, ip = pod["metadata"]["name"], pod["status"]["podIP"]
    assert not _ready(pod)  # kwok left it NotReady: it declares a readiness probe
    seen, first_answer, first_ready = _watch_until_ready(cluster, name, ip)
    assert seen and first_answer and first_ready >= first_answer - 0.2, (first_answer, first_ready)
    assert (
        DATAPLANE_FINALIZER
        in next(p for p in _pods(cluster) if p["metadata"]["name"] == name)["metadata"]["finalizers"]
    )

    # the process dies: NotReady, not restarted
    local = dataplane.status(name)
    assert local is not None and local.pid is not None
    os.killpg(local.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while _ready(next(p for p in _pods(cluster) if p["metadata"]["name"] == name)):
        assert time.monotonic() < deadline, "still Ready 10 s after its server died"
        time.sleep(0.1)

    # deleting the dead pod: nothing to drain, it goes at once; its replacement turns Ready
    cluster.kubectl("delete", "pod", "-n", NS, name, "--wait=false")
    pod = _until_running(cluster)
    name, ip = pod["metadata"]["name"], pod["status"]["podIP"]
    _watch_until_ready(cluster, name, ip)

    # deleting a serving pod: NotReady at once, answers through its preStop sleep, then removed
    deleted = time.monotonic()
    cluster.kubectl("delete", "pod", "-n", NS, name, "--wait=false")
    answered, not_ready_at, gone_at = 0, 0.0, 0.0
    while time.monotonic() - deleted < 30 and not gone_at:
        now = time.monotonic() - deleted
        current = [p for p in _pods(cluster) if p["metadata"]["name"] == name]
        if not current:
            gone_at = now
            break
        if not not_ready_at and not _ready(current[0]):
            not_ready_at = now
        if now < DRAIN_SECONDS - 1:
            assert _answers(ip), f"{name} stopped answering {now:.1f}s into its {DRAIN_SECONDS}s preStop sleep"
            answered += 1
        time.sleep(0.1)
    assert 0 < not_ready_at < 1.5, not_ready_at
    assert answered >= 10
    assert DRAIN_SECONDS <= gone_at < DRAIN_SECONDS + 8, gone_at  # preStop, SIGTERM, a quick exit, then kwok
    assert not _answers(ip)
    assert not any(p.name == name for p in dataplane.pods())
