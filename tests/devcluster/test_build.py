"""The build recipe, without building: go.mod shape, staging versions, cache location."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from modelops_devcluster import alertmanager, build, cosign, gotools, oci, versions

REPO = Path(__file__).resolve().parents[2]


def test_gomod_requires_kubernetes_and_pins_staging_modules() -> None:
    staging = ["k8s.io/api", "k8s.io/apiserver", "k8s.io/client-go"]
    lines = build._gomod("1.26.0", staging).splitlines()
    assert "go 1.26.0" in lines
    assert "\tk8s.io/kubernetes v1.36.3" in lines
    for module in staging:
        assert f"\t{module} => {module} v0.36.3" in lines
    tools = [line for line in lines if line.startswith("tool ")]
    assert tools == [f"tool k8s.io/kubernetes/cmd/{c}" for c in build.KUBE_COMMANDS]


def test_staging_version_maps_minor_and_patch() -> None:
    assert versions.staging_version("v1.36.3") == "v0.36.3"


def test_bin_dir_honours_modelops_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MODELOPS_CACHE", str(tmp_path))
    d = build.bin_dir()
    assert d.is_relative_to(tmp_path)
    assert versions.KUBERNETES in d.name
    assert build.missing(d) == list(build.BINARIES)


def test_default_bin_dir_is_outside_the_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODELOPS_CACHE", raising=False)
    assert not build.bin_dir().resolve().is_relative_to(REPO)


def test_go_tools_are_cached_outside_the_repo_keyed_by_their_sources(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MODELOPS_CACHE", str(tmp_path))
    for name in ("kstatus-check", "argocd-lua"):
        path = gotools.binary(name)
        assert path.is_relative_to(tmp_path) and path.name == name
        source = gotools.source_dir(name)
        assert source.is_relative_to(REPO / "tools")  # committed source with go.mod and go.sum, binary never
        assert (source / "go.mod").is_file() and (source / "go.sum").is_file()
        assert not list(source.rglob(name))
    kstatus = (gotools.source_dir("kstatus-check") / "main.go").read_text()
    assert '"sigs.k8s.io/cli-utils/pkg/kstatus/status"' in kstatus and "status.Compute(" in kstatus
    assert "sigs.k8s.io/cli-utils v" in (gotools.source_dir("kstatus-check") / "go.mod").read_text()


def test_an_edited_tool_gets_a_new_cache_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    tool = tmp_path / "tools" / "t"
    tool.mkdir(parents=True)
    (tool / "main.go").write_text("package main\n")
    monkeypatch.setattr(gotools, "source_dir", lambda name: tmp_path / "tools" / name)
    before = gotools.binary("t")
    (tool / "main.go").write_text("package main\n\nfunc main() {}\n")
    assert gotools.binary("t") != before and gotools.binary("t").name == "t"


def test_an_upstream_module_is_cached_by_name_and_version(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MODELOPS_CACHE", str(tmp_path))
    spec = alertmanager.module("v0.35.0")
    assert spec.binary() == tmp_path / "bin" / "alertmanager-v0.35.0" / "alertmanager"
    assert "version.Version=0.35.0" in spec.ldflags and spec.package == "./cmd/alertmanager"
    source = tmp_path / "src"
    assert spec.prepare is not None
    spec.prepare(source)  # the web UI the proxy's copy lacks, as a placeholder page
    assert (source / "ui" / "app" / "dist" / "mantine" / "index.html").is_file()


def test_a_cached_binary_is_not_rebuilt(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MODELOPS_CACHE", str(tmp_path))
    spec = gotools.Module(name="x", module="example.com/x", version="v1.0.0", package="./cmd/x")
    spec.binary().parent.mkdir(parents=True)
    spec.binary().write_text("#!/bin/sh\n")
    spec.binary().chmod(0o755)
    monkeypatch.setattr(gotools.subprocess, "run", lambda *a, **k: pytest.fail("ran go"))
    assert gotools.build_module(spec) == spec.binary()


def test_make_cluster_binaries_builds_the_go_tools_too(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def recorder(what: str) -> Callable[..., Path]:
        def record(*args: object, **kwargs: object) -> Path:
            calls.append(f"{what}{args}")
            return Path("/x")

        return record

    monkeypatch.setattr(build, "build", recorder("control plane"))
    monkeypatch.setattr(gotools, "build", recorder("tool"))
    monkeypatch.setattr(alertmanager, "build", recorder("alertmanager"))
    monkeypatch.setattr(oci, "build_registry", recorder("registry"))
    monkeypatch.setattr(oci, "build_oras", recorder("oras"))
    monkeypatch.setattr(cosign, "build", recorder("cosign"))  # unstubbed, a unit run built cosign for real
    assert build.main([]) == 0
    tools = ["tool('kstatus-check',)", "tool('argocd-lua',)"]
    assert calls == ["control plane()", *tools, "registry()", "oras()", "alertmanager()", "cosign()"]


def test_a_second_build_of_the_same_binary_waits_and_finds_it_cached(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Two worktrees' test runs asked for the same module at once: both built it into one .partial
    file and one of them failed on the rename. Now the second waits for the lock, then finds it."""
    monkeypatch.setenv("MODELOPS_CACHE", str(tmp_path))
    monkeypatch.setattr(gotools.shutil, "which", lambda name: "/usr/bin/go")
    spec = gotools.Module(name="x", module="example.com/x", version="v1.0.0", package="./cmd/x")
    builds: list[int] = []
    inside = threading.Event()

    def fake_build(spec: gotools.Module, out: Path, timeout: float) -> None:
        builds.append(1)
        inside.set()
        time.sleep(0.3)  # the other caller arrives meanwhile
        out.write_text("#!/bin/sh\n")
        out.chmod(0o755)

    monkeypatch.setattr(gotools, "_build_module", fake_build)
    first = threading.Thread(target=gotools.build_module, args=(spec,))
    first.start()
    assert inside.wait(5)
    assert gotools.build_module(spec) == spec.binary()  # blocked on the lock until the first finished
    first.join(5)
    assert builds == [1]


def test_the_registry_and_oras_are_upstream_modules_keyed_by_version(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MODELOPS_CACHE", str(tmp_path))
    registry, oras = oci.registry_module("v3.1.2"), oci.oras_module("v1.3.6")
    assert registry.binary() == tmp_path / "bin" / "registry-v3.1.2" / "registry"
    assert (registry.module, registry.package) == ("github.com/distribution/distribution/v3", "./cmd/registry")
    assert oras.binary() == tmp_path / "bin" / "oras-v1.3.6" / "oras"
    assert (oras.module, oras.package) == ("oras.land/oras", "./cmd/oras") and "Version=1.3.6" in oras.ldflags
