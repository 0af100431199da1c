"""The krew manifest of the kubectl plugin (plugins/krew/modelops.yaml), checked structurally,
and its archive rebuilt byte for byte (plugins/krew/package.py) to match the manifest's sha256.

The rules are krew's (https://krew.sigs.k8s.io/docs/developer-guide/plugin-manifest/ and
sigs.k8s.io/krew pkg/index/validation): name, semantic version with a leading v, https
URIs, 64-hex sha256, `bin` among the extracted files, a selector per platform.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import stat
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
KREW = REPO / "plugins" / "krew"
MANIFEST = KREW / "modelops.yaml"
SEMVER = re.compile(r"^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")
NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")  # krew: lowercase words joined by dashes
KNOWN_FIELDS = {
    "spec": {"version", "homepage", "shortDescription", "description", "caveats", "platforms"},
    "platform": {"selector", "uri", "sha256", "bin", "files"},
}


def package() -> ModuleType:
    spec = importlib.util.spec_from_file_location("krew_package", KREW / "package.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(MANIFEST.read_text())
    return loaded


def test_manifest_header_and_spec(manifest: dict[str, Any]) -> None:
    assert manifest["apiVersion"] == "krew.googlecontainertools.github.com/v1alpha2"
    assert manifest["kind"] == "Plugin"
    assert set(manifest["metadata"]) == {"name"}
    name = manifest["metadata"]["name"]
    assert NAME.match(name) and name == "modelops"  # `kubectl modelops`
    spec = manifest["spec"]
    assert set(spec) <= KNOWN_FIELDS["spec"], set(spec) - KNOWN_FIELDS["spec"]
    assert SEMVER.match(spec["version"]), spec["version"]
    assert spec["homepage"].startswith("https://")
    assert 0 < len(spec["shortDescription"]) <= 50  # krew-index asks for a short one-liner
    assert "\n" not in spec["shortDescription"]
    assert spec["description"].strip() and spec["caveats"].strip()
    assert "pip install modelops-operator" in spec["caveats"]


def test_versions_agree(manifest: dict[str, Any]) -> None:
    """One release: the manifest, the archive, the Python package and the chart's appVersion."""
    version = manifest["spec"]["version"]
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    chart = yaml.safe_load((REPO / "charts" / "modelops-operator" / "Chart.yaml").read_text())
    assert version == package().VERSION == f"v{chart['appVersion']}"
    assert project.get("version", chart["appVersion"]) == chart["appVersion"]
    assert "kubectl-modelops" in project["scripts"]


def test_platforms(manifest: dict[str, Any]) -> None:
    platforms = manifest["spec"]["platforms"]
    seen = set()
    for platform in platforms:
        assert set(platform) <= KNOWN_FIELDS["platform"], set(platform) - KNOWN_FIELDS["platform"]
        labels = platform["selector"]["matchLabels"]
        assert set(labels) == {"os", "arch"}
        assert labels["os"] in {"linux", "darwin"}  # a POSIX sh script: no Windows build
        assert labels["arch"] in {"amd64", "arm64"}
        seen.add((labels["os"], labels["arch"]))
        assert platform["uri"].startswith("https://")
        assert platform["uri"].endswith("/" + package().ARCHIVE)
        assert f"/{manifest['spec']['version']}/" in platform["uri"]
        assert re.fullmatch(r"[0-9a-f]{64}", platform["sha256"])
        assert platform["bin"] == "kubectl-modelops"  # no .exe, no path
        for entry in platform["files"]:
            assert set(entry) == {"from", "to"}
            assert not Path(entry["to"]).is_absolute() and ".." not in Path(entry["to"]).parts
    assert seen == {(os_, arch) for os_ in ("linux", "darwin") for arch in ("amd64", "arm64")}
    assert len(seen) == len(platforms)  # no two platforms with the same selector


def test_archive_is_reproducible_and_matches_the_manifest(manifest: dict[str, Any], tmp_path: Path) -> None:
    build = package()
    first = build.build(tmp_path / "a")
    second = build.build(tmp_path / "b")
    assert first.read_bytes() == second.read_bytes()
    digest = build.sha256(first)
    assert {p["sha256"] for p in manifest["spec"]["platforms"]} == {digest}, (
        "the archive changed: run `python plugins/krew/package.py` and put its sha256 in plugins/krew/modelops.yaml"
    )
    with zipfile.ZipFile(first) as archive:
        members = {info.filename: info for info in archive.infolist()}
        for platform in manifest["spec"]["platforms"]:
            for entry in platform["files"]:
                assert entry["from"] in members, f"{entry['from']} is not in the archive"
            binary = members[platform["bin"]]  # files land at the root ("to: .")
            assert stat.S_IMODE(binary.external_attr >> 16) == 0o755


def test_shim_runs_the_plugin(tmp_path: Path) -> None:
    """The archived script finds the plugin in the Python package (here: this checkout's venv)."""
    env = {"PATH": "/usr/bin:/bin", "MODELOPS_PYTHON": sys.executable}
    done = subprocess.run(
        [str(KREW / "kubectl-modelops"), "--help"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "usage: kubectl modelops" in done.stdout and "list" in done.stdout
    missing = subprocess.run(
        [str(KREW / "kubectl-modelops"), "list"],
        env={"PATH": "/usr/bin:/bin", "MODELOPS_PYTHON": str(tmp_path / "nope")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert missing.returncode == 127 and "not found" in missing.stderr


@pytest.mark.integration
def test_krew_itself_installs_the_manifest(tmp_path: Path) -> None:
    """krew's own validation, checksum and install, offline (--archive): needs a krew binary,
    named by MODELOPS_KREW (e.g. built with `go build sigs.k8s.io/krew/cmd/krew` at v0.4.3)."""
    krew = os.environ.get("MODELOPS_KREW") or shutil.which("kubectl-krew")
    if not krew:
        pytest.skip("no krew binary: set MODELOPS_KREW to one")
    archive = package().build(tmp_path / "dist")
    # krew needs no network with --manifest and --archive; a dead loopback proxy makes sure of it
    dead = "http://127.0.0.1:9"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "KREW_ROOT": str(tmp_path / "krew")}
    env |= {"HTTPS_PROXY": dead, "HTTP_PROXY": dead, "https_proxy": dead, "http_proxy": dead}
    command = [krew, "install", f"--manifest={MANIFEST}", f"--archive={archive}"]
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=120, check=False, stdin=subprocess.DEVNULL
    )
    assert done.returncode == 0, done.stderr
    assert "Installed plugin: modelops" in done.stderr + done.stdout
    installed = tmp_path / "krew" / "bin" / "kubectl-modelops"
    run = subprocess.run(
        [str(installed), "--help"],
        env={"PATH": "/usr/bin:/bin", "MODELOPS_PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0 and "usage: kubectl modelops" in run.stdout, run.stderr
