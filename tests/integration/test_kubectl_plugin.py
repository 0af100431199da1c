"""`kubectl modelops status|list` against the real API server, installed as kubectl sees plugins."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from modelops_devcluster import objects

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_status_through_kubectl_plugin_discovery(cluster: Any, tmp_path: Path) -> None:
    objects.install_crds(cluster)
    cluster.kubectl("create", "namespace", "plugin", check=False)
    cluster.kubectl(
        "apply", "-n", "plugin", "--server-side", "-f", str(ROOT / "examples" / "quickstart" / "modeldeployment.yaml")
    )
    # kubectl finds `kubectl-modelops` on PATH, the way `pip install` places the console script
    plugin = tmp_path / "kubectl-modelops"
    plugin.write_text(f"#!{sys.executable}\nfrom modelops.cli.kubectl_plugin import main\nraise SystemExit(main())\n")
    plugin.chmod(0o755)
    env = {**cluster.env, "PATH": f"{tmp_path}{os.pathsep}{cluster.env['PATH']}"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(ROOT / "operator"), env.get("PYTHONPATH", "")] if p)
    kubectl = shutil.which("kubectl", path=env["PATH"])
    assert kubectl
    out = subprocess.run(
        [kubectl, "modelops", "-n", "plugin", "status", "fraud"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "ModelDeployment plugin/fraud" in out
    as_json = subprocess.run(
        [kubectl, "modelops", "-n", "plugin", "status", "fraud", "-o", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    json.loads(as_json)
    missing = subprocess.run(
        [kubectl, "modelops", "-n", "plugin", "status", "nope"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert missing.returncode == 1 and "ModelDeployment plugin/nope not found" in missing.stderr


def plugin_env(cluster: Any, tmp_path: Path) -> tuple[str, dict[str, str]]:
    """(kubectl, env) with `kubectl-modelops` on PATH, as `pip install` places the console script."""
    plugin = tmp_path / "kubectl-modelops"
    plugin.write_text(f"#!{sys.executable}\nfrom modelops.cli.kubectl_plugin import main\nraise SystemExit(main())\n")
    plugin.chmod(0o755)
    env = {**cluster.env, "PATH": f"{tmp_path}{os.pathsep}{cluster.env['PATH']}"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(ROOT / "operator"), env.get("PYTHONPATH", "")] if p)
    kubectl = shutil.which("kubectl", path=env["PATH"])
    assert kubectl
    return kubectl, env


def patch_status(cluster: Any, namespace: str, name: str, status: dict[str, Any]) -> None:
    """Write a status the way the operator does (merge patch of the status subresource)."""
    path = f"/apis/modelops.dev/v1alpha1/namespaces/{namespace}/modeldeployments/{name}/status"
    code, body = cluster.api("PATCH", path, {"status": status}, content_type="application/merge-patch+json")
    assert code == 200, body


def test_list_in_a_namespace_and_across_all(cluster: Any, tmp_path: Path) -> None:
    objects.install_crds(cluster)
    for namespace in ("plugin-list-a", "plugin-list-b"):
        cluster.kubectl("create", "namespace", namespace, check=False)
        cluster.kubectl(
            "apply",
            "-n",
            namespace,
            "--server-side",
            "-f",
            str(ROOT / "examples" / "quickstart" / "modeldeployment.yaml"),
        )
    patch_status(
        cluster,
        "plugin-list-b",
        "fraud",
        {
            "observedGeneration": 1,
            "phase": "Progressing",
            "stable": {"version": "v1", "replicas": 3, "readyReplicas": 3},
            "canary": {"version": "v2", "replicas": 1, "readyReplicas": 1},
            "canaryWeight": 25,
        },
    )
    kubectl, env = plugin_env(cluster, tmp_path)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [kubectl, "modelops", *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)

    one = run("-n", "plugin-list-b", "list")
    assert one.returncode == 0, one.stderr
    header, *rows = one.stdout.splitlines()
    assert header.split()[:2] == ["NAME", "PHASE"]
    assert [r.split()[:6] for r in rows] == [["fraud", "Progressing", "v1", "v2", "25%", "4/4"]]

    everywhere = run("list", "-A")
    assert everywhere.returncode == 0, everywhere.stderr
    header, *rows, footnote = everywhere.stdout.splitlines()
    assert header.split()[:2] == ["NAMESPACE", "NAME"]
    assert footnote.startswith("* the operator has not acted")  # plugin-list-a/fraud: no status yet
    listed = [r.split()[:2] for r in rows]
    assert ["plugin-list-a", "fraud"] in listed and ["plugin-list-b", "fraud"] in listed
    assert listed == sorted(listed)

    as_json = json.loads(run("list", "-A", "-o", "json").stdout)
    assert {(r["namespace"], r["name"]) for r in as_json} >= {("plugin-list-a", "fraud"), ("plugin-list-b", "fraud")}

    cluster.kubectl("create", "namespace", "plugin-list-empty", check=False)
    empty = run("-n", "plugin-list-empty", "list")
    assert empty.returncode == 0 and empty.stdout == ""
    assert "No ModelDeployments found in namespace plugin-list-empty." in empty.stderr


def test_status_watch_prints_each_change_and_stops_on_ctrl_c(cluster: Any, tmp_path: Path) -> None:
    objects.install_crds(cluster)
    namespace = "plugin-watch"
    cluster.kubectl("create", "namespace", namespace, check=False)
    cluster.kubectl(
        "apply", "-n", namespace, "--server-side", "-f", str(ROOT / "examples" / "quickstart" / "modeldeployment.yaml")
    )
    patch_status(cluster, namespace, "fraud", {"phase": "Pending"})
    kubectl, env = plugin_env(cluster, tmp_path)
    command = [kubectl, "modelops", "-n", namespace, "status", "fraud", "--watch", "--timeout", "60s"]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    seen: list[str] = []

    def wait_for(text: str, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while not any(text in line for line in seen):
            assert time.monotonic() < deadline, f"{text!r} not printed in {seconds} s; got:\n{''.join(seen)}"
            try:
                seen.append(lines.get(timeout=0.5))
            except queue.Empty:
                assert proc.poll() is None, f"the watch ended early: {proc.returncode}\n{''.join(seen)}"

    try:
        wait_for("Phase:    Pending")
        frames_before = sum(line.startswith("--- ") for line in seen)
        patch_status(cluster, namespace, "fraud", {"phase": "Progressing", "canaryWeight": 10})
        wait_for("Phase:    Progressing")
        assert sum(line.startswith("--- ") for line in seen) == frames_before + 1
        patch_status(cluster, namespace, "fraud", {"phase": "Available"})
        wait_for("Phase:    Available")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.stderr is not None
    assert "Traceback" not in proc.stderr.read()


def test_status_watch_stops_at_its_timeout(cluster: Any, tmp_path: Path) -> None:
    objects.install_crds(cluster)
    namespace = "plugin-watch-timeout"
    cluster.kubectl("create", "namespace", namespace, check=False)
    cluster.kubectl(
        "apply", "-n", namespace, "--server-side", "-f", str(ROOT / "examples" / "quickstart" / "modeldeployment.yaml")
    )
    kubectl, env = plugin_env(cluster, tmp_path)
    started = time.monotonic()
    done = subprocess.run(
        [kubectl, "modelops", "-n", namespace, "status", "fraud", "-w", "--timeout", "3s"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert 3 <= time.monotonic() - started < 30
    assert done.stdout.count("--- ") == 1  # nothing changed: one frame
