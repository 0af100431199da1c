"""The build recipe, without building: go.mod shape, staging versions, cache location."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from modelops_devcluster import build, versions

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


def test_kstatus_check_is_cached_outside_the_repo_keyed_by_version_and_source(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MODELOPS_CACHE", str(tmp_path))
    path = build.kstatus_check_path()
    assert path.is_relative_to(tmp_path) and path.name == "kstatus-check"
    assert f"cli-utils-{versions.CLI_UTILS}" in path.parent.name
    monkeypatch.delenv("MODELOPS_CACHE", raising=False)
    assert not build.kstatus_check_path().resolve().is_relative_to(REPO)
    source = build.KSTATUS_SOURCE.read_text()
    assert build.KSTATUS_SOURCE.is_relative_to(REPO / "devcluster")  # committed source, binary never
    assert '"sigs.k8s.io/cli-utils/pkg/kstatus/status"' in source and "status.Compute(" in source
    assert not list((REPO / "devcluster").rglob("kstatus-check"))


def test_make_cluster_binaries_builds_kstatus_check_too(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def recorder(what: str) -> Callable[..., Path]:
        def record(force: bool = False) -> Path:
            calls.append(what)
            return Path("/x")

        return record

    monkeypatch.setattr(build, "build", recorder("control plane"))
    monkeypatch.setattr(build, "kstatus_check", recorder("kstatus-check"))
    assert build.main([]) == 0
    assert calls == ["control plane", "kstatus-check"]
