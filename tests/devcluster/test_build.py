"""The build recipe, without building: go.mod shape, staging versions, cache location."""

from __future__ import annotations

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
