"""The dev cluster is a real control plane: real version, real scheduling, loopback-only pods."""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelops_devcluster import build
from modelops_devcluster.cluster import DevCluster
from modelops_devcluster.procs import keep_workdirs

pytestmark = pytest.mark.integration

LOOPBACK_NET = ipaddress.ip_network("127.0.0.0/8")


def _json(cluster: DevCluster, *args: str) -> Any:
    return json.loads(cluster.kubectl(*args, "-o", "json").stdout)


@pytest.fixture
def namespace(cluster: DevCluster) -> Iterator[str]:
    name = f"devcluster-test-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false")


def test_server_version_and_node_ready(cluster: DevCluster) -> None:
    version = json.loads(cluster.kubectl("version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"] == "v1.36.3"

    node = _json(cluster, "get", "node", cluster.node_name)
    ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"]
    assert ready == "True"
    assert node["metadata"]["labels"]["type"] == "kwok"
    assert node["spec"]["podCIDR"] == cluster.pod_cidr


def _deployment(name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                # kwok never pulls or runs the image
                "spec": {"containers": [{"name": "server", "image": "registry.example/modelops:dev"}]},
            },
        },
    }


def test_deployment_pods_run_on_kwok_with_loopback_ips(cluster: DevCluster, namespace: str) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(_deployment("web", 2)))
    cluster.kubectl("rollout", "status", "-n", namespace, "deployment/web", "--timeout=60s", timeout=90)

    pods = _json(cluster, "get", "pods", "-n", namespace, "-l", "app=web")["items"]
    assert len(pods) == 2
    pod_cidr = ipaddress.ip_network(cluster.pod_cidr)
    ips = set()
    for pod in pods:
        assert pod["spec"]["nodeName"] == cluster.node_name  # bound by the real scheduler
        assert pod["status"]["phase"] == "Running"
        conditions = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
        assert conditions["Ready"] == "True"
        ip = ipaddress.ip_address(pod["status"]["podIP"])
        assert ip in LOOPBACK_NET
        assert ip in pod_cidr
        ips.add(ip)
    assert len(ips) == 2


def _cmdlines_mentioning(text: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # exited while we looked
            continue
        if text in cmdline:
            found.append(f"{proc.name}: {cmdline}")
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_stop_leaves_no_processes_behind() -> None:
    if build.missing():
        build.build()
    dev = DevCluster().start()
    pids, workdir = dev.pids, dev.workdir
    assert set(pids) == {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}
    assert all(_alive(pid) for pid in pids.values())

    dev.stop()

    assert [name for name, pid in pids.items() if _alive(pid)] == []
    assert _cmdlines_mentioning(str(workdir)) == []
    if not keep_workdirs():
        assert not workdir.exists()


def test_cli_up_tears_down_on_sigterm() -> None:
    if build.missing():
        build.build()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    cli = subprocess.Popen(
        [sys.executable, "-m", "modelops_devcluster", "up"], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert cli.stdout is not None
        lines = [cli.stdout.readline() for _ in range(2)]  # blocks until the cluster is up
        exports = [line for line in lines if line.startswith("export KUBECONFIG=")]
        assert exports, lines
        workdir = str(Path(exports[0].split("=", 1)[1].strip()).parent)
        cli.send_signal(signal.SIGTERM)
        assert cli.wait(timeout=30) == 0
    finally:
        cli.kill()
        cli.wait()
    assert _cmdlines_mentioning(workdir) == []
    if not keep_workdirs():
        assert not Path(workdir).exists()
