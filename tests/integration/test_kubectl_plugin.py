"""`kubectl modelops status` against the real API server, installed as kubectl sees plugins."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
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
