"""The phase fixtures (captured from the real stack, tests/fixtures/phases) say what their index says."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "phases"
INDEX: dict[str, dict[str, Any]] = json.loads((FIXTURES / "index.json").read_text())
KSTATUS = {"Ready": "Current", "Reconciling": "InProgress", "Stalled": "Failed"}


def test_every_fixture_is_indexed() -> None:
    assert sorted(INDEX) == sorted(p.name for p in FIXTURES.glob("*.json") if p.name != "index.json")
    phases = {entry["phase"] for entry in INDEX.values() if entry["kind"] == "ModelDeployment"}
    assert {"Available", "Progressing", "Baking", "RolledBack"} <= phases
    assert {"Current", "InProgress", "Failed"} == {entry["kstatus"] for entry in INDEX.values()}


@pytest.mark.parametrize("name", sorted(INDEX))
def test_exactly_one_state_and_the_generation_observed(name: str) -> None:
    obj = json.loads((FIXTURES / name).read_text())
    entry = INDEX[name]
    status = obj["status"]
    assert obj["kind"] == entry["kind"] and status.get("phase") == entry["phase"]
    assert status["observedGeneration"] == obj["metadata"]["generation"]
    three = {c["type"]: c for c in status["conditions"] if c["type"] in KSTATUS}
    assert sorted(three) == sorted(KSTATUS)
    true = [t for t, c in three.items() if c["status"] == "True"]
    assert true == [entry["condition"]] and three[entry["condition"]]["reason"] == entry["reason"]
    assert KSTATUS[entry["condition"]] == entry["kstatus"]
    assert all(c["observedGeneration"] == obj["metadata"]["generation"] for c in three.values())
    assert "managedFields" not in obj["metadata"]
