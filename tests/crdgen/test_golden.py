"""The committed CRDs (crds/ and the chart's) are exactly what the models generate."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelops.cli.crds_cmd import stale
from modelops.crdgen import render_all

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("directory", ["crds", "charts/modelops-operator/files/crds"])
def test_committed_crds_match_models(directory: str) -> None:
    path = ROOT / directory
    assert stale(path) == [], f"{directory} is out of date: run `make crds`"
    assert sorted(p.name for p in path.glob("*.yaml")) == sorted(render_all()), "unexpected extra files"


def test_generation_is_deterministic() -> None:
    assert render_all() == render_all()
