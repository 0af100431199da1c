"""Every package and top-level module of modelops sits in the import-linter layer contract."""

from __future__ import annotations

import pkgutil
import tomllib
from pathlib import Path

import modelops

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
# the dev/test stack, on its way out of the product package (issue 15): it gets its own contract
OUTSIDE = {"devcluster"}


def _layered() -> list[str]:
    config = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]
    (layers,) = [c["layers"] for c in config["contracts"] if c["type"] == "layers"]
    return [name.strip().removeprefix("modelops.") for layer in layers for name in layer.split("|")]


def test_every_part_of_the_package_is_in_exactly_one_layer() -> None:
    layered = _layered()
    assert len(layered) == len(set(layered)), "a package is in two layers"
    parts = {m.name for m in pkgutil.iter_modules(modelops.__path__) if not m.name.startswith("_")}
    assert set(layered) == parts - OUTSIDE
