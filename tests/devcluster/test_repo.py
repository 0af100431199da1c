"""The dev stack finds the checkout by its marker files, not by a fixed depth below it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from modelops_devcluster import repo

REPO = Path(__file__).resolve().parents[2]


def _checkout(root: Path) -> Path:
    for marker in repo.MARKERS:
        (root / marker).parent.mkdir(parents=True, exist_ok=True)
        (root / marker).write_text("")
    return root


def test_finds_this_checkout_from_the_package_and_from_the_working_directory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert repo.find_root() == REPO
    assert repo.crds_dir() == REPO / "crds"
    monkeypatch.chdir(REPO / "docs")
    assert repo.find_root(Path.cwd()) == REPO


def test_the_nearest_directory_with_every_marker_wins(tmp_path: Path) -> None:
    root = _checkout(tmp_path / "checkout")
    deep = root / "a" / "b"
    deep.mkdir(parents=True)
    assert repo.find_root(deep) == root
    assert repo.crds_dir(root) == root / "crds"


def test_no_checkout_says_what_it_looked_for(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")  # one marker is not a checkout
    with pytest.raises(repo.RepoNotFoundError, match=re.escape("crds/modelops.dev_modeldeployments.yaml")):
        repo.find_root(tmp_path)
